import HoltEngine

/// The stale chunks of one file: chunk keys at or past the file's first chunk wholly past its end
/// (`Filesystem.firstChunkPast(size)`), up to chunk `end`.
///
/// A truncate commits the new size first and deletes the chunks past it afterwards, a bounded
/// batch at a time, so a crash (or a lost race) can leave such keys behind. Nothing reads them:
/// reads stop at the size. Whatever makes the file grow over them deletes them first (a write
/// with a gap, a truncate up) or replaces them whole (a write into one); an unlink moves them to
/// the garbage keyspace with the rest of the file's data. See docs/DESIGN.md, "Stale chunks".
struct StaleChunks: Sendable, Equatable {
    /// Where the file's inode record is: its path, `/i/<ino>` or `/o/<ino>`.
    var recordKey: [UInt8]
    /// The file's ino.
    var ino: UInt64
    /// The first chunk index past the range, or nil for every stale chunk.
    var end: UInt64?
}

/// What one attempt at a change that may grow a file over stale chunks came to.
enum GrowOutcome<Result> {
    /// The change is in the attempt's batch; `Result` is what it returns.
    case done(Result)
    /// The attempt's batch is empty: more stale chunks lie where the file grows than one batch
    /// deletes. They go first (`deleteStaleChunks`), then the change is tried again.
    case blocked(StaleChunks)
}

extension Filesystem {
    /// The most chunk deletes one batch holds (a truncate's size batch, a stale-chunk cleanup, a
    /// write or truncate up over stale chunks), so no batch holds the engine's lock for long.
    static let maxDeletesPerBatch = 256

    /// The index of the first chunk wholly past `size` bytes: ceil(size / chunkSize). From it on,
    /// every chunk of a file of that size is stale.
    static func firstChunkPast(_ size: UInt64) -> UInt64 {
        let chunk = UInt64(chunkSize)
        return size / chunk + (size % chunk == 0 ? 0 : 1)
    }

    /// The keys of the chunks of `ino` with index `first` up to (not including) `end` (nil: no
    /// bound), in order, at most `limit`.
    func chunkKeys(_ ino: UInt64, from first: UInt64, below end: UInt64?, limit: Int) throws(FSError) -> [[UInt8]] {
        if let end, first >= end { return [] }
        guard first < 1 << 32 else { return [] }
        let query = RangeQuery(
            prefix: ReservedKeys.dataPrefix(ino) + [UInt8(ascii: "/")],
            startAfter: first == 0 ? nil : ReservedKeys.chunk(ino, first - 1), limit: limit)
        let endKey = end.flatMap { $0 < 1 << 32 ? ReservedKeys.chunk(ino, $0) : nil }
        var keys: [[UInt8]] = []
        do {
            try tree.forEach(query) { item in
                if let endKey, !item.key.lexicographicallyPrecedes(endKey) { return false }
                keys.append([UInt8](item.key))
                return true
            }
        } catch {
            throw .engine(error)
        }
        return keys
    }

    /// Adds to `batch` the deletes of the stale chunks of `record` (read at `recordKey`, guarded
    /// in `batch`) below chunk `end`, which the change in `batch` brings inside the file.
    ///
    /// - Returns: nil, or (adding nothing) those chunks when they are more than one batch
    ///   deletes: the caller's attempt answers `.blocked` with them.
    func deleteStaleChunks(
        of record: InodeRecord, at recordKey: [UInt8], below end: UInt64, into batch: inout Batch
    ) throws(FSError) -> StaleChunks? {
        guard record.isChunked else { return nil }  // an inline file has no chunk keys at all
        let first = Self.firstChunkPast(record.size)
        guard first < end else { return nil }
        let keys = try chunkKeys(record.ino, from: first, below: end, limit: Self.maxDeletesPerBatch + 1)
        guard keys.count <= Self.maxDeletesPerBatch else { return StaleChunks(recordKey: recordKey, ino: record.ino, end: end) }
        for key in keys { batch.delete(key) }
        return nil
    }

    /// Deletes the chunks `stale` names, at most `maxDeletesPerBatch` per batch, each batch guarded
    /// on the inode record as read just before it (so each deletes only chunks past the end of the
    /// file as it is when the batch commits). After a lost race it reads the record again and goes
    /// on from its new end; it stops when no stale chunk is left in the range, when the record is
    /// gone or holds another file, or after `maxAttempts` lost races (what is left is harmless).
    func deleteStaleChunks(_ stale: StaleChunks) throws(FSError) {
        var races = 0
        while races < Self.maxAttempts {
            guard let bytes = try get(stale.recordKey), let record = try decodeRecord(bytes, at: stale.recordKey),
                record.kind == .regular, record.ino == stale.ino, record.isChunked
            else { return }
            let keys = try chunkKeys(
                record.ino, from: Self.firstChunkPast(record.size), below: stale.end, limit: Self.maxDeletesPerBatch)
            if keys.isEmpty { return }
            var batch = Batch()
            batch.guardValue(stale.recordKey, bytes)
            for key in keys { batch.delete(key) }
            if try commit(batch) {
                if keys.count < Self.maxDeletesPerBatch { return }
            } else {
                races += 1
            }
        }
    }

    /// `transact(body)` for a change that may grow a file over stale chunks: while an attempt is
    /// blocked by more of them than one batch deletes, deletes them in bounded batches and tries
    /// again. Returns the result of the attempt that committed.
    func transactGrowing<Result>(_ body: () throws(FSError) -> (Batch, GrowOutcome<Result>)) throws(FSError) -> Result {
        for _ in 0..<Self.maxAttempts {
            switch try transact(.shared, body) {
            case .done(let result): return result
            case .blocked(let stale): try deleteStaleChunks(stale)
            }
        }
        throw .busy
    }
}
