import Synchronization

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
    /// Bytes of dirty blobs in the cache now: what the next checkpoint writes, at least.
    public var dirtyBytes: Int = 0
    /// Batches made durable by the log's `fdatasync`s, summed (over `logSyncs`: the mean group size).
    public var logSyncedRecords: Int = 0
    /// Nanoseconds spent in checkpoints since open (syncing the log, writing blobs, map and
    /// manifest, trimming), and in the last one (0 before the first).
    public var checkpointNanoseconds: UInt64 = 0, lastCheckpointNanoseconds: UInt64 = 0
    /// Batches slowed because the writers outran the checkpointer, and their delays summed
    /// (nanoseconds; see docs/DESIGN.md, "Writers that outrun the checkpointer").
    public var delayedBatches: Int = 0, writeDelayNanoseconds: UInt64 = 0
    /// Batches that waited for a checkpointer's round at the hard bound.
    public var stoppedBatches: Int = 0
    /// `get`s that read under the tree's shared lock instead of beside the batch being applied
    /// (a prefix move in flight, or batches coming and going through every try).
    public var getsUnderLock: Int = 0
    /// `get`s whose optimistic (latch-free) walks kept meeting a writer, read under shared
    /// blob latches instead.
    public var getsUnderLatches: Int = 0
    /// Dirty blobs the background evictor wrote out ahead of need, and those a read or write
    /// that missed the cache had to write out itself (no clean frame was left to take).
    public var blobsCleanedAhead: Int = 0, blobsWrittenByMisses: Int = 0
    /// Snapshots open now (`Tree.snapshot()`), and what they hold: the blob copies kept for them
    /// (each `snapshotShadowBytes / snapshotShadowBlobs` = 512 KiB), freed as they close.
    public var openSnapshots: Int = 0, snapshotShadowBlobs: Int = 0, snapshotShadowBytes: Int = 0
    /// Of `snapshotShadowBlobs`, those in the spill file instead of memory (past
    /// `Options.snapshotMemoryBytes`; `snapshotShadowBytes` counts only those in memory).
    public var snapshotShadowBlobsSpilled: Int = 0
    /// The most bytes of blob copies snapshots held at once since open, and copies made.
    public var snapshotShadowPeakBytes: Int = 0, snapshotShadowsMade: Int = 0
    /// Copies of blobs a checkpoint being written had captured, made by writers about to change
    /// them: the most held at once since open (512 KiB each; bounded to a quarter of the cache,
    /// see docs/DESIGN.md, "Checkpoints in the background"), and the writes that waited because
    /// that many were held.
    public var checkpointCopiesPeak: Int = 0, checkpointCopyWaits: Int = 0
    /// Puts and deletes that went to the write buffer since open (`Options.writeBufferBytes`),
    /// the keys and estimated bytes it holds now, the flushes that applied it to the index, and
    /// the nanoseconds they took, summed.
    public var writeBufferedOps: Int = 0, writeBufferKeys: Int = 0, writeBufferBytes: Int = 0
    public var writeBufferFlushes: Int = 0, writeBufferFlushNanoseconds: UInt64 = 0
    /// The longest flush since open (its writer waited that long; a flush past the bound applies
    /// one key range of the buffer, `Tree.flushWriteBufferStep`), and the checkpoints that left the buffer's
    /// batches in the log instead of flushing it.
    public var writeBufferLongestFlushNanoseconds: UInt64 = 0, checkpointsBesideWriteBuffer: Int = 0
    /// `range` calls that read under the tree's shared lock (their optimistic tries kept meeting
    /// a writer, or the scan spans more blobs than an optimistic one keeps).
    public var rangesUnderLock: Int = 0
    /// Blob reads of lookups that went through the mapped data file instead of the cache
    /// (`Options.mappedReads`).
    public var mappedReads: Int = 0
    /// Batches of puts applied in parallel with others (`Options.parallelWriters`) since open,
    /// and of those, the ones begun while another was being applied.
    public var parallelBatches: Int = 0, parallelBatchesBesideAnother: Int = 0
}

