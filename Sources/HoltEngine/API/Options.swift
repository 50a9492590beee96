/// How durable a write is when the call that made it returns.
public enum SyncMode: Sendable, Equatable, Hashable {
    /// Durable before the call returns (group commit shares one `fdatasync` among writers).
    case always
    /// Durable within the given number of milliseconds (a background flush), like ext4's commit interval.
    case periodic(milliseconds: Int)
    /// Never synced by the engine: for benchmarks only; a crash may lose any recent write.
    case none
}

/// Settings for opening a `Tree`.
public struct Options: Sendable, Equatable {
    /// The byte budget of the blob cache. A database larger than this works; it is slower.
    public var cacheBytes: Int
    /// When writes become durable.
    public var sync: SyncMode
    /// Create the database when the directory does not hold one.
    public var createIfMissing: Bool
    /// Take a checkpoint (and trim the log) when the log grows past this many bytes and the
    /// checkpoint would write no more blob bytes than that (dirty blobs), or at the latest when
    /// it grows past twice this. Bounds the log a reopen replays (recovery time) against how
    /// often the whole dirty cache is rewritten (write amplification).
    public var checkpointLogBytes: Int
    /// Seconds after which a quiet tree checkpoints what is still dirty and gives free space back
    /// to the file system (punched holes, a shorter blob file) without being asked.
    public var checkpointIntervalSeconds: Int = 30
    /// The background checkpointer compacts (`Tree.compact()`) on a quiet round when dead node
    /// bytes pass this share of all node bytes (and 1 MiB), or free slots inside the blob file
    /// pass this share of its slots while blobs sit past where the live ones would end.
    public var compactionDeadShare: Double = 0.25
    /// The most bytes of blob copies open snapshots keep in memory (`Tree.snapshot()`); past it,
    /// copies go to a spill file in the database directory (unlinked, gone with the process) and
    /// are read back from there. Nil: a quarter of `cacheBytes`, at least 16 MiB.
    public var snapshotMemoryBytes: Int? = nil

    /// `snapshotMemoryBytes`, or its default.
    var snapshotMemoryLimit: Int { snapshotMemoryBytes ?? max(16 << 20, cacheBytes / 4) }
    /// The change feed's retention bound: the most bytes of log records kept, past what the last
    /// checkpoint needs, for registered consumers (`Tree.registerConsumer`) and open feeds that
    /// have not read them yet. A consumer further behind loses the oldest segments and gets
    /// `HoltError.changesNotHeld` when it reads on. 0 keeps nothing for consumers. The log a
    /// reopen scans grows by up to this much (it reads, but does not replay, the kept records).
    public var changeRetentionBytes: Int = 256 << 20
    /// The most memory (estimated: key and value bytes plus about 192 bytes a key) of the
    /// write buffer: once the tree has outgrown its cache, batches of only puts and deletes of
    /// the default family, and conditions on single keys (checked when the batch comes; not
    /// `.noDescendantLongerThan`), are
    /// logged as always but held in memory instead of applied to the index, and applied in key
    /// order when they pass this bound (a *flush*, run by the writer whose batch crosses it, one
    /// key range of an eighth of it at a time), so each blob is read and written once per flush
    /// rather than once per batch. Gets read the buffer first; scans, `hasKeys` and any other
    /// kind of batch first flush the buffered keys they name, snapshots all of it. The memory comes
    /// out of `cacheBytes`: the blob cache gets the rest. Nil: a quarter of `cacheBytes`,
    /// between 1 MiB and 32 MiB; at most half of `cacheBytes` in any case. 0 turns the buffer
    /// off. A tree that fits its cache never uses it. See docs/DESIGN.md, "A database larger
    /// than its cache".
    public var writeBufferBytes: Int? = nil
    /// Once the blob cache is full, a lookup (`get`, `hasKeys`, `range`) of a blob it does not hold reads
    /// the blob file through a read-only mapping, a 4 KiB page at a time, instead of reading
    /// the whole 512 KiB blob into the cache (and pushing another out): the kernel's page cache
    /// then keeps the pages lookups touch, outside `cacheBytes` and reclaimable. Off: every
    /// read goes through the cache, and the process's memory stays within `cacheBytes`. Only
    /// blobs whose checksum this process checked or wrote are read so. See docs/DESIGN.md,
    /// "Mapped reads".
    public var mappedReads = true
    /// Batches of only puts from several threads are applied at once (each blob still changed
    /// by one of them at a time), instead of one batch after another; readers see each batch
    /// whole as before. Off: every batch waits for the one before it. See docs/DESIGN.md,
    /// "Writers in parallel".
    public var parallelWriters = true
    /// Tests: buffer batches even while the tree fits its cache.
    var writeBufferWhileCacheFits = false

    /// `writeBufferBytes`, or its default, at most half of `cacheBytes`.
    var writeBufferLimit: Int {
        min(cacheBytes / 2, writeBufferBytes ?? min(32 << 20, max(1 << 20, cacheBytes / 4)))
    }
    /// The blob cache's share of `cacheBytes`: what the write buffer leaves.
    var blobCacheBytes: Int { cacheBytes - max(0, writeBufferLimit) }

    /// Options with the defaults: 256 MiB cache, `.always`, create if missing, checkpoint every 64 MiB of log.
    public init(
        cacheBytes: Int = 256 << 20,
        sync: SyncMode = .always,
        createIfMissing: Bool = true,
        checkpointLogBytes: Int = 64 << 20
    ) {
        self.cacheBytes = cacheBytes
        self.sync = sync
        self.createIfMissing = createIfMissing
        self.checkpointLogBytes = checkpointLogBytes
    }
}
