#if canImport(Glibc)
import Glibc
#endif

/// A value behind a `pthread_mutex_t`: the lock for shared state in the engine and in HoltFS.
///
/// The same `withLock` as `Synchronization.Mutex`, on a pthread mutex instead of the futex the
/// standard library's Mutex waits in on Linux: ThreadSanitizer sees a pthread mutex's
/// synchronisation and not that futex, so with Mutex it reported every contended state as raced
/// and `make tsan` could not tell a real race from those.
///
/// `@unchecked Sendable`: `value` is only touched under `mutex`.
package final class Locked<Value: ~Copyable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Guarded by `mutex`.
    private var value: Value

    /// A lock around `value`.
    package init(_ value: consuming Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value holding the lock; `body` must not take this lock again.
    package func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
