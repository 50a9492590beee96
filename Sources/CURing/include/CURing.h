// Linux constants and calls that Swift's Glibc overlay does not show, and liburing behind
// non-inline wrappers (liburing's header is mostly static inline functions).
#ifndef HOLT_CURING_H
#define HOLT_CURING_H
#include <stdint.h>

/// The O_DIRECT open flag.
int curing_o_direct(void);

#endif
