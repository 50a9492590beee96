#if canImport(Glibc)
import Glibc
#endif

/// A mutex with a condition variable: the buffer manager's page-table lock, on which threads
/// wait for a frame another thread is loading or writing.
///
/// `Synchronization.Mutex` has no condition variable, hence pthreads. `@unchecked Sendable`:
/// pthread_mutex/pthread_cond are themselves the synchronisation; the pointers never change.
final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the lock. `body` may call `wait()`.
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Releases the lock until `broadcast()` (or a spurious wake-up), then takes it again.
    /// Call only inside `withLock`, and re-check the condition after it returns.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes every thread in `wait()`. Call holding the lock.
    func broadcast() { pthread_cond_broadcast(condition) }
}
