import CURing

/// What lets several writers change one ART at once (`ARTIndex.putInParallel`): a lock per
/// blob (striped by id) that a writer holds from the moment it checks where its insert goes
/// until the insert is done, and one lock for every change of more than one blob (a split, a
/// compaction), taken before any blob's lock.
///
/// A blob's bytes change only under its lock (and, for readers, under its latch's exclusive
/// mode), so an insert that found its node and then holds the blob's lock with the blob's
/// version unchanged changes the node it found. Lock order: `structure`, then blob locks in
/// stripe order; an insert holds one blob lock and never takes `structure` while holding it.
///
/// Locking: each stripe is a pthread mutex (`Monitor`); `counters` of the index, beside
/// parallel writers, only under `structure`.
final class BlobWriteLocks: Sendable {
    /// Taken for any change of more than one blob by a parallel writer.
    let structure = Monitor()
    private let stripes: [Monitor]

    /// `stripeCount` locks (a power of two).
    init(stripeCount: Int = 256) {
        precondition(stripeCount > 0 && stripeCount & (stripeCount - 1) == 0)
        stripes = (0..<stripeCount).map { _ in Monitor() }
    }

    /// The stripe of blob `id`.
    private func stripe(_ id: BlobID) -> Int {
        Int(truncatingIfNeeded: (id.rawValue &* 0x9E37_79B9_7F4A_7C15) >> 40) & (stripes.count - 1)
    }

    /// Locks blob `id`; returns what `unlock` takes.
    func lock(_ id: BlobID) -> Int {
        let s = stripe(id)
        lock(stripe: s)
        return s
    }

    /// How many times a taken stripe is tried again before the thread sleeps on it: an insert
    /// holds it about a microsecond, less than a futex sleep and wake-up (two writers filling
    /// new directories both insert into the root blob most of the time).
    static var spins: Int { 128 }

    private func lock(stripe s: Int) {
        for _ in 0..<Self.spins {
            if stripes[s].tryLock() { return }
            holt_cpu_relax()
        }
        stripes[s].lock()
    }

    /// Locks blobs `a` and `b` (one may be nil) in stripe order; returns what `unlock` takes.
    func lock(_ a: BlobID, _ b: BlobID?) -> [Int] {
        var taken = [stripe(a)]
        if let b, stripe(b) != taken[0] { taken.append(stripe(b)) }
        taken.sort()
        for s in taken { lock(stripe: s) }
        return taken
    }

    /// Lets go of a `lock(_:)`.
    func unlock(_ taken: Int) { stripes[taken].unlock() }

    /// Lets go of a `lock(_:_:)`.
    func unlock(_ taken: [Int]) {
        for s in taken.reversed() { stripes[s].unlock() }
    }
}
