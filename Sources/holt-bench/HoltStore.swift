import HoltEngine

/// holt through its public API only: `Tree.open`, `put`, `get`, `apply`, `range`, `forEach`,
/// `renamePrefix`, `spaceStatistics`, `compact`.
final class HoltStore: BenchStore {
    let name = "holt"
    private let path: String
    /// The options every open uses, but for `sync`.
    private let options: Options
    private var tree: Tree

    /// Opens (creating) the database at `path` with `.none` sync for the load.
    /// `writeBufferBytes`: `Options.writeBufferBytes` (nil: the engine's default).
    init(path: String, cacheBytes: Int, writeBufferBytes: Int? = nil) throws {
        self.path = path
        var options = Options(cacheBytes: cacheBytes, sync: .none)
        options.writeBufferBytes = writeBufferBytes
        self.options = options
        tree = try Self.open(path: path, options: options)
    }

    /// Opens the tree at `path`, turning a `HoltError` into a `BenchError` that names the path.
    private static func open(path: String, options: Options) throws -> Tree {
        do {
            return try Tree.open(path: path, options: options)
        } catch {
            throw BenchError("holt: cannot open \(path): \(error)")
        }
    }

    func putBatch(_ indices: ArraySlice<Int32>, of dataset: Dataset) throws {
        var ops: [TxnOp] = []
        ops.reserveCapacity(indices.count)
        for index in indices {
            ops.append(.put(key: dataset.keys[Int(index)], value: Dataset.value(index: Int(index))))
        }
        try tree.apply(ops)
    }

    func get(_ key: [UInt8]) throws -> Int? {
        try tree.get(key)?.count
    }

    func beginReads() throws {}

    func endReads() throws {}

    /// Counts the listing's items through `forEach`, copying nothing (as LMDBStore reads its cursor).
    func list(_ prefix: [UInt8]) throws -> Int {
        var items = 0
        try tree.forEach(RangeQuery(prefix: prefix, delimiter: UInt8(ascii: "/"))) { _ in
            items += 1
            return true
        }
        return items
    }

    /// One `forEach` over every key, counting items and touching each value's length, reporting
    /// each `pageSize` items (one walk, as LMDBStore's cursor).
    func scan(pageSize: Int, page: (Int) -> Void) throws -> Int {
        var total = 0, inPage = 0, valueBytes = 0
        try tree.forEach(RangeQuery()) { item in
            total += 1
            inPage += 1
            valueBytes &+= item.value.count
            if inPage == pageSize {
                page(inPage)
                inPage = 0
            }
            return true
        }
        if inPage > 0 { page(inPage) }
        guard total == 0 || valueBytes > 0 else { throw BenchError("holt: the scan saw no value bytes") }
        return total
    }

    /// The engine's counters since open (`Tree.statistics()`): frames cached, hits and misses,
    /// bytes read and written to the blob file, log bytes, checkpoints and their time.
    func progressDetails() -> String {
        guard let stats = try? tree.statistics() else { return "" }
        return "holt frames \(stats.cachedFrames), hits \(stats.cacheHits), misses \(stats.cacheMisses), mapped \(stats.mappedReads), "
            + "evictions \(stats.evictions), data read \(stats.dataBytesRead), written \(stats.dataBytesWritten), "
            + "file \(stats.dataFileBytes), dirty \(stats.dirtyBytes), log \(stats.logBytes), "
            + "checkpoints \(stats.checkpoints) taking \(Report.seconds(stats.checkpointNanoseconds)) s, blobs \(stats.blobs)"
    }

    func renamePrefix(from: [UInt8], to: [UInt8]) throws {
        try tree.renamePrefix(from: from, to: to)
    }

    func countKeys(withPrefix prefix: [UInt8]) throws -> Int {
        try tree.range(prefix: prefix + [UInt8(ascii: "/")]).count + (tree.get(prefix) == nil ? 0 : 1)
    }

    /// Checkpoints by closing and reopening (the reads then start from what is on disk).
    func settle(dataset: Dataset) throws {
        try reopen(sync: .none, dataset: dataset)
    }

    func makeDurable(dataset: Dataset) throws {
        try reopen(sync: .always, dataset: dataset)
    }

    func makeUnsynced(dataset: Dataset) throws {
        try reopen(sync: .none, dataset: dataset)
    }

    /// Closes and reopens with `sync`; fails when the reopened tree lost the loaded keys.
    private func reopen(sync: SyncMode, dataset: Dataset) throws {
        try tree.close()
        var options = options
        options.sync = sync
        tree = try Self.open(path: path, options: options)
        guard try tree.get(dataset.keys[0]) != nil else {
            throw BenchError("holt: the reopened tree lost the loaded keys")
        }
    }

