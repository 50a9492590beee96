#if canImport(Glibc)
import Glibc
#endif

/// A reader-writer lock: many readers or one writer (a `pthread_rwlock_t` that prefers writers).
///
/// A class so the lock has a stable address; `@unchecked Sendable` because pthread_rwlock is
/// itself the synchronisation. Package-visible: HoltFS's namespace lock is one too.
package final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>
    /// What a debug build's re-entry trap says is wrong (see "Re-entry check" below).
    private let reentryMessage: String

    /// A lock; `reentryMessage` is the trap's text when a thread takes it twice (debug builds).
    /// How many times a contended lock is tried again before the thread sleeps in the kernel
    /// (0: sleep at once). Blob latches are held for microseconds, less than a sleep and a
    /// wake-up cost; the tree's lock may be held for a whole scan.
    private let spins: Int

    package init(
        reentryMessage: String = "the tree's lock is taken again on a thread that holds it: a Tree.forEach body must not call the tree",
        spins: Int = 0
    ) {
        self.reentryMessage = reentryMessage
        self.spins = spins
        lock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        // Writers first: a steady stream of readers (FUSE lookups) must not starve a writer.
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared.
    package func withReadLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let held = enter()
        if !spin({ pthread_rwlock_tryrdlock(lock) == 0 }) { pthread_rwlock_rdlock(lock) }
        defer {
            pthread_rwlock_unlock(lock)
            leave(held)
        }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    package func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let held = enter()
        if !spin({ pthread_rwlock_trywrlock(lock) == 0 }) { pthread_rwlock_wrlock(lock) }
        defer {
            pthread_rwlock_unlock(lock)
            leave(held)
        }
        return try body()
    }

    /// Takes the lock shared until `unlockShared()`, for holders that cannot use a closure (a
    /// walk that lets go of one blob after taking the next). Not checked for re-entry: the
    /// caller never takes it twice.
    package func lockShared() {
        if !spin({ pthread_rwlock_tryrdlock(lock) == 0 }) { pthread_rwlock_rdlock(lock) }
    }

    /// Lets go of a `lockShared()`.
    package func unlockShared() {
        pthread_rwlock_unlock(lock)
    }

    /// Tries `attempt` up to `spins` times (backing off a little more each time); whether it
    /// succeeded.
    @inline(__always)
    private func spin(_ attempt: () -> Bool) -> Bool {
        var tries = 0
        while tries < spins {
            if attempt() { return true }
            tries += 1
            if tries % 16 == 0 { sched_yield() }
        }
        return false
    }

    // MARK: Re-entry check (debug builds)
    //
    // Taking the lock again on a thread that holds it deadlocks: a write under a read at once,
    // a read under a read as soon as a writer waits (the lock prefers writers). The one way to
    // do it by mistake is to call the tree from the body of `Tree.forEach`, so debug builds keep
    // a per-thread list of the locks held and trap with a message instead of hanging.

    #if DEBUG
    /// One lock a thread holds: a node of the per-thread list.
    private final class Held {
        let lock: ObjectIdentifier
        let next: Held?
        init(_ lock: ObjectIdentifier, next: Held?) {
            self.lock = lock
            self.next = next
        }
    }

    /// The thread-specific key of the list of held locks.
    private static let heldKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The locks the calling thread holds, newest first.
    private static var heldByThread: Held? {
        get { pthread_getspecific(heldKey).map { Unmanaged<Held>.fromOpaque($0).takeUnretainedValue() } }
        set { pthread_setspecific(heldKey, newValue.map { Unmanaged.passUnretained($0).toOpaque() }) }
    }

    /// Traps if the calling thread holds this lock already; records that it takes it.
    private func enter() -> Held {
        var held = Self.heldByThread
        while let h = held {
            precondition(h.lock != ObjectIdentifier(self), reentryMessage)
            held = h.next
        }
        let node = Held(ObjectIdentifier(self), next: Self.heldByThread)
        Self.heldByThread = node
        return node
    }

    /// Whether the calling thread holds this lock (shared or exclusive); for assertions.
    package var isHeldByCurrentThread: Bool {
        var held = Self.heldByThread
        while let h = held {
            if h.lock == ObjectIdentifier(self) { return true }
            held = h.next
        }
        return false
    }

    /// Records that the calling thread let the lock go (`held` is what `enter` returned).
    private func leave(_ held: Held) {
        withExtendedLifetime(held) { Self.heldByThread = held.next }
    }
    #else
    /// Release builds keep no record of who holds the lock: assertions are off there anyway.
    package var isHeldByCurrentThread: Bool { true }
    @inline(__always) private func enter() {}
    @inline(__always) private func leave(_: Void) {}
    #endif
}
