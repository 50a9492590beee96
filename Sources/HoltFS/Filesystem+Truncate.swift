import HoltEngine

extension Filesystem {
    /// Adds to `batch` the resize of `record` (read at `recordKey`, guarded in `batch`) to `size`
    /// and updates `record.size`. The FUSE op is `setattr` with a size (truncate).
    ///
    /// - To 0: the whole data prefix moves to the garbage keyspace (one op, whatever the size).
    /// - Smaller: the tail of the chunk the new end falls in is cut, and at most
    ///   `maxDeletesPerBatch` chunks past the end are deleted; any others are stale until
    ///   `deleteStaleChunks` deletes them after this batch commits.
    /// - Larger: a hole; stale chunks where the file grows are deleted (the file never shows
    ///   them), in this batch when one batch holds them.
    ///
    /// - Returns: `.done(nil)`; `.done(stale)` when stale chunks may remain past the new end (to
    ///   delete once the batch committed); `.blocked` (nothing added) when growing needs more
    ///   stale chunks deleted than one batch holds.
    /// - Throws: `.fileTooLarge` past the maximum size, `.engine`.
    func resize(
        _ record: inout InodeRecord, at recordKey: [UInt8], to size: UInt64, into batch: inout Batch
    ) throws(FSError) -> GrowOutcome<StaleChunks?> {
        guard size <= maxFileSize else { throw .fileTooLarge }
        if !record.isChunked {
            if size <= UInt64(Self.inlineLimit) {
                if record.inlineData.count > Int(size) { record.inlineData.removeLast(record.inlineData.count - Int(size)) }
            } else {
                if record.inlineData.count > Int(min(size, record.size)) {
                    record.inlineData.removeLast(record.inlineData.count - Int(min(size, record.size)))
                }
                let pending = try convertToChunks(&record, into: &batch)
                for (index, bytes) in pending { batch.put(ReservedKeys.chunk(record.ino, index), bytes) }
            }
            record.size = size
            return .done(nil)
        }
        var stale: StaleChunks? = nil
        if size == 0 {
            // All chunks go at once, at a cost independent of the file's size (swept later).
            let data = ReservedKeys.dataPrefix(record.ino)
            do {
                if try tree.hasKeys(withPrefix: data + [UInt8(ascii: "/")]) {
                    batch.renamePrefix(
                        from: data, to: ReservedKeys.garbage(record.ino, UInt8(ascii: "d"), nonce: Self.garbageNonce()),
                        else: .busy)
                }
            } catch {
                throw .engine(error)
            }
            record.isChunked = false
        } else if size > record.size {
            if let blocking = try deleteStaleChunks(of: record, at: recordKey, below: Self.firstChunkPast(size), into: &batch) {
                return .blocked(blocking)
            }
        } else if size < record.size {
            try cutChunk(of: record, at: size, into: &batch)
            let keys = try chunkKeys(record.ino, from: Self.firstChunkPast(size), below: nil, limit: Self.maxDeletesPerBatch)
            for key in keys { batch.delete(key) }
            if keys.count == Self.maxDeletesPerBatch { stale = StaleChunks(recordKey: recordKey, ino: record.ino, end: nil) }
        }
        record.size = size
        return .done(stale)
    }

    /// Adds to `batch` the cut of the bytes at and past `size` from the chunk of `record` that
    /// `size` falls inside (none when `size` is a chunk boundary), so the chunk holds nothing past
    /// the new end: a later growth shows zeros there.
    private func cutChunk(of record: InodeRecord, at size: UInt64, into batch: inout Batch) throws(FSError) {
        let chunk = UInt64(Self.chunkSize)
        guard size % chunk != 0 else { return }
        let index = size / chunk
        let keep = Int(size - index * chunk)
        let key = ReservedKeys.chunk(record.ino, index)
        if let put = batch.lastPut(of: key) {
            // A plain value's chunk, put by `materialize` in this batch.
            if put.count > keep { batch.put(key, Array(put[..<keep])) }
        } else if let stored = try get(key), stored.count > keep {
            batch.guardValue(key, stored)
            batch.put(key, Array(stored[..<keep]))
        }
    }
}
