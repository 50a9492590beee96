// Linux constants and calls that Swift's Glibc overlay does not show, and liburing behind
// non-inline wrappers (liburing's header is mostly static inline functions).
#ifndef HOLT_CURING_H
#define HOLT_CURING_H
#include <stddef.h>
#include <stdint.h>

/// The O_DIRECT open flag.
int curing_o_direct(void);

/// CRC32C (Castagnoli) of `length` bytes at `data`, continuing from `crc` (start with 0).
/// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
uint32_t curing_crc32c(uint32_t crc, const void *data, size_t length);

#endif
