import CLMDB

/// LMDB through its C API, set up for this job: a 64 GiB map (sparse, grows as used),
/// `MDB_NOTLS` (read transactions not tied to threads), `MDB_NORDAHEAD` (no readahead: LMDB's
/// own advice when the database is larger than memory, where a page fault that reads ahead
/// fills the page cache with pages no random read wants; it changes nothing while the map fits),
/// `MDB_NOSYNC` for the non-durable
/// workloads (cleared with `mdb_env_set_flags` for `durable-put`), one write transaction per
/// batch, reads in a read transaction renewed every 1,000 ops. LMDB has no cache of its own:
/// it reads through the OS page cache (mmap).
final class LMDBStore: BenchStore {
    let name = "lmdb"
    private let env: OpaquePointer
    fileprivate let dbi: MDB_dbi
    /// The read transaction between `beginReads` and `endReads` (kept reset in between).
    private var readTxn: OpaquePointer?

    /// Opens (creating) the environment in directory `path`.
    init(path: String, mapBytes: Int = 64 << 30) throws {
        var env: OpaquePointer?
        try Self.check(mdb_env_create(&env), "env_create")
        guard let env else { throw BenchError("lmdb: no environment") }
        self.env = env
        try Self.check(mdb_env_set_mapsize(env, mapBytes), "set_mapsize")
        try Self.check(mdb_env_open(env, path, UInt32(MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD), 0o644), "open \(path)")
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        var dbi: MDB_dbi = 0
        try Self.check(mdb_dbi_open(txn, nil, 0, &dbi), "dbi_open")
        try Self.check(mdb_txn_commit(txn), "commit")
        self.dbi = dbi
    }

    /// Throws for a non-zero LMDB return code.
    fileprivate static func check(_ code: Int32, _ operation: String) throws {
        guard code != 0 else { return }
        throw BenchError("lmdb: \(operation): \(String(cString: mdb_strerror(code)))")
    }

