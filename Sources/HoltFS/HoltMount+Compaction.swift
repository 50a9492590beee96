import HoltEngine

extension HoltMount {
    /// Gives the database's free space back to the file system now, while the mount goes on
    /// serving: `Tree.compact()` (dead bytes squeezed out of blobs, blobs moved toward the front
    /// of the blob file, the free tail cut and free slots punched). `statfs` measures afresh
    /// afterwards, so `df` shows the result at once.
    ///
    /// Blocks the calling thread for as long as the compaction takes; call it from a plain thread
    /// (holtfs's control socket does), never from a FUSE handler.
    ///
    /// - Returns: What the compaction did, with the bytes before and after.
    /// - Throws: `.engine` with the engine's error (`.closed`, `.previousIOFailure`, `.io`).
    public func compact() throws(FSError) -> CompactionReport {
        defer { filesystem.usage.invalidate() }
        do { return try filesystem.tree.compact() } catch { throw .engine(error) }
    }
}
