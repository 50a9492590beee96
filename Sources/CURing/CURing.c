#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string.h>
#include "CURing.h"

int curing_o_direct(void) { return O_DIRECT; }

int holt_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) == 0 ? 0 : errno;
}

int holt_current_cpu(void) {
    int cpu = sched_getcpu();
    return cpu < 0 ? 0 : cpu;
}

int curing_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) == 0 ? 0 : errno;
}

// MARK: CRC32C

static uint32_t crc32c_table[256];
static int crc32c_table_ready;

static void crc32c_make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
    crc32c_table_ready = 1;
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, size_t n) {
    if (!crc32c_table_ready) crc32c_make_table();
    while (n--) crc = crc32c_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <pthread.h>

// The instruction's latency is three cycles and it issues one a cycle: three lanes of
// CRC32C_LANE bytes run interleaved, then are joined. A lane's register after LANE more bytes
// is the register shifted over LANE zero bytes (a linear map, its 32 columns below) xor what
// the bytes give from zero.
#define CRC32C_LANE 8192
static uint32_t crc32c_lane_shift[32];
static pthread_once_t crc32c_lane_shift_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2")))
static void crc32c_make_lane_shift(void) {
    for (int i = 0; i < 32; i++) {
        uint64_t c = (uint64_t)1 << i;
        for (int k = 0; k < CRC32C_LANE; k += 8) c = __builtin_ia32_crc32di(c, 0);
        crc32c_lane_shift[i] = (uint32_t)c;
    }
}

// The register `c` after CRC32C_LANE zero bytes.
static uint32_t crc32c_shift_lane(uint32_t c) {
    uint32_t shifted = 0;
    for (int i = 0; c != 0; i++, c >>= 1) {
        if (c & 1) shifted ^= crc32c_lane_shift[i];
    }
    return shifted;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    if (n >= 3 * CRC32C_LANE) {
        pthread_once(&crc32c_lane_shift_once, crc32c_make_lane_shift);
        while (n >= 3 * CRC32C_LANE) {
            uint64_t a = c, b = 0, d = 0;
            for (size_t i = 0; i < CRC32C_LANE; i += 8) {
                uint64_t wa, wb, wd;
                memcpy(&wa, p + i, 8);
                memcpy(&wb, p + CRC32C_LANE + i, 8);
                memcpy(&wd, p + 2 * CRC32C_LANE + i, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                d = __builtin_ia32_crc32di(d, wd);
            }
            c = crc32c_shift_lane((uint32_t)a) ^ (uint32_t)b;
            c = crc32c_shift_lane((uint32_t)c) ^ (uint32_t)d;
            p += 3 * CRC32C_LANE;
            n -= 3 * CRC32C_LANE;
        }
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8; n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t curing_crc32c(uint32_t crc, const void *data, size_t length) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hardware(crc, data, length);
#endif
    return ~crc32c_software(crc, data, length);
}

// MARK: io_uring

#include <errno.h>
#include <stdlib.h>
#include <liburing.h>

struct curing_ring {
    struct io_uring ring;
    unsigned entries;
};

struct curing_ring *curing_ring_create(unsigned entries, int *error) {
    struct curing_ring *r = calloc(1, sizeof *r);
    if (!r) { *error = ENOMEM; return NULL; }
    int result = io_uring_queue_init(entries, &r->ring, 0);
    if (result < 0) { *error = -result; free(r); return NULL; }
    r->entries = entries;
    *error = 0;
    return r;
}

void curing_ring_destroy(struct curing_ring *r) {
    if (!r) return;
    io_uring_queue_exit(&r->ring);
    free(r);
}

int curing_ring_batch(struct curing_ring *r, int fd, int write, void *const *buffers,
                      const uint64_t *offsets, const uint32_t *lengths, uint32_t count, int32_t *results) {
    uint32_t next = 0, done = 0, inflight = 0;
    while (done < count) {
        // Queue as many as the ring takes.
        while (next < count && inflight < r->entries) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
            if (!sqe) break;
            if (write) io_uring_prep_write(sqe, fd, buffers[next], lengths[next], offsets[next]);
            else io_uring_prep_read(sqe, fd, buffers[next], lengths[next], offsets[next]);
            io_uring_sqe_set_data64(sqe, next);
            next++; inflight++;
        }
        int submitted;
        do { submitted = io_uring_submit_and_wait(&r->ring, 1); } while (submitted == -EINTR);
        if (submitted < 0) return submitted;
        // Reap at least one completion, then every one that is ready.
        struct io_uring_cqe *cqe;
        int waited;
        do { waited = io_uring_wait_cqe(&r->ring, &cqe); } while (waited == -EINTR);
        if (waited < 0) return waited;
        do {
            uint64_t index = io_uring_cqe_get_data64(cqe);
            if (index < count) results[index] = cqe->res;
            io_uring_cqe_seen(&r->ring, cqe);
            done++; inflight--;
        } while (io_uring_peek_cqe(&r->ring, &cqe) == 0);
    }
    return 0;
}
