import CRocksDB

#if canImport(Glibc)
import Glibc
#endif

/// RocksDB through its C API (`rocksdb/c.h`), set up for this job: a 1 GiB LRU block cache,
/// full bloom filters (10 bits per key), no compression, 64 MiB memtables, two background jobs,
/// all files kept open. Writes go through the WAL, unsynced except in `durable-put`.
final class RocksDBStore: BenchStore {
    let name = "rocksdb"
    private let db: OpaquePointer
    private let options: OpaquePointer
    private let tableOptions: OpaquePointer
    private let cache: OpaquePointer
    private let readOptions: OpaquePointer
    private let writeOptions: OpaquePointer
    private let batch: OpaquePointer
    fileprivate let syncWriteOptions: OpaquePointer

    /// Opens (creating) the database in directory `path`.
    init(path: String, cacheBytes: Int) throws {
        options = rocksdb_options_create()
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_increase_parallelism(options, 2)
        rocksdb_options_set_max_background_jobs(options, 2)
        rocksdb_options_set_write_buffer_size(options, 64 << 20)
        rocksdb_options_set_max_write_buffer_number(options, 3)
        rocksdb_options_set_level_compaction_dynamic_level_bytes(options, 1)
        rocksdb_options_set_compression(options, Int32(rocksdb_no_compression))
        rocksdb_options_set_max_open_files(options, -1)
        rocksdb_options_set_bytes_per_sync(options, 1 << 20)

        tableOptions = rocksdb_block_based_options_create()
        cache = rocksdb_cache_create_lru(cacheBytes)
        rocksdb_block_based_options_set_block_cache(tableOptions, cache)
        rocksdb_block_based_options_set_filter_policy(tableOptions, rocksdb_filterpolicy_create_bloom_full(10))
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(tableOptions, 0)
        rocksdb_options_set_block_based_table_factory(options, tableOptions)

        var error: UnsafeMutablePointer<CChar>? = nil
        let opened = rocksdb_open(options, path, &error)
        try Self.check(error, "open \(path)")
        guard let opened else { throw BenchError("rocksdb: cannot open \(path)") }
        db = opened
        readOptions = rocksdb_readoptions_create()
        writeOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(writeOptions, 0)
        syncWriteOptions = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWriteOptions, 1)
        batch = rocksdb_writebatch_create()
    }

    /// Throws (and frees) a RocksDB error string.
    fileprivate static func check(_ error: UnsafeMutablePointer<CChar>?, _ operation: String) throws {
        guard let error else { return }
        let message = String(cString: error)
        rocksdb_free(error)
        throw BenchError("rocksdb: \(operation): \(message)")
    }

    func putBatch(_ indices: ArraySlice<Int32>, of dataset: Dataset) throws {
        rocksdb_writebatch_clear(batch)
        withUnsafeTemporaryAllocation(byteCount: Dataset.valueLength, alignment: 8) { value in
            for index in indices {
                Dataset.writeValue(index: Int(index), into: value)
                dataset.keys[Int(index)].withUnsafeBufferPointer { key in
                    key.withMemoryRebound(to: CChar.self) { key in
                        rocksdb_writebatch_put(
                            batch, key.baseAddress, key.count,
                            value.baseAddress!.assumingMemoryBound(to: CChar.self), value.count)
                    }
                }
            }
        }
        var error: UnsafeMutablePointer<CChar>? = nil
        rocksdb_write(db, writeOptions, batch, &error)
        try Self.check(error, "write")
    }

    func get(_ key: [UInt8]) throws -> Int? {
        try Self.get(db, readOptions, key)
    }

    /// `rocksdb_get_pinned` of `key` (no copy of the value): its length, or nil when absent.
    fileprivate static func get(_ db: OpaquePointer, _ readOptions: OpaquePointer, _ key: [UInt8]) throws -> Int? {
        var error: UnsafeMutablePointer<CChar>? = nil
        let slice = key.withUnsafeBufferPointer { key in
            key.withMemoryRebound(to: CChar.self) { key in
                rocksdb_get_pinned(db, readOptions, key.baseAddress, key.count, &error)
            }
        }
        try check(error, "get")
        guard let slice else { return nil }
        var length = 0
        _ = rocksdb_pinnableslice_value(slice, &length)
        rocksdb_pinnableslice_destroy(slice)
        return length
    }

    func beginReads() throws {}

    func endReads() throws {}

    /// Runs `body` with an iterator bounded above by `upper` (exclusive), so it never walks past
    /// the range (nor through the tombstones beyond it).
    private func withIterator<T>(upTo upper: [UInt8], _ body: (OpaquePointer?) throws -> T) rethrows -> T {
        try upper.withUnsafeBufferPointer { upper in
            try upper.withMemoryRebound(to: CChar.self) { upper in
                let options = rocksdb_readoptions_create()
                rocksdb_readoptions_set_iterate_upper_bound(options, upper.baseAddress, upper.count)
                let iterator = rocksdb_create_iterator(db, options)
                defer {
                    rocksdb_iter_destroy(iterator)
                    rocksdb_readoptions_destroy(options)
                }
                return try body(iterator)
            }
        }
    }

    func list(_ prefix: [UInt8]) throws -> Int {
        try withIterator(upTo: Array(prefix.dropLast()).pastSubtree) { iterator in try list(prefix, iterator) }
    }

    /// Lists `prefix` with `iterator`: counts files, and each subdirectory once, seeking past it.
    private func list(_ prefix: [UInt8], _ iterator: OpaquePointer?) throws -> Int {
        seek(iterator, prefix)
        var items = 0
        while rocksdb_iter_valid(iterator) != 0 {
            var keyLength = 0, valueLength = 0
            let raw = UnsafeRawPointer(rocksdb_iter_key(iterator, &keyLength)!)
            let key = UnsafeRawBufferPointer(start: raw, count: keyLength)
            guard key.starts(with: prefix) else { break }
            items += 1
            if let cut = key[prefix.count...].firstIndex(of: UInt8(ascii: "/")) {
                seek(iterator, Array(key[..<cut]).pastSubtree)
            } else {
                _ = rocksdb_iter_value(iterator, &valueLength)
                rocksdb_iter_next(iterator)
            }
        }
        try checkIterator(iterator)
        return items
    }

    func scan(pageSize: Int, page: (Int) -> Void) throws -> Int {
        let iterator = rocksdb_create_iterator(db, readOptions)
        defer { rocksdb_iter_destroy(iterator) }
        rocksdb_iter_seek_to_first(iterator)
        var total = 0, inPage = 0
        while rocksdb_iter_valid(iterator) != 0 {
            var keyLength = 0, valueLength = 0
            _ = rocksdb_iter_key(iterator, &keyLength)
            _ = rocksdb_iter_value(iterator, &valueLength)
            total += 1
            inPage += 1
            if inPage == pageSize { page(inPage); inPage = 0 }
            rocksdb_iter_next(iterator)
        }
        if inPage > 0 { page(inPage) }
        try checkIterator(iterator)
        return total
    }

    func renamePrefix(from: [UInt8], to: [UInt8]) throws {
        let moves = try collect(prefix: from)
        rocksdb_writebatch_clear(batch)
        for (key, value) in moves {
            let newKey = to + key[from.count...]
            key.withUnsafeBufferPointer { old in
                old.withMemoryRebound(to: CChar.self) { old in
                    rocksdb_writebatch_delete(batch, old.baseAddress, old.count)
                }
            }
            newKey.withUnsafeBufferPointer { new in
                new.withMemoryRebound(to: CChar.self) { new in
                    value.withUnsafeBufferPointer { value in
                        value.withMemoryRebound(to: CChar.self) { value in
                            rocksdb_writebatch_put(batch, new.baseAddress, new.count, value.baseAddress, value.count)
                        }
                    }
                }
            }
        }
        var error: UnsafeMutablePointer<CChar>? = nil
        rocksdb_write(db, writeOptions, batch, &error)
        try Self.check(error, "write")
    }

    func countKeys(withPrefix prefix: [UInt8]) throws -> Int {
        try collect(prefix: prefix).count
    }

    /// Every key equal to `prefix` or below `prefix/`, with its value.
    private func collect(prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        try withIterator(upTo: prefix.pastSubtree) { iterator in try collect(prefix: prefix, iterator) }
    }

    /// Every key equal to `prefix` or below `prefix/`, read with `iterator`.
    private func collect(prefix: [UInt8], _ iterator: OpaquePointer?) throws -> [(key: [UInt8], value: [UInt8])] {
        let children = prefix + [UInt8(ascii: "/")]
        seek(iterator, prefix)
        var result: [(key: [UInt8], value: [UInt8])] = []
        while rocksdb_iter_valid(iterator) != 0 {
            var keyLength = 0, valueLength = 0
            let key = UnsafeRawBufferPointer(start: rocksdb_iter_key(iterator, &keyLength), count: keyLength)
            let isPrefix = key.elementsEqual(prefix)
            if !isPrefix && !key.starts(with: children) {
                if key.starts(with: prefix) { rocksdb_iter_next(iterator); continue }
                break
            }
            let value = UnsafeRawBufferPointer(start: rocksdb_iter_value(iterator, &valueLength), count: valueLength)
            result.append((Array(key), Array(value)))
            rocksdb_iter_next(iterator)
        }
        try checkIterator(iterator)
        return result
    }

    /// Positions `iterator` at the first key >= `target`.
    private func seek(_ iterator: OpaquePointer?, _ target: [UInt8]) {
        target.withUnsafeBufferPointer { target in
            target.withMemoryRebound(to: CChar.self) { target in
                rocksdb_iter_seek(iterator, target.baseAddress, target.count)
            }
        }
    }

    /// Throws when `iterator` stopped on an error rather than at the end.
    private func checkIterator(_ iterator: OpaquePointer?) throws {
        var error: UnsafeMutablePointer<CChar>? = nil
        rocksdb_iter_get_error(iterator, &error)
        try Self.check(error, "iterate")
    }

    /// Flushes the memtables (waiting) and waits until no flush or compaction runs or is pending.
    func settle(dataset: Dataset) throws {
        let flush = rocksdb_flushoptions_create()
        defer { rocksdb_flushoptions_destroy(flush) }
        rocksdb_flushoptions_set_wait(flush, 1)
        var error: UnsafeMutablePointer<CChar>? = nil
        rocksdb_flush(db, flush, &error)
        try Self.check(error, "flush")
        while property("rocksdb.num-running-flushes") + property("rocksdb.num-running-compactions")
            + property("rocksdb.compaction-pending") + property("rocksdb.mem-table-flush-pending") > 0
        {
            usleep(50_000)
        }
    }

    /// An integer property of the database (`rocksdb.*`), 0 when unknown.
    private func property(_ name: String) -> UInt64 {
        var value: UInt64 = 0
        return rocksdb_property_int(db, name, &value) == 0 ? value : 0
    }

    /// Durable puts use `WriteOptions.sync = true` (the WAL is synced before the write returns;
    /// concurrent writers share a sync through RocksDB's write group).
    func makeDurable(dataset: Dataset) throws {}

    func durableWriter() throws -> any DurableWriter {
        RocksDBWriter(db: db, options: syncWriteOptions)
    }

    /// Nothing to switch back: each write names its own options.
    func makeUnsynced(dataset: Dataset) throws {}

    /// `rocksdb_get_pinned` on the shared handle with the shared read options.
    func reader() throws -> any BenchReader {
        RocksDBReader(db: db, options: readOptions)
    }

    /// A `WriteBatch` of its own, written with `sync=false` (WAL on).
    func batchWriter() throws -> any BatchWriter {
        RocksDBBatches(db: db, options: writeOptions)
    }

    /// SST files per level (files below level 0: a compaction ran), the SST bytes, and what
    /// flushes and compactions wrote so far (from `rocksdb.stats`).
    func spaceDetails() throws -> [String: Double] {
        var details: [String: Double] = [:]
        for level in 0..<7 {
            details["sst_files_level\(level)"] = stringProperty("rocksdb.num-files-at-level\(level)").flatMap { Double($0) } ?? -1
        }
        details["total_sst_bytes"] = Double(property("rocksdb.total-sst-files-size"))
        details["live_sst_bytes"] = Double(property("rocksdb.live-sst-files-size"))
        details["estimate_live_data_bytes"] = Double(property("rocksdb.estimate-live-data-size"))
        details["flush_compaction_write_gb"] = compactionWriteGB() ?? -1
        return details
    }

    /// A property of the database as text (`rocksdb.stats`, `rocksdb.num-files-at-levelN`), nil when unknown.
    private func stringProperty(_ name: String) -> String? {
        guard let text = rocksdb_property_value(db, name) else { return nil }
        defer { rocksdb_free(text) }
        return String(cString: text)
    }

    /// The "Cumulative compaction: X GB write" figure of `rocksdb.stats` (GB written by flushes
    /// and compactions since open: RocksDB counts a flush as a compaction there), nil when the
    /// line is not there. Whether a compaction proper ran shows in the files per level.
    private func compactionWriteGB() -> Double? {
        guard let stats = stringProperty("rocksdb.stats") else { return nil }
        guard let line = stats.split(separator: "\n").first(where: { $0.hasPrefix("Cumulative compaction:") }) else {
            return nil
        }
        return line.split(separator: " ").dropFirst(2).first.flatMap { Double($0) }
    }

    /// `CompactRange` over every key, the bottommost level rewritten too (`kForceOptimized`), so
    /// tombstones and overwritten versions are dropped.
    func compactFully() throws -> Bool {
        Self.compactAll(db)
        return true
    }

    /// A `CompactRange` of every key with the bottommost level forced; returns when it is done.
    fileprivate static func compactAll(_ db: OpaquePointer) {
        let options = rocksdb_compactoptions_create()
        defer { rocksdb_compactoptions_destroy(options) }
        rocksdb_compactoptions_set_bottommost_level_compaction(options, 3)  // kForceOptimized
        rocksdb_compact_range_opt(db, options, nil, 0, nil, 0)
    }

    /// A `WriteBatch` of deletes of its own (`sync=false`, WAL on), `CompactRange` of every key.
    func deleter() throws -> (any BatchDeleter)? {
        RocksDBBatches(db: db, options: writeOptions)
    }

    func close() throws {
        rocksdb_writebatch_destroy(batch)
        rocksdb_close(db)
        rocksdb_readoptions_destroy(readOptions)
        rocksdb_writeoptions_destroy(writeOptions)
        rocksdb_writeoptions_destroy(syncWriteOptions)
        rocksdb_options_destroy(options)
        rocksdb_block_based_options_destroy(tableOptions)
        rocksdb_cache_destroy(cache)
    }
}

