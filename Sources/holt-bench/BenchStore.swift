/// A failure of the harness or of a system under test: one line for stderr.
struct BenchError: Error, CustomStringConvertible {
    /// What went wrong.
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// One system under test (holt, RocksDB, LMDB, SQLite), seen the same way by every workload.
///
/// The runner owns the timing; a store only does the work of one op (or of one batch, or of one
/// page of a scan), with that system's best settings for the job. All methods are called from
/// one thread, except those of the readers and writers it hands out (`durableWriter()`,
/// `reader()`, `batchWriter()`), each used by a thread of its own while the store's own methods
/// are not called.
protocol BenchStore: AnyObject {
    /// The system's name in the results (`holt`, `rocksdb`, `lmdb`, `sqlite`).
    var name: String { get }

    /// Writes `dataset.keys[i]` with `Dataset.value(index: i)` for each `i` in `indices`, as one
    /// batch that is not synced.
    func putBatch(_ indices: ArraySlice<Int32>, of dataset: Dataset) throws

    /// Reads `key`; returns the length of its value, or nil when it is absent.
    func get(_ key: [UInt8]) throws -> Int?

    /// Starts a group of reads (a read transaction where the system has them). The runner calls
    /// it before the reads of `get`, `get-miss`, `list` and `scan`, and renews it every 1,000 ops.
    func beginReads() throws

    /// Ends the group of reads `beginReads` started.
    func endReads() throws

    /// Lists the direct children of `prefix` (which ends in `/`) with delimiter `/`: files as
    /// entries, subdirectories as one item each, skipping their contents. Returns the item count.
    func list(_ prefix: [UInt8]) throws -> Int

    /// Reads every key and value in key order, calling `page` with the number of items after
    /// each `pageSize` of them (and after the last, partial page). Returns the number of keys.
    func scan(pageSize: Int, page: (Int) -> Void) throws -> Int

    /// Moves `from` and every key below `from/` to `to` and below `to/`, in one transaction.
    func renamePrefix(from: [UInt8], to: [UInt8]) throws

    /// The number of keys equal to `prefix` or below `prefix/`; untimed, for checks only.
    func countKeys(withPrefix prefix: [UInt8]) throws -> Int

    /// Finishes, untimed, whatever the system left undone after the load (memtables, buffered
    /// work), so the read workloads measure the settled store. `dataset` is what was loaded.
    func settle(dataset: Dataset) throws

    /// Switches to durable writes (each write durable before it returns), untimed.
    func makeDurable(dataset: Dataset) throws

    /// A writer for one of the `durable-put` threads; each thread gets its own.
    func durableWriter() throws -> any DurableWriter

    /// Switches back to unsynced writes after `makeDurable`, untimed (before the read/write
    /// workloads, which run after `durable-put`).
    func makeUnsynced(dataset: Dataset) throws

    /// A reader for one thread of the fixed-time read workloads; each thread gets its own.
    func reader() throws -> any BenchReader

    /// A writer of unsynced batches for one thread of the fixed-time write workloads; each
    /// thread gets its own.
    func batchWriter() throws -> any BatchWriter

    /// Untimed, while the store is open: what the system says about its own space (holt's
    /// `spaceStatistics()`, RocksDB's files per level and compaction bytes), for the `extra` of
    /// the `space` row. Empty where a system says nothing (the default).
    func spaceDetails() throws -> [String: Double]

    /// Untimed: counters the system keeps about its own concurrency (holt: gets that fell back to
    /// the lock, batches slowed or stopped by the checkpointer, checkpoints), for the `extra` of
    /// the fixed-time rows as the difference over the workload. Empty by default.
    func concurrencyCounters() throws -> [String: Double]

    /// Untimed: compacts the whole store in place as far as the system can (holt `compact()`,
    /// RocksDB a `CompactRange` over every key, SQLite `VACUUM`). Returns false where the system
    /// has no such operation (LMDB; the default).
    func compactFully() throws -> Bool

    /// A deleter for `read-with-deleter` and `read-with-compaction` (one thread), or nil where the
    /// system has no compaction to run beside a reader (the default: LMDB, SQLite).
    func deleter() throws -> (any BatchDeleter)?

    /// The system's own counters, appended to each progress line (`--progress-seconds`); empty
    /// where the system has none worth the cost.
    func progressDetails() -> String

    /// Closes the store.
    func close() throws
}

extension BenchStore {
    func spaceDetails() throws -> [String: Double] { [:] }

    func concurrencyCounters() throws -> [String: Double] { [:] }

    func compactFully() throws -> Bool { false }

    func deleter() throws -> (any BatchDeleter)? { nil }

    func progressDetails() -> String { "" }
}

/// Deletes and compactions from the one deleting thread of `read-with-deleter` and
/// `read-with-compaction`, while a reader thread uses the same store.
protocol BatchDeleter: AnyObject, Sendable {
    /// Deletes every key of `keys` as one atomic batch that is not synced.
    func deleteBatch(_ keys: [[UInt8]]) throws

    /// Compacts the whole store in place, while readers go on (holt `compact()`, RocksDB a
    /// `CompactRange` over every key); returns once it is done.
    func compact() throws

    /// Releases what the deleter holds.
    func close()
}

/// Point reads from one thread of `get-2-threads`, `read-alone` or `read-with-writer`, while
/// other threads read or write the same store.
protocol BenchReader: AnyObject, Sendable {
    /// Reads `key`; returns the length of its value, or nil when it is absent.
    func get(_ key: [UInt8]) throws -> Int?

    /// Starts a group of reads (a read transaction where the system has them); renewed every
    /// 1,000 ops, as for the single-threaded reads.
    func beginReads() throws

    /// Ends the group of reads `beginReads` started.
    func endReads() throws

    /// Releases what the reader holds.
    func close()
}

/// Unsynced batches of new keys from one thread of `read-with-writer`, `put-1-thread` or
/// `put-2-threads`, while other threads use the same store.
protocol BatchWriter: AnyObject, Sendable {
    /// Writes every key of `keys` with the value `value`, as one atomic batch that is not synced.
    func putBatch(_ keys: [[UInt8]], value: [UInt8]) throws

    /// Releases what the writer holds.
    func close()
}

/// Durable puts from one thread of `durable-put`.
protocol DurableWriter: AnyObject, Sendable {
    /// Writes `key` = `value` and returns once it is durable.
    func put(_ key: [UInt8], _ value: [UInt8]) throws

    /// Releases what the writer holds.
    func close()
}

extension [UInt8] {
    /// The smallest key greater than every key that starts with `self` + `/`: `self` + `0`
    /// (`'0'` is `'/'` + 1). Peers seek there to skip a rolled-up subdirectory.
    var pastSubtree: [UInt8] {
        self + [UInt8(ascii: "0")]
    }
}
