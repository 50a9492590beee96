extension Tree {
    /// A read-only view of the tree as of the last batch applied (see `Snapshot`).
    ///
    /// Taken holding the tree's shared lock for microseconds (it waits for the index changes
    /// of the batch in flight, as `range` does): no batch is half applied in it. Every batch
    /// applied before the call is in it, none applied after; a batch whose `apply` has not
    /// returned yet may be in it (it is visible to `get` already), even before it is durable.
    /// Like `range`, it must not be called from a `forEach` body of this tree (the shared lock
    /// prefers writers); from a snapshot's `forEach` body it may.
    ///
    /// - Returns: The snapshot; close it (`Snapshot.close()`) or drop it when done.
    /// - Throws: `.closed`.
    public func snapshot() throws(HoltError) -> Snapshot {
        // Every batch committed before the call is in the index (the write buffer flushed);
        // one buffered after it is not, and the snapshot's LSN says so (`lastAppliedLSN`).
        try flushIfBuffered()
        return try withSharedLock { () throws(HoltError) -> Snapshot in
            guard !isClosed else { throw .closed }
            let epoch = try store.shadows.begin()
            do throws(HoltError) {
                return try Snapshot(store: store, epoch: epoch, lsn: lastAppliedLSN, roots: snapshotRoots)
            } catch {
                store.shadows.end(epoch)
                throw error
            }
        }
    }

    /// The roots a snapshot captures: the default family's and every other column family's
    /// (stable under `lock`: roots never change after creation, and creations and drops hold
    /// `lock` exclusively). A family dropped while the snapshot is open keeps its blobs' copies
    /// (its frees go through the shadows like any change).
    struct SnapshotRoots {
        /// The default family's root blob.
        let `default`: BlobID
        /// The other families' root blobs.
        let families: [(FamilyID, BlobID)]
    }

    /// The roots a snapshot captures: the one place that says which. Call holding `lock`.
    var snapshotRoots: SnapshotRoots {
        SnapshotRoots(default: index.root, families: families.withLock { $0.members.values.map { ($0.id, $0.index.root) } })
    }

    /// What the open snapshots hold now (`Stats.openSnapshots` and the shadows).
    var snapshotStatistics: BlobShadows.Statistics { store.shadows.statistics }
}