/// A `durable-put` thread's synced puts on the shared RocksDB handle (thread-safe in RocksDB).
private final class RocksDBWriter: DurableWriter, @unchecked Sendable {
    // @unchecked Sendable: the handles are immutable and RocksDB's `rocksdb_put` is thread-safe.
    let db: OpaquePointer
    let options: OpaquePointer

    init(db: OpaquePointer, options: OpaquePointer) {
        self.db = db
        self.options = options
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        var error: UnsafeMutablePointer<CChar>? = nil
        key.withUnsafeBufferPointer { key in
            key.withMemoryRebound(to: CChar.self) { key in
                value.withUnsafeBufferPointer { value in
                    value.withMemoryRebound(to: CChar.self) { value in
                        rocksdb_put(db, options, key.baseAddress, key.count, value.baseAddress, value.count, &error)
                    }
                }
            }
        }
        try RocksDBStore.check(error, "put")
    }

    func close() {}
}

/// A fixed-time reader's gets on the shared RocksDB handle (thread-safe in RocksDB).
private final class RocksDBReader: BenchReader, @unchecked Sendable {
    // @unchecked Sendable: the handles are immutable and `rocksdb_get_pinned` is thread-safe.
    /// The store's database handle.
    let db: OpaquePointer
    /// The store's read options.
    let options: OpaquePointer

