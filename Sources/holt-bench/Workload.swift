/// The engine workloads, by the names the results use, in the order they run.
enum Workload: String, CaseIterable, Sendable {
    /// All N keys in random order, in unsynced batches of 1,000.
    case put
    /// N random existing keys.
    case get
    /// Random existing keys from two reader threads at once, for a fixed time.
    case getTwoThreads = "get-2-threads"
    /// N/10 absent keys in existing directories.
    case getMiss = "get-miss"
    /// Every direct child of the thousand-child directories, delimiter `/`; one op per listing.
    case list
    /// A full ordered scan; one op per key.
    case scan
    /// Moving the directory with 100,000 descendants (and back).
    case renamePrefix = "rename-prefix"
    /// Moving the directory with one descendant (and back).
    case renamePrefixOne = "rename-prefix-1"
    /// Durable single puts from several threads at once.
    case durablePut = "durable-put"
    /// One reader thread of random existing keys for a fixed time: the baseline of `read-with-writer`.
    case readAlone = "read-alone"
    /// The `read-alone` reader while one writer thread inserts new keys in unsynced batches of
    /// 100; the reader's figures are the result, the writer's rate goes in `extra`.
    case readWithWriter = "read-with-writer"
    /// One writer thread inserting new keys in unsynced batches of 100 for a fixed time: the
    /// baseline of `put-2-threads`.
    case putOneThread = "put-1-thread"
    /// Two writer threads inserting new keys in disjoint directories, unsynced batches of 100.
    case putTwoThreads = "put-2-threads"
    /// One reader thread of random gets of the keys that stay, while one deleter thread deletes
    /// the other share of the loaded keys in unsynced batches: the baseline of
    /// `read-with-compaction`. The reader's figures are the result, the deleter's go in `extra`.
    case readWithDeleter = "read-with-deleter"
    /// The `read-with-deleter` reader and deleter, the deleter also compacting the whole store
    /// (holt `compact()`, RocksDB `CompactRange`) after every `compactEvery` deletions and once at
    /// the end.
    case readWithCompaction = "read-with-compaction"
    /// A separate load of every key into a fresh store, closed, then its files measured: bytes on
    /// disk (allocated, as `du`) ÷ bytes of the keys and values.
    case space

    /// The workloads that run after every other one (see `ConcurrentWorkloads.swift`): they
    /// write for a fixed time, so what they leave behind differs between systems.
    static let readWriteGroup: [Workload] = [.readAlone, .readWithWriter, .putOneThread, .putTwoThreads]

    /// The workloads that delete loaded keys (see `CompactionWorkloads.swift`): they run after
    /// every other workload of the store, and each starts from the full set of loaded keys.
    static let deleteGroup: [Workload] = [.readWithDeleter, .readWithCompaction]
}

/// The space a store takes on disk, measured by `space` after the store was closed.
struct SpaceFigures: Sendable {
    /// `st_blocks × 512` summed over the store's files (what `du` counts).
    var diskBytes: Int
    /// `st_size` summed over the store's files (what `du -sb`, `--apparent-size`, counts).
    var apparentBytes: Int
    /// Bytes of the loaded keys and values (the same for every system).
    var liveBytes: Int
    /// Files in the store's directory.
    var files: Int

    /// `diskBytes ÷ liveBytes`.
    var amplification: Double { liveBytes == 0 ? 0 : Double(diskBytes) / Double(liveBytes) }
}

/// What one workload measured on one system.
struct WorkloadResult: Sendable {
    let workload: Workload
    let system: String
    /// Ops done (keys for `put` and `scan`, listings for `list`, moves for the renames).
    let ops: Int
    /// Wall-clock time of all the ops.
    let nanoseconds: UInt64
    /// Latency percentiles of one op (p50, p99, p99.9, p99.99, max), in nanoseconds.
    let latency: LatencySummary
    /// Further figures of the workload by name (e.g. `writer_keys_per_sec` of `read-with-writer`).
    var extra: [String: Double] = [:]
    /// What `space` measured (nil for every other workload).
    var space: SpaceFigures?

    /// Throughput.
    var opsPerSecond: Double {
        nanoseconds == 0 ? 0 : Double(ops) / BenchClock.seconds(nanoseconds)
    }
}

/// How many ops each workload does; the defaults scale with the key count.
struct WorkloadSizes: Sendable {
    /// Puts per batch in `put`.
    var putBatch = 1_000
    /// Reads per read transaction (where a system has them).
    var readsPerTransaction = 1_000
    /// Items per page of `scan` (a holt `range` call; the peers' iterators just count).
    var scanPage = 1_000
    /// How many times `list` reads every listed directory.
    var listPasses = 10
    /// Moves of the big directory (even: it ends where it started).
    var bigMoves = 4
    /// Moves of the one-descendant directory (even).
    var singleMoves = 200
    /// Durable puts in all, shared evenly by the threads.
    var durablePuts = 8_000
    /// Threads of `durable-put`.
    var durableThreads = 4
    /// How long each fixed-time workload (`get-2-threads`, `read-alone`, `read-with-writer`,
    /// `put-1-thread`, `put-2-threads`) runs, in seconds.
    var timedSeconds = 6.0
    /// Keys per batch of the fixed-time writers.
    var writerBatch = 100
    /// The most reads per second one thread is expected to do: sizes the latency arrays of the
    /// fixed-time readers (a workload that does more fails instead of dropping samples).
    var maxReadsPerSecond = 4_000_000
    /// The most batches per second one fixed-time writer is expected to write.
    var maxBatchesPerSecond = 100_000
    /// The share of the loaded keys the deleter of `read-with-deleter` and `read-with-compaction`
    /// deletes (the reader reads the others).
    var deleteShare = 0.5
    /// Keys per delete batch of those workloads.
    var deleteBatch = 1_000
    /// Deletions between two compactions in `read-with-compaction` (0: the key count ÷ 20, ten
    /// compactions over half the keys).
    var compactEvery = 0
    /// The window the deleter of the delete workloads spreads its deletions over (it stops at
    /// 3 × this when it fell behind).
    var deleteSeconds = 10.0
    /// The most reads per second the reader of the delete workloads is expected to do (sizes its
    /// latency array for 3 × `deleteSeconds`).
    var maxDeleteReadsPerSecond = 2_000_000
    /// Seconds between two progress lines of `put`, `get`, `get-miss`, `list` and `scan` on
    /// stderr (0: none).
    var progressSeconds = 0.0
}
