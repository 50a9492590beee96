import CSQLite

/// SQLite through its C API, set up for this job: WAL journal, `synchronous=OFF` for the
/// non-durable workloads and `FULL` for `durable-put`, a 1 GiB page cache, one
/// `WITHOUT ROWID` table `kv(k BLOB PRIMARY KEY, v BLOB)`, prepared statements, one
/// transaction per batch, reads in a transaction renewed every 1,000 ops.
final class SQLiteStore: BenchStore {
    let name = "sqlite"
    private let path: String
    private let cacheBytes: Int
    private let connection: SQLiteConnection
    private let insert: OpaquePointer
    private let select: OpaquePointer
    private let rangeSelect: OpaquePointer
    private let scanAll: OpaquePointer
    private let moveKey: OpaquePointer

    /// Opens (creating) the database file `path/kv.sqlite`.
    init(path: String, cacheBytes: Int) throws {
        self.path = path + "/kv.sqlite"
        self.cacheBytes = cacheBytes
        connection = try SQLiteConnection(path: self.path, cacheBytes: cacheBytes, synchronous: "OFF")
        try connection.execute("CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")
        insert = try connection.prepare("INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)")
        select = try connection.prepare("SELECT length(v) FROM kv WHERE k = ?1")
        rangeSelect = try connection.prepare("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k")
        scanAll = try connection.prepare("SELECT k, v FROM kv ORDER BY k")
        moveKey = try connection.prepare("UPDATE kv SET k = ?1 WHERE k = ?2")
    }

    func putBatch(_ indices: ArraySlice<Int32>, of dataset: Dataset) throws {
        try connection.execute("BEGIN")
        try withUnsafeTemporaryAllocation(byteCount: Dataset.valueLength, alignment: 8) { value in
            for index in indices {
                Dataset.writeValue(index: Int(index), into: value)
                try connection.run(insert, dataset.keys[Int(index)], UnsafeRawBufferPointer(value))
            }
        }
        try connection.execute("COMMIT")
    }

    func get(_ key: [UInt8]) throws -> Int? {
        try connection.valueLength(select, key)
    }

    func beginReads() throws {
        try connection.execute("BEGIN")
    }

    func endReads() throws {
        try connection.execute("COMMIT")
    }

    func list(_ prefix: [UInt8]) throws -> Int {
        var items = 0
        var from = prefix
        let end = Array(prefix.dropLast()).pastSubtree
        outer: while true {
            // Re-run the range query from `from`: SQLite's way to seek past a subdirectory.
            defer { sqlite3_reset(rangeSelect) }
            let skipTo: [UInt8]? = try from.withUnsafeBytes { lower in
                try end.withUnsafeBytes { upper in
                    sqlite3_bind_blob(rangeSelect, 1, lower.baseAddress, Int32(lower.count), nil)
                    sqlite3_bind_blob(rangeSelect, 2, upper.baseAddress, Int32(upper.count), nil)
                    while true {
                        let code = sqlite3_step(rangeSelect)
                        if code == SQLITE_DONE { return nil }
                        guard code == SQLITE_ROW else { throw connection.error("list") }
                        let key = UnsafeRawBufferPointer(
                            start: sqlite3_column_blob(rangeSelect, 0), count: Int(sqlite3_column_bytes(rangeSelect, 0)))
                        _ = sqlite3_column_blob(rangeSelect, 1)
                        items += 1
                        if let cut = key[prefix.count...].firstIndex(of: UInt8(ascii: "/")) {
                            return Array(key[..<cut]).pastSubtree
                        }
                    }
                }
            }
            guard let skipTo else { break outer }
            from = skipTo
        }
        return items
    }