    /// Runs `body` in a new write transaction and commits it (aborts on error).
    private func write(_ body: (OpaquePointer?) throws -> Void) throws {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        do {
            try body(txn)
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try Self.check(mdb_txn_commit(txn), "commit")
    }

    func putBatch(_ indices: ArraySlice<Int32>, of dataset: Dataset) throws {
        try write { txn in
            try withUnsafeTemporaryAllocation(byteCount: Dataset.valueLength, alignment: 8) { value in
                for index in indices {
                    Dataset.writeValue(index: Int(index), into: value)
                    try Self.put(txn, dbi, dataset.keys[Int(index)], UnsafeRawBufferPointer(value))
                }
            }
        }
    }

    /// `mdb_put` of `key` = `value` in `txn`.
    fileprivate static func put(
        _ txn: OpaquePointer?, _ dbi: MDB_dbi, _ key: [UInt8], _ value: UnsafeRawBufferPointer
    ) throws {
        let code = key.withUnsafeBytes { key in
            var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            return mdb_put(txn, dbi, &k, &v, 0)
        }
        try check(code, "put")
    }

    func get(_ key: [UInt8]) throws -> Int? {
        let code: Int32
        var v = MDB_val()
        code = key.withUnsafeBytes { key in
            var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
            return mdb_get(readTxn, dbi, &k, &v)
        }
        if code == MDB_NOTFOUND { return nil }
        try Self.check(code, "get")
        return v.mv_size
    }

    func beginReads() throws {
        if let readTxn {
            try Self.check(mdb_txn_renew(readTxn), "txn_renew")
        } else {
            try Self.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &readTxn), "txn_begin")
        }
    }

    func endReads() throws {
        mdb_txn_reset(readTxn)
    }

    /// Runs `body` with a cursor in the current read transaction.
    private func withCursor<T>(_ txn: OpaquePointer?, _ body: (OpaquePointer?) throws -> T) throws -> T {
        var cursor: OpaquePointer?
        try Self.check(mdb_cursor_open(txn, dbi, &cursor), "cursor_open")
        defer { mdb_cursor_close(cursor) }
        return try body(cursor)
    }

    /// Positions `cursor` at the first key >= `target`; false past the end.
    private func seek(_ cursor: OpaquePointer?, _ target: [UInt8], _ k: inout MDB_val, _ v: inout MDB_val) throws -> Bool {
        let code = target.withUnsafeBytes { target in
            k = MDB_val(mv_size: target.count, mv_data: UnsafeMutableRawPointer(mutating: target.baseAddress))
            return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
        }
        return try found(code)
    }

    /// True for a cursor hit, false for `MDB_NOTFOUND`; throws for any other code.
    private func found(_ code: Int32) throws -> Bool {
        if code == MDB_NOTFOUND { return false }
        try Self.check(code, "cursor_get")
        return true
    }

    func list(_ prefix: [UInt8]) throws -> Int {
        try withCursor(readTxn) { cursor in
            var k = MDB_val(), v = MDB_val()
            var items = 0
            var more = try seek(cursor, prefix, &k, &v)
            while more {
                let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
                guard key.starts(with: prefix) else { break }
                items += 1
                if let cut = key[prefix.count...].firstIndex(of: UInt8(ascii: "/")) {
                    more = try seek(cursor, Array(key[..<cut]).pastSubtree, &k, &v)
                } else {
                    more = try found(mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
                }
            }
            return items
        }
    }

    func scan(pageSize: Int, page: (Int) -> Void) throws -> Int {
        try withCursor(readTxn) { cursor in
            var k = MDB_val(), v = MDB_val()
            var total = 0, inPage = 0
            var more = try found(mdb_cursor_get(cursor, &k, &v, MDB_FIRST))
            while more {
                total += 1
                inPage += 1
                if inPage == pageSize { page(inPage); inPage = 0 }
                more = try found(mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
            }
            if inPage > 0 { page(inPage) }
            return total
        }
    }

    /// Every key equal to `prefix` or below `prefix/`, with its value, read in `txn`.
    private func collect(_ txn: OpaquePointer?, prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        try withCursor(txn) { cursor in
            var k = MDB_val(), v = MDB_val()
            var result: [(key: [UInt8], value: [UInt8])] = []
            let children = prefix + [UInt8(ascii: "/")]
            var more = try seek(cursor, prefix, &k, &v)
            while more {
                let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
                guard key.starts(with: prefix) else { break }
                if key.elementsEqual(prefix) || key.starts(with: children) {
                    result.append((Array(key), Array(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))))
                }
                more = try found(mdb_cursor_get(cursor, &k, &v, MDB_NEXT))
            }
            return result
        }
    }

    func renamePrefix(from: [UInt8], to: [UInt8]) throws {
        try write { txn in
            for (key, value) in try collect(txn, prefix: from) {
                let code = key.withUnsafeBytes { key in
                    var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
                    return mdb_del(txn, dbi, &k, nil)
                }
                try Self.check(code, "del")
                try value.withUnsafeBytes { value in
                    try Self.put(txn, dbi, to + key[from.count...], value)
                }
            }
        }
    }

    func countKeys(withPrefix prefix: [UInt8]) throws -> Int {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "txn_begin")
        defer { mdb_txn_abort(txn) }
        return try collect(txn, prefix: prefix).count
    }

    /// Forces the dirty pages and meta page to disk (`mdb_env_sync(force)`).
    func settle(dataset: Dataset) throws {
        try Self.check(mdb_env_sync(env, 1), "env_sync")
    }

    /// Clears `MDB_NOSYNC`, so each commit is durable, after syncing what came before.
    func makeDurable(dataset: Dataset) throws {
        try Self.check(mdb_env_sync(env, 1), "env_sync")
        try Self.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 0), "set_flags")
    }

    func durableWriter() throws -> any DurableWriter {
        LMDBWriter(env: env, dbi: dbi)
    }

    /// Sets `MDB_NOSYNC` again (as at open), after syncing what came before.
    func makeUnsynced(dataset: Dataset) throws {
        try Self.check(mdb_env_sync(env, 1), "env_sync")
        try Self.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 1), "set_flags")
    }

    /// A read transaction of its own (`MDB_NOTLS`: not tied to the thread), renewed every 1,000 ops.
    func reader() throws -> any BenchReader {
        LMDBReader(env: env, dbi: dbi)
    }

    /// One write transaction per batch, committed under the environment's flags (`MDB_NOSYNC`).
    func batchWriter() throws -> any BatchWriter {
        LMDBBatchWriter(env: env, dbi: dbi)
    }

    func close() throws {
        if let readTxn { mdb_txn_abort(readTxn) }
        readTxn = nil
        mdb_env_close(env)
    }
}

