import HoltEngine

extension HoltMount {
    /// A read-only view of the mounted filesystem's tree as of the last committed batch
    /// (`Tree.snapshot()`), for `holtfs dump MNT` and `holtfs check MNT`, which read one
    /// consistent state while the mount goes on serving. Every FUSE operation that changes the
    /// namespace is one batch, so the snapshot never holds half of one (a rename without its
    /// parents' times, a link without its nlink).
    ///
    /// Close it (`Snapshot.close()`) as soon as it is read: while it is open, the first change
    /// of each blob keeps a 512 KiB copy of it (`holtfs stats` shows them).
    ///
    /// - Returns: The snapshot; the caller owns it. It does not survive the unmount (reads throw
    ///   `.closed` once the tree is closed).
    /// - Throws: `.engine(.closed)` after the unmount.
    public func snapshot() throws(FSError) -> Snapshot {
        do { return try filesystem.tree.snapshot() } catch { throw .engine(error) }
    }
}
