#if canImport(Glibc)
import Glibc
#endif

/// A mutex with one condition variable (a monitor): what group commit waits on.
///
/// `Synchronization.Mutex` has no condition variable, and waiters here are plain threads (FUSE
/// threads, test threads), never Swift tasks, so a pthread mutex and condition are the right
/// tools. The condition uses `CLOCK_MONOTONIC` so a timed wait is immune to clock changes.
///
/// `@unchecked Sendable`: the pthread objects exist to be shared between threads; the pointers
/// are set once in `init` and freed in `deinit`, when no thread can hold the monitor.
final class JournalMonitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Takes the mutex.
    func lock() { pthread_mutex_lock(mutex) }

    /// Releases the mutex.
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the mutex.
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Releases the mutex, sleeps until `broadcast()` (or a spurious wake-up), takes it again.
    /// Call with the mutex held, in a loop that re-checks its condition.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Like `wait()`, but returns by `deadline` (nanoseconds of `monotonicNanoseconds()`) at the latest.
    func wait(until deadline: UInt64) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &time)
    }

    /// Wakes every waiter.
    func broadcast() { pthread_cond_broadcast(condition) }

    /// Nanoseconds of `CLOCK_MONOTONIC`.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