/// A `durable-put` thread's writes: one durable write transaction per put (LMDB serializes
/// writers with its own mutex).
private final class LMDBWriter: DurableWriter, @unchecked Sendable {
    // @unchecked Sendable: immutable handles; LMDB lets any thread run its own write transaction.
    let env: OpaquePointer
    let dbi: MDB_dbi

    init(env: OpaquePointer, dbi: MDB_dbi) {
        self.env = env
        self.dbi = dbi
    }

    func put(_ key: [UInt8], _ value: [UInt8]) throws {
        var txn: OpaquePointer?
        try LMDBStore.check(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        do {
            try value.withUnsafeBytes { value in try LMDBStore.put(txn, dbi, key, value) }
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try LMDBStore.check(mdb_txn_commit(txn), "commit")
    }

    func close() {}
}

/// A fixed-time reader: gets in a read transaction of its own, reset and renewed by `endReads`
/// and `beginReads` (writers never wait for it, nor it for them).
private final class LMDBReader: BenchReader, @unchecked Sendable {
    // @unchecked Sendable: used by the one thread it was made for (`MDB_NOTLS` lets it be any thread).
    /// The store's environment.
    let env: OpaquePointer
    /// The store's database.
    let dbi: MDB_dbi
    /// The read transaction (kept reset between `endReads` and `beginReads`).
    private var txn: OpaquePointer?

    /// A reader of `dbi` in `env`; its transaction begins at the first `beginReads`.
    init(env: OpaquePointer, dbi: MDB_dbi) {
        self.env = env
        self.dbi = dbi
    }

    func get(_ key: [UInt8]) throws -> Int? {
        var v = MDB_val()
        let code = key.withUnsafeBytes { key in
            var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
            return mdb_get(txn, dbi, &k, &v)
        }
        if code == MDB_NOTFOUND { return nil }
        try LMDBStore.check(code, "get")
        return v.mv_size
    }

    func beginReads() throws {
        if let txn {
            try LMDBStore.check(mdb_txn_renew(txn), "txn_renew")
        } else {
            try LMDBStore.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "txn_begin")
        }
    }

    func endReads() throws {
        mdb_txn_reset(txn)
    }

    func close() {
        if let txn { mdb_txn_abort(txn) }
        txn = nil
    }
}

/// A fixed-time writer: one write transaction per batch (LMDB serializes writers with its own
/// mutex; readers never wait for it).
private final class LMDBBatchWriter: BatchWriter, @unchecked Sendable {
    // @unchecked Sendable: immutable handles; LMDB lets any thread run its own write transaction.
    /// The store's environment.
    let env: OpaquePointer
    /// The store's database.
    let dbi: MDB_dbi

    /// A writer of `dbi` in `env`.
    init(env: OpaquePointer, dbi: MDB_dbi) {
        self.env = env
        self.dbi = dbi
    }

    func putBatch(_ keys: [[UInt8]], value: [UInt8]) throws {
        var txn: OpaquePointer?
        try LMDBStore.check(mdb_txn_begin(env, nil, 0, &txn), "txn_begin")
        do {
            try value.withUnsafeBytes { value in
                for key in keys { try LMDBStore.put(txn, dbi, key, value) }
            }
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        try LMDBStore.check(mdb_txn_commit(txn), "commit")
    }

    func close() {}
}