    func durableWriter() throws -> any DurableWriter {
        HoltWriter(tree: tree)
    }

    /// The shared tree: `get` from any thread.
    func reader() throws -> any BenchReader {
        HoltReader(tree: tree)
    }

    /// The shared tree (opened with `.none`): `apply` of the batch's puts from any thread.
    func batchWriter() throws -> any BatchWriter {
        HoltBatchWriter(tree: tree)
    }

    /// `Tree.spaceStatistics()`: the engine's own view of its files, live and dead bytes.
    func spaceDetails() throws -> [String: Double] {
        let space = try tree.spaceStatistics()
        return [
            "engine_file_bytes": Double(space.fileBytes), "engine_allocated_bytes": Double(space.allocatedBytes),
            "engine_log_bytes": Double(space.logBytes), "engine_metadata_bytes": Double(space.metadataBytes),
            "engine_blobs": Double(space.blobs), "engine_free_slots": Double(space.freeSlots),
            "engine_live_bytes": Double(space.liveBytes), "engine_dead_bytes": Double(space.deadBytes),
            "engine_database_bytes": Double(space.databaseBytes), "engine_amplification": space.amplification,
        ]
    }

    /// From `Tree.statistics()`.
    func concurrencyCounters() throws -> [String: Double] {
        let stats = try tree.statistics()
        return [
            "engine_gets_under_lock": Double(stats.getsUnderLock), "engine_gets_under_latches": Double(stats.getsUnderLatches), "engine_delayed_batches": Double(stats.delayedBatches),
            "engine_write_delay_ns": Double(stats.writeDelayNanoseconds), "engine_stopped_batches": Double(stats.stoppedBatches),
            "engine_checkpoints": Double(stats.checkpoints),
            "engine_write_buffer_flushes": Double(stats.writeBufferFlushes),
            "engine_write_buffer_longest_flush_ns": Double(stats.writeBufferLongestFlushNanoseconds),
            "engine_checkpoints_beside_write_buffer": Double(stats.checkpointsBesideWriteBuffer),
        ]
    }

    /// `Tree.compact()`.
    func compactFully() throws -> Bool {
        let report = try tree.compact()
        Log.progress("[holt] compact: \(report.bytesBefore) -> \(report.bytesAfter) bytes on disk, blob file "
            + "\(report.fileBytesBefore) -> \(report.fileBytesAfter), \(report.blobsCompacted) blobs compacted, "
            + "\(report.blobsMoved) moved")
        return true
    }

    /// The shared tree: `apply` of `.delete`s, `compact()`.
    func deleter() throws -> (any BatchDeleter)? {
        HoltDeleter(tree: tree)
    }

    func close() throws {
        try tree.close()
    }
}

/// The deleting thread's handle on the shared tree.
private final class HoltDeleter: BatchDeleter {
    /// The store's tree, shared with the reader.
    let tree: Tree

    /// A deleter of `tree`.
    init(tree: Tree) {
        self.tree = tree
    }

    /// One `apply` of a `.delete` per key: one atomic batch, one log record.
    func deleteBatch(_ keys: [[UInt8]]) throws {
        try tree.apply(keys.map { .delete(key: $0) })
    }

    func compact() throws {
        _ = try tree.compact()
    }

    func close() {}
}

/// A fixed-time reader's handle on the shared tree.
private final class HoltReader: BenchReader {
    /// The store's tree, shared with the other threads.
    let tree: Tree

    /// A reader of `tree`.
    init(tree: Tree) {
        self.tree = tree
    }

    func get(_ key: [UInt8]) throws -> Int? {
        try tree.get(key)?.count
    }

    func beginReads() throws {}

    func endReads() throws {}

    func close() {}
}

/// A fixed-time writer's handle on the shared tree: one `apply` of `.put`s per batch.
private final class HoltBatchWriter: BatchWriter {
    /// The store's tree, shared with the other threads.
    let tree: Tree

    /// A writer of `tree`.
    init(tree: Tree) {
        self.tree = tree
    }

    /// One `apply` of a `.put` per key: one atomic batch, one log record.
    func putBatch(_ keys: [[UInt8]], value: [UInt8]) throws {
        try tree.apply(keys.map { .put(key: $0, value: value) })
    }

    func close() {}
}

/// A `durable-put` thread's handle on the shared tree (opened with `.always`: group commit).
private final class HoltWriter: DurableWriter {
    let tree: Tree

    init(tree: Tree) {
        self.tree = tree
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try tree.put(key, value)
    }

    func close() {}
}
