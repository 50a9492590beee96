#if canImport(Glibc)
import Glibc
#endif

/// A mutex with a condition variable: the buffer manager's page-table lock (threads wait on it
/// for a frame another thread is loading or writing) and the log's lock (group commit waits on it).
///
/// `Synchronization.Mutex` has no condition variable, and the waiters are plain threads (FUSE
/// threads, test threads), never Swift tasks, hence pthreads. The condition uses
/// `CLOCK_MONOTONIC`, so a timed wait is immune to clock changes.
///
/// `@unchecked Sendable`: pthread_mutex/pthread_cond are themselves the synchronisation; the
/// pointers are set once in `init` and freed in `deinit`, when no thread can hold the monitor.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        // Adaptive: a contended lock spins a little before it sleeps. Its holders keep it for
        // a table lookup or a counter (a pin), far less than a futex sleep and wake-up; a
        // reader that slept on a shard's lock beside a writer was what set its p99.9.
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        pthread_mutexattr_settype(&mutexAttributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &mutexAttributes)
        pthread_mutexattr_destroy(&mutexAttributes)
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

    /// Takes the lock (pair with `unlock()`; prefer `withLock`).
    func lock() { pthread_mutex_lock(mutex) }

    /// Takes the lock when it is free; whether it did (pair a true with `unlock()`).
    func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

    /// Releases the lock.
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` holding the lock. `body` may call `wait()`.
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Releases the lock until `broadcast()` (or a spurious wake-up), then takes it again.
    /// Call only holding the lock, and re-check the condition after it returns.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Like `wait()`, but returns by `deadline` (nanoseconds of `monotonicNanoseconds()`) at the latest.
    func wait(until deadline: UInt64) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &time)
    }

    /// Wakes every thread in `wait()`. Call holding the lock.
    func broadcast() { pthread_cond_broadcast(condition) }

    /// Nanoseconds of `CLOCK_MONOTONIC`.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Sleeps the calling thread for `nanoseconds` (`nanosleep`, resumed after a signal).
    static func sleep(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0, errno == EINTR { request = remaining }
    }
}