    func scan(pageSize: Int, page: (Int) -> Void) throws -> Int {
        defer { sqlite3_reset(scanAll) }
        var total = 0, inPage = 0
        while true {
            let code = sqlite3_step(scanAll)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw connection.error("scan") }
            _ = sqlite3_column_blob(scanAll, 0)
            _ = sqlite3_column_blob(scanAll, 1)
            total += 1
            inPage += 1
            if inPage == pageSize { page(inPage); inPage = 0 }
        }
        if inPage > 0 { page(inPage) }
        return total
    }

    /// Every key equal to `prefix` or below `prefix/`.
    private func collectKeys(prefix: [UInt8]) throws -> [[UInt8]] {
        var keys: [[UInt8]] = []
        for (lower, upper) in [(prefix, prefix + [0]), (prefix + [UInt8(ascii: "/")], prefix.pastSubtree)] {
            defer { sqlite3_reset(rangeSelect) }
            try lower.withUnsafeBytes { lower in
                try upper.withUnsafeBytes { upper in
                    sqlite3_bind_blob(rangeSelect, 1, lower.baseAddress, Int32(lower.count), nil)
                    sqlite3_bind_blob(rangeSelect, 2, upper.baseAddress, Int32(upper.count), nil)
                    while true {
                        let code = sqlite3_step(rangeSelect)
                        if code == SQLITE_DONE { break }
                        guard code == SQLITE_ROW else { throw connection.error("range") }
                        keys.append(Array(UnsafeRawBufferPointer(
                            start: sqlite3_column_blob(rangeSelect, 0), count: Int(sqlite3_column_bytes(rangeSelect, 0)))))
                    }
                }
            }
        }
        return keys
    }

    func renamePrefix(from: [UInt8], to: [UInt8]) throws {
        try connection.execute("BEGIN")
        do {
            for key in try collectKeys(prefix: from) {
                try key.withUnsafeBytes { oldKey in
                    try connection.run(moveKey, to + key[from.count...], oldKey)
                }
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    func countKeys(withPrefix prefix: [UInt8]) throws -> Int {
        try collectKeys(prefix: prefix).count
    }

    /// Checkpoints the WAL into the database file and truncates it.
    func settle(dataset: Dataset) throws {
        try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    func makeDurable(dataset: Dataset) throws {
        try connection.execute("PRAGMA synchronous=FULL")
    }

    /// Each `durable-put` thread gets its own connection (`synchronous=FULL`, a busy timeout).
    func durableWriter() throws -> any DurableWriter {
        try SQLiteWriter(path: path, cacheBytes: cacheBytes)
    }

    func makeUnsynced(dataset: Dataset) throws {
        try connection.execute("PRAGMA synchronous=OFF")
    }

    /// A connection of its own (the same pragmas, half the cache budget: at most two run at once).
    func reader() throws -> any BenchReader {
        try SQLiteReader(path: path, cacheBytes: cacheBytes / 2)
    }

    /// A connection of its own (`synchronous=OFF`, half the cache budget), one transaction per batch.
    func batchWriter() throws -> any BatchWriter {
        try SQLiteBatchWriter(path: path, cacheBytes: cacheBytes / 2)
    }

    /// `VACUUM`: rebuilds the database file packed.
    func compactFully() throws -> Bool {
        try connection.execute("VACUUM")
        return true
    }

    func close() throws {
        for statement in [insert, select, rangeSelect, scanAll, moveKey] { sqlite3_finalize(statement) }
        connection.close()
    }
}

/// One SQLite connection with the settings every connection of the benchmark shares.
final class SQLiteConnection: @unchecked Sendable {
    // @unchecked Sendable: a connection is used by one thread at a time (the store's, or one
    // durable-put writer's, fixed-time reader's or writer's).
    let db: OpaquePointer

    init(path: String, cacheBytes: Int, synchronous: String) throws {
        var db: OpaquePointer?
        let code = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let db else {
            sqlite3_close(db)
            throw BenchError("sqlite: cannot open \(path): code \(code)")
        }
        self.db = db
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=\(synchronous)")
        try execute("PRAGMA cache_size=-\(cacheBytes / 1024)")
        try execute("PRAGMA temp_store=MEMORY")
        sqlite3_busy_timeout(db, 60_000)
    }

    /// The last error as a `BenchError`.
    func error(_ operation: String) -> BenchError {
        BenchError("sqlite: \(operation): \(String(cString: sqlite3_errmsg(db)))")
    }

    /// Runs `sql` (no results kept).
    func execute(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
    }

    /// Prepares `sql` for reuse.
    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK,
            let statement
        else { throw error("prepare \(sql)") }
        return statement
    }

    /// Runs the prepared `SELECT length(v) FROM kv WHERE k = ?1` for `key`: the length of its
    /// value, or nil when absent.
    func valueLength(_ select: OpaquePointer, _ key: [UInt8]) throws -> Int? {
        defer { sqlite3_reset(select) }
        return try key.withUnsafeBytes { key in
            sqlite3_bind_blob(select, 1, key.baseAddress, Int32(key.count), nil)
            let code = sqlite3_step(select)
            if code == SQLITE_DONE { return nil }
            guard code == SQLITE_ROW else { throw error("get") }
            return Int(sqlite3_column_int64(select, 0))
        }
    }

    /// Binds two blobs to `statement`, steps it to completion and resets it.
    func run(_ statement: OpaquePointer, _ first: [UInt8], _ second: UnsafeRawBufferPointer) throws {
        defer { sqlite3_reset(statement) }
        let code = first.withUnsafeBytes { first in
            sqlite3_bind_blob(statement, 1, first.baseAddress, Int32(first.count), nil)
            sqlite3_bind_blob(statement, 2, second.baseAddress, Int32(second.count), nil)
            return sqlite3_step(statement)
        }
        guard code == SQLITE_DONE else { throw error("step") }
    }

    func close() {
        sqlite3_close(db)
    }
}

/// A `durable-put` thread's own connection.
private final class SQLiteWriter: DurableWriter, @unchecked Sendable {
    // @unchecked Sendable: used by the one thread it was made for.
    let connection: SQLiteConnection
    let insert: OpaquePointer

    init(path: String, cacheBytes: Int) throws {
        connection = try SQLiteConnection(path: path, cacheBytes: cacheBytes / 4, synchronous: "FULL")
        insert = try connection.prepare("INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)")
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        try value.withUnsafeBytes { value in try connection.run(insert, key, value) }
    }

    func close() {
        sqlite3_finalize(insert)
        connection.close()
    }
}

/// A fixed-time reader's own connection: gets in a read transaction renewed every 1,000 ops.
private final class SQLiteReader: BenchReader, @unchecked Sendable {
    // @unchecked Sendable: used by the one thread it was made for.
    /// The reader's own connection.
    let connection: SQLiteConnection
    /// `SELECT length(v) FROM kv WHERE k = ?1`, prepared on `connection`.
    let select: OpaquePointer

    /// Opens a connection to the database file `path` (`synchronous=OFF`, `cacheBytes` of cache).
    init(path: String, cacheBytes: Int) throws {
        connection = try SQLiteConnection(path: path, cacheBytes: cacheBytes, synchronous: "OFF")
        select = try connection.prepare("SELECT length(v) FROM kv WHERE k = ?1")
    }

    func get(_ key: [UInt8]) throws -> Int? {
        try connection.valueLength(select, key)
    }

    func beginReads() throws {
        try connection.execute("BEGIN")
    }

    func endReads() throws {
        try connection.execute("COMMIT")
    }

    func close() {
        sqlite3_finalize(select)
        connection.close()
    }
}

/// A fixed-time writer's own connection: `BEGIN IMMEDIATE`, one `INSERT OR REPLACE` per key,
/// `COMMIT`, not synced (`synchronous=OFF`).
private final class SQLiteBatchWriter: BatchWriter, @unchecked Sendable {
    // @unchecked Sendable: used by the one thread it was made for.
    /// The writer's own connection.
    let connection: SQLiteConnection
    /// `INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)`, prepared on `connection`.
    let insert: OpaquePointer

    /// Opens a connection to the database file `path` (`synchronous=OFF`, `cacheBytes` of cache).
    init(path: String, cacheBytes: Int) throws {
        connection = try SQLiteConnection(path: path, cacheBytes: cacheBytes, synchronous: "OFF")
        insert = try connection.prepare("INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)")
    }

    func putBatch(_ keys: [[UInt8]], value: [UInt8]) throws {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            try value.withUnsafeBytes { value in
                for key in keys { try connection.run(insert, key, value) }
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    func close() {
        sqlite3_finalize(insert)
        connection.close()
    }
}
