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
        try lock.withReadLock { () throws(HoltError) -> Snapshot in
            guard !isClosed else { throw .closed }
            let epoch = try store.shadows.begin()
            do throws(HoltError) {
                return try Snapshot(store: store, epoch: epoch, lsn: lastAppliedLSN, root: snapshotRoot)
            } catch {
                store.shadows.end(epoch)
                throw error
            }
        }
    }

    /// The roots a snapshot captures: the one place that says which. Today the default
    /// family's tree only: a `Snapshot` reads the default family. The other column families'
    /// roots (`families`, `FamilyRoots`) are not captured yet (a snapshot of them needs a
    /// per-family read API on `Snapshot`); their blobs are shadowed like any other, so adding
    /// them here is enough for consistency. Call holding `lock` or `writer`.
    var snapshotRoot: BlobID { index.root }

    /// What the open snapshots hold now (`Stats.openSnapshots` and the shadows).
    var snapshotStatistics: BlobShadows.Statistics { store.shadows.statistics }
}
