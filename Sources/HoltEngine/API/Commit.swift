/// A batch that `Tree.applyDeferringDurability(_:)` applied: readers see it; it may not be durable
/// yet. Hand it to `Tree.waitUntilDurable(_:)`.
public struct Commit: Sendable, Equatable {
    /// The batch's log sequence number; nil when the batch changed nothing (nothing to wait for).
    let lsn: UInt64?
}
