/// Counters of an open tree since it was opened: the blob cache, the data file and the log.
public struct Stats: Sendable, Equatable {
    /// Blobs the tree uses.
    public var blobs: Int
    /// Blob reads answered from the cache.
    public var cacheHits: Int
    /// Blob reads that went to the data file.
    public var cacheMisses: Int
    /// Clean frames dropped to stay within `Options.cacheBytes`.
    public var evictions: Int
    /// Frames in the cache.
    public var cachedFrames: Int
    /// Bytes read from and written to the data file.
    public var dataBytesRead: Int, dataBytesWritten: Int
    /// The size of the data file.
    public var dataFileBytes: Int
    /// Whether the data file is written with `O_DIRECT`, and batches with `io_uring`.
    public var directIO: Bool, ioUring: Bool
    /// Batches logged, log bytes written, and `fdatasync`s of the log.
    public var logRecords: Int, logBytes: Int, logSyncs: Int
    /// The most batches one log flush made durable (group commit).
    public var largestCommitGroup: Int
    /// Checkpoints taken.
    public var checkpoints: Int
}

extension Tree {
    /// The tree's counters now.
    /// - Throws: `.closed`.
    public func statistics() throws(HoltError) -> Stats {
        try withOpenState { () throws(HoltError) -> Stats in
            let store = storeStatistics
            let log = logStatistics
            return Stats(
                blobs: store.blobsLive, cacheHits: store.cacheHits, cacheMisses: store.cacheMisses,
                evictions: store.evictions, cachedFrames: store.frames,
                dataBytesRead: store.bytesRead, dataBytesWritten: store.bytesWritten,
                dataFileBytes: store.fileBytes, directIO: store.directIO, ioUring: store.ioUring,
                logRecords: log.records, logBytes: log.bytes, logSyncs: log.syncs,
                largestCommitGroup: log.largestGroup, checkpoints: checkpointCount)
        }
    }
}
