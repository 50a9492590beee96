#define _GNU_SOURCE
#include <fcntl.h>
#include "CURing.h"

int curing_o_direct(void) { return O_DIRECT; }
