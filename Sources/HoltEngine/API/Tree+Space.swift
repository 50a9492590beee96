extension Tree {
    /// How the database's space on disk is used now (see `SpaceStatistics`).
    ///
    /// Cheap: the live and dead bytes of each blob are kept in the blob map (counted when the
    /// blob was last written) and read from the cache for blobs changed since.
    /// - Throws: `.closed`, `.io` when a file cannot be examined.
    public func spaceStatistics() throws(HoltError) -> SpaceStatistics {
        try withOpenState { () throws(HoltError) -> SpaceStatistics in
            var space = try store.spaceUsage()
            space.logBytes = log.allocatedBytes
            return space
        }
    }

    /// Gives the database's free space back to the file system now, while reads and writes go
    /// on: squeezes the dead bytes out of blobs that have many, moves the blobs at the end of
    /// the blob file into free slots nearer its front, checkpoints, then cuts the free tail off
    /// the file and punches holes where free slots are. The engine does the same by itself in
    /// the background (see `Options.compactionDeadShare`).
    ///
    /// - Returns: What it did and the bytes before and after.
    /// - Throws: `.closed`, `.previousIOFailure`, `.io` (as `checkpoint()`).
    public func compact() throws(HoltError) -> CompactionReport {
        let before = try spaceStatistics()
        try checkpoint()
        try store.reclaimFreeSlots()
        let after = try spaceStatistics()
        return CompactionReport(
            bytesBefore: before.databaseBytes, bytesAfter: after.databaseBytes,
            fileBytesBefore: before.fileBytes, fileBytesAfter: after.fileBytes, blobsCompacted: 0, blobsMoved: 0)
    }
}
