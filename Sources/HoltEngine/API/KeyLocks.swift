/// Locks on keys for batches applied in parallel: a batch holds every key it changes from
/// before its log record is appended until its last change is in the index, so two batches
/// that share a key are applied in the order of their log records (a replay then leaves the
/// key as the readers saw it), and `BatchVisibility` finds at most one before-image of a key.
///
/// Keys are locked by a 64-bit hash (a collision only makes two batches wait for each other),
/// all of a batch's at once or none (a batch waits until every one is free), so two batches
/// never hold part of each other's keys: no deadlock.
///
/// Locking: `held` is guarded by `monitor`.
final class KeyLocks: @unchecked Sendable {
    // @unchecked Sendable: `held` is touched only under `monitor`.
    private let monitor = Monitor()
    /// The hashes locked now.
    private var held = Set<UInt64>()

    /// Takes every hash of `hashes` (duplicates allowed), waiting until none is held.
    func lock(_ hashes: [UInt64]) {
        monitor.withLock {
            while hashes.contains(where: { held.contains($0) }) { monitor.wait() }
            for hash in hashes { held.insert(hash) }
        }
    }

    /// Lets go of what `lock(hashes)` took.
    func unlock(_ hashes: [UInt64]) {
        monitor.withLock {
            for hash in hashes { held.remove(hash) }
            monitor.broadcast()
        }
    }

    /// The hash a key is locked by (the write buffer's, `BufferKey.hashOf`).
    static func hash(_ key: [UInt8]) -> UInt64 { BufferKey.hashOf(key) }
}
