// Linux constants and calls that Swift's Glibc overlay does not show, and liburing behind
// non-inline wrappers (liburing's header is mostly static inline functions).
#ifndef HOLT_CURING_H
#define HOLT_CURING_H
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>

/// The O_DIRECT open flag.
int curing_o_direct(void);

/// Sets the nice value of the calling thread (Linux schedules threads, not processes): 0 or the errno.
int holt_set_thread_nice(int nice);

/// The CPU the calling thread runs on (`sched_getcpu`; a read of the thread's rseq area on
/// glibc 2.35 and later), 0 when unknown: to pick a per-CPU counter stripe.
int holt_current_cpu(void);

/// `fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)`: 0, or the errno.
int curing_punch_hole(int fd, int64_t offset, int64_t length);

/// Atomically ORs `bits` into `*word` (release): for bit sets written by one thread and read by
/// others without a lock (the engine's batch filter).
static inline void holt_atomic_or_u64(uint64_t *word, uint64_t bits) { __atomic_fetch_or(word, bits, __ATOMIC_RELEASE); }

/// Atomically adds `value` to `*word` (relaxed): for counters that order nothing.
static inline void holt_atomic_add_relaxed_u64(uint64_t *word, uint64_t value) { __atomic_fetch_add(word, value, __ATOMIC_RELAXED); }

/// Atomically loads `*word` (acquire).
static inline uint64_t holt_atomic_load_u64(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }

/// Atomically stores `value` into `*word` (release): for tables written under a lock and read
/// without one (the buffer manager's frame directory).
static inline void holt_atomic_store_u64(uint64_t *word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

/// A spin-wait hint to the CPU (`pause` on x86), for loops that wait a few hundred nanoseconds.
static inline void holt_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// ThreadSanitizer's annotations, weak so that they are no-ops in builds without it.
void __tsan_ignore_thread_begin(void) __attribute__((weak));
void __tsan_ignore_thread_end(void) __attribute__((weak));

/// Until `holt_tsan_ignore_end`, ThreadSanitizer ignores the calling thread's plain reads and
/// writes: for an optimistic read of a blob, which may race with a writer by design and is
/// thrown away unless the blob's version proves no writer ran (see BlobLatch.swift).
static inline void holt_tsan_ignore_begin(void) { if (__tsan_ignore_thread_begin) __tsan_ignore_thread_begin(); }

/// Ends `holt_tsan_ignore_begin`.
static inline void holt_tsan_ignore_end(void) { if (__tsan_ignore_thread_end) __tsan_ignore_thread_end(); }

/// CRC32C (Castagnoli) of `length` bytes at `data`, continuing from `crc` (start with 0).
/// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
uint32_t curing_crc32c(uint32_t crc, const void *data, size_t length);

/// An io_uring instance (opaque). Used by one thread at a time.
struct curing_ring;

/// A ring with `entries` submission slots, or NULL with `*error` set to the errno
/// (ENOSYS, EPERM when the kernel or a sandbox refuses io_uring, ENOMEM).
struct curing_ring *curing_ring_create(unsigned entries, int *error);

/// Tears the ring down and frees it (NULL is allowed).
void curing_ring_destroy(struct curing_ring *ring);

/// Submits `count` reads (`write` == 0) or writes, `lengths[i]` bytes of buffer `buffers[i]` at
/// file offset `offsets[i]`, and waits for every one. `results[i]` receives the byte count or a
/// negative errno of operation i. Returns 0, or a negative errno when the ring itself failed (then
/// some results may be unset, and the ring must not be used again). EINTR is retried here.
int curing_ring_batch(struct curing_ring *ring, int fd, int write, void *const *buffers,
                      const uint64_t *offsets, const uint32_t *lengths, uint32_t count, int32_t *results);


/// Bytes malloc has handed out and not taken back (tests check memory estimates against it).
static inline size_t holt_malloc_bytes_in_use(void) { return mallinfo2().uordblks; }

#endif
