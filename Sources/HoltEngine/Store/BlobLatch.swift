import CURing
import Synchronization

/// A cached blob's latch, in LeanStore's three modes: *exclusive* for a writer changing the
/// bytes, *shared* for a reader that must not be overtaken, and *optimistic* for a reader that
/// takes nothing and checks afterwards, by the latch's version, that no writer ran meanwhile.
///
/// The version is even while nobody changes the bytes and odd while a writer does: the writer
/// makes it odd after taking the exclusive lock and even again (one more) before letting go. An
/// optimistic reader notes an even version, reads, and keeps what it read only if the version
/// is still the same (a sequence lock). What it reads meanwhile may be torn; the code that reads
/// blobs checks every offset it follows against the blob's bounds (it survives damaged bytes), so
/// a torn read costs a retry, never a wild access. ThreadSanitizer is told to ignore those reads
/// (`holt_tsan_ignore_begin`): they race by design and are never used unchecked.
///
/// Locking: `lock` is a pthread reader-writer lock (writers first); `version` and `address` are
/// atomic and changed only by the holder of `lock` in exclusive mode.
final class BlobLatch: @unchecked Sendable {
    // @unchecked Sendable: every field is a synchronisation primitive or an atomic.
    private let lock: ReadWriteLock
    private let version = Atomic<UInt64>(0)
    /// The address of the frame bytes the latch guards (0 for a latch of no frame). Changed only
    /// under the exclusive latch (`replaceBytes`), so read it after taking the latch shared, or,
    /// optimistically, after `optimisticVersion()` (a reader that saw the old address then fails
    /// its `isUnchanged` check).
    private let address: Atomic<UInt>

    /// The frame bytes the latch guards (nil for a latch of no frame): what a reader that found
    /// the latch in the `FrameDirectory` reads. Load it once per hold, after the latch is taken
    /// (shared) or its version noted (optimistic), and use that pointer for the whole hold.
    @inline(__always)
    var bytes: UnsafeMutableRawPointer? {
        // Acquiring: pairs with `replaceBytes`' releasing store (the new bytes were written first).
        UnsafeMutableRawPointer(bitPattern: address.load(ordering: .acquiring))
    }
    /// Set by lock-free readers that used the frame since the buffer manager's CLOCK hand last
    /// passed (which clears it): their share of the frame's second chance. Relaxed.
    private let touched = Atomic<Bool>(false)

    /// A free latch guarding `bytes`.
    init(guarding bytes: UnsafeMutableRawPointer? = nil) {
        lock = ReadWriteLock(reentryMessage: "a blob's latch is taken again on a thread that holds it", spins: 64)
        address = Atomic(UInt(bitPattern: bytes))
    }

    /// Makes the latch guard `bytes` instead of its current bytes (`BufferManager.writeAside`:
    /// a blob changed on a copy is swapped in, not copied back). Call inside `withExclusive`:
    /// the version is odd meanwhile, so an optimistic reader that saw the old bytes fails its
    /// check, and no shared holder reads them. The old bytes must stay mapped (a reader that
    /// noted the old address may still read them until its check).
    func replaceBytes(with bytes: UnsafeMutableRawPointer) {
        address.store(UInt(bitPattern: bytes), ordering: .releasing)
    }

    /// Moves the version on while nobody holds the latch: an optimistic reader that noted the
    /// version before fails its check. Called when the frame stops holding its blob (see
    /// `FrameDirectory`), before other bytes go in.
    func invalidateOptimisticReads() {
        version.wrappingAdd(2, ordering: .acquiringAndReleasing)
    }

    /// Notes a lock-free use of the frame (written only when not set yet: readers do not fight
    /// over the cache line).
    @inline(__always)
    func touch() {
        if !touched.load(ordering: .relaxed) { touched.store(true, ordering: .relaxed) }
    }

    /// Whether the frame was used lock-free since the last call; clears the mark.
    func takeTouch() -> Bool {
        touched.load(ordering: .relaxed) && touched.exchange(false, ordering: .relaxed)
    }

    /// Runs `body` holding the latch shared.
    func withShared<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try lock.withReadLock(body)
    }

    /// Runs `body` holding the latch exclusively; optimistic readers meanwhile fail their check.
    func withExclusive<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try lock.withWriteLock { () throws(E) -> R in
            version.wrappingAdd(1, ordering: .acquiringAndReleasing)
            defer { version.wrappingAdd(1, ordering: .releasing) }
            return try body()
        }
    }

    /// Takes the latch shared until `unlockShared()` (a walk that takes the next blob before it
    /// lets go of this one).
    func lockShared() { lock.lockShared() }

    /// Lets go of `lockShared()`.
    func unlockShared() { lock.unlockShared() }

    /// How many times `optimisticVersion` looks again at a latch held by a writer before it
    /// gives up (a few microseconds: one index operation of a writer usually ends within them).
    static let optimisticSpins = 512

    /// The version to check an optimistic read against, or nil when a writer kept the bytes
    /// changing through `optimisticSpins` looks.
    @inline(__always)
    func optimisticVersion() -> UInt64? {
        for _ in 0..<Self.optimisticSpins {
            let seen = version.load(ordering: .acquiring)
            if seen & 1 == 0 { return seen }
            holt_cpu_relax()
        }
        return nil
    }

    /// Whether no writer changed the bytes since `optimisticVersion()` returned `seen`. Call
    /// after the reads it vouches for.
    @inline(__always)
    func isUnchanged(since seen: UInt64) -> Bool {
        atomicMemoryFence(ordering: .acquiring)
        return version.load(ordering: .relaxed) == seen
    }
}