    /// A reader of `db` with `options`.
    init(db: OpaquePointer, options: OpaquePointer) {
        self.db = db
        self.options = options
    }

    func get(_ key: [UInt8]) throws -> Int? {
        try RocksDBStore.get(db, options, key)
    }

    func beginReads() throws {}

    func endReads() throws {}

    func close() {}
}

/// One thread's unsynced batches on the shared RocksDB handle, in a `WriteBatch` of its own: a
/// fixed-time writer's puts, or the deleting thread's deletes and full compactions.
private final class RocksDBBatches: BatchWriter, BatchDeleter, @unchecked Sendable {
    // @unchecked Sendable: used by the one thread it was made for; `rocksdb_write` and
    // `rocksdb_compact_range_opt` are thread-safe.
    /// The store's database handle.
    let db: OpaquePointer
    /// The store's unsynced write options (`sync=false`, WAL on).
    let options: OpaquePointer
    /// This thread's batch, cleared and refilled for every `putBatch` or `deleteBatch`.
    let batch: OpaquePointer

    /// Batches of `db` with `options` and a new `WriteBatch`.
    init(db: OpaquePointer, options: OpaquePointer) {
        self.db = db
        self.options = options
        batch = rocksdb_writebatch_create()
    }

    func putBatch(_ keys: [[UInt8]], value: [UInt8]) throws {
        rocksdb_writebatch_clear(batch)
        value.withUnsafeBufferPointer { value in
            value.withMemoryRebound(to: CChar.self) { value in
                for key in keys {
                    key.withUnsafeBufferPointer { key in
                        key.withMemoryRebound(to: CChar.self) { key in
                            rocksdb_writebatch_put(batch, key.baseAddress, key.count, value.baseAddress, value.count)
                        }
                    }
                }
            }
        }
        try write()
    }

    func deleteBatch(_ keys: [[UInt8]]) throws {
        rocksdb_writebatch_clear(batch)
        for key in keys {
            key.withUnsafeBufferPointer { key in
                key.withMemoryRebound(to: CChar.self) { key in
                    rocksdb_writebatch_delete(batch, key.baseAddress, key.count)
                }
            }
        }
        try write()
    }

    /// Writes the batch as it is filled now.
    private func write() throws {
        var error: UnsafeMutablePointer<CChar>? = nil
        rocksdb_write(db, options, batch, &error)
        try RocksDBStore.check(error, "write")
    }

    func compact() throws {
        RocksDBStore.compactAll(db)
    }

    func close() {
        rocksdb_writebatch_destroy(batch)
    }
}