extension Tree {
    /// The tree's counters now.
    /// - Throws: `.closed`.
    public func statistics() throws(HoltError) -> Stats {
        try withOpenState { () throws(HoltError) -> Stats in
            let store = storeStatistics
            let log = logStatistics
            var stats = Stats(
                blobs: store.blobsLive, cacheHits: store.cacheHits, cacheMisses: store.cacheMisses,
                evictions: store.evictions, cachedFrames: store.frames,
                dataBytesRead: store.bytesRead, dataBytesWritten: store.bytesWritten,
                dataFileBytes: store.fileBytes, directIO: store.directIO, ioUring: store.ioUring,
                logRecords: log.records, logBytes: log.bytes, logSyncs: log.syncs,
                largestCommitGroup: log.largestGroup, checkpoints: checkpointCount,
                dirtyBytes: storeDirtyBytes, logSyncedRecords: log.syncedRecords,
                checkpointNanoseconds: checkpointTimes.total.load(ordering: .relaxed),
                lastCheckpointNanoseconds: checkpointTimes.last.load(ordering: .relaxed),
                delayedBatches: throttle.delayedBatches.load(ordering: .relaxed),
                writeDelayNanoseconds: throttle.delayNanoseconds.load(ordering: .relaxed),
                stoppedBatches: throttle.stoppedBatches.load(ordering: .relaxed),
                getsUnderLock: getsUnderLock.load(ordering: .relaxed),
                getsUnderLatches: getsUnderLatches.load(ordering: .relaxed),
                blobsCleanedAhead: store.framesCleanedAhead, blobsWrittenByMisses: store.framesWrittenByMisses)
            stats.mappedReads = store.mappedReads
            let snapshots = snapshotStatistics
            stats.openSnapshots = snapshots.open
            stats.snapshotShadowBlobs = snapshots.shadows
            stats.snapshotShadowBytes = snapshots.bytes
            stats.snapshotShadowBlobsSpilled = snapshots.spilled
            stats.snapshotShadowPeakBytes = snapshots.peakBytes
            stats.snapshotShadowsMade = snapshots.made
            stats.checkpointCopiesPeak = store.checkpointCopiesPeak
            stats.checkpointCopyWaits = store.checkpointCopyWaits
            stats.writeBufferedOps = writeBuffer.bufferedOps.load(ordering: .relaxed)
            stats.writeBufferKeys = writeBuffer.count
            stats.writeBufferBytes = writeBuffer.bytes
            stats.writeBufferFlushes = writeBuffer.flushes.load(ordering: .relaxed)
            stats.writeBufferFlushNanoseconds = writeBuffer.flushNanoseconds.load(ordering: .relaxed)
            stats.writeBufferLongestFlushNanoseconds = writeBuffer.longestFlushNanoseconds.load(ordering: .relaxed)
            stats.checkpointsBesideWriteBuffer = checkpointsBesideWriteBuffer.load(ordering: .relaxed)
            stats.rangesUnderLock = rangesUnderLock.load(ordering: .relaxed)
            (stats.parallelBatches, stats.parallelBatchesBesideAnother) = gate.counts
            return stats
        }
    }
}

/// How long the checkpoints of a tree took (written by the checkpointing thread, read by
/// `statistics()`): two relaxed atomics, so timing a checkpoint costs two clock reads.
final class CheckpointTimes: Sendable {
    /// Nanoseconds of every checkpoint since open, summed.
    let total = Atomic<UInt64>(0)
    /// Nanoseconds of the last checkpoint.
    let last = Atomic<UInt64>(0)

    /// Adds the checkpoint that started at `started` (`Monitor.monotonicNanoseconds()`) and ends now.
    func record(since started: UInt64) {
        let elapsed = Monitor.monotonicNanoseconds() &- started
        total.wrappingAdd(elapsed, ordering: .relaxed)
        last.store(elapsed, ordering: .relaxed)
    }
}
