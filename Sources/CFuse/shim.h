// The one place FUSE_USE_VERSION is set: libfuse3's low-level API at 3.12.
#ifndef HOLT_CFUSE_SHIM_H
#define HOLT_CFUSE_SHIM_H
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#endif
