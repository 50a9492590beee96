/// The engine workloads, by the names the results use, in the order they run.
enum Workload: String, CaseIterable, Sendable {
    /// All N keys in random order, in unsynced batches of 1,000.
    case put
    /// N random existing keys.
    case get
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
}

/// What one workload measured on one system.
struct WorkloadResult: Sendable {
    let workload: Workload
    let system: String
    /// Ops done (keys for `put` and `scan`, listings for `list`, moves for the renames).
    let ops: Int
    /// Wall-clock time of all the ops.
    let nanoseconds: UInt64
    /// Median latency of one op, in nanoseconds (amortized over a batch for `put`, a page for `scan`).
    let p50: UInt64
    /// 99th percentile latency of one op, in nanoseconds.
    let p99: UInt64

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
}
