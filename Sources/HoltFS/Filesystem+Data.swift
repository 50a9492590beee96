import HoltEngine

extension Filesystem {
    // MARK: Open and close

    /// Opens node `id` for reading or writing; returns the handle. The FUSE ops are `open` and
    /// (after `make`) `create`.
    ///
    /// A plain value opened for writing gets its record (and its real ino) first, so the open is
    /// counted under the ino that an unlink will look for.
    ///
    /// - Throws: `.isDirectory`, `.notFound`, `.engine`.
    func open(_ id: NodeID, writable: Bool = false) throws(FSError) -> UInt64 {
        if writable {
            try transact(.shared, { () throws(FSError) -> (Batch, UInt64?) in
                let current = try resolve(id)
                var batch = Batch()
                guard case .plain = current.storage else { return (batch, nil) }
                let (key, record) = try materialize(current, now: Self.now(), into: &batch)
                batch.put(key, record.encoded())
                return (batch, record.ino)
            }, committed: { ino in if let ino { nodes.setIno(id, ino: ino) } })
        }
        // Looked at and counted under the namespace lock: an unlink (which holds it exclusively)
        // commits either before the look (ENOENT) or after the count (it keeps an orphan).
        return try reading { () throws(FSError) -> UInt64 in
            let resolved = try resolve(id)
            guard !resolved.isDirectory else { throw .isDirectory }
            let ino = attributes(of: resolved).ino
            openFiles.withLock { $0[ino, default: 0] += 1 }
            return handles.openFile(.init(node: id, ino: ino))
        }
    }

    /// Opens the regular file `make` just created as node `id` with inode `ino`; returns the
    /// handle. The FUSE op is `create` (its open half).
    ///
    /// Nothing is read: the kernel holds the parent directory locked until `create` is answered,
    /// so no unlink or rename can reach the new name before the open is counted.
    func openCreated(_ id: NodeID, ino: UInt64) -> UInt64 {
        openFiles.withLock { $0[ino, default: 0] += 1 }
        return handles.openFile(.init(node: id, ino: ino))
    }

    /// Drops one open of `ino`; returns whether it was the last.
    @discardableResult
    private func uncount(_ ino: UInt64) -> Bool {
        openFiles.withLock { open -> Bool in
            let count = open[ino, default: 1] - 1
            open[ino] = count > 0 ? count : nil
            return count <= 0
        }
    }

    /// Closes file handle `handle`; the last close of an unlinked file drops its orphan record and
    /// data. The FUSE op is `release`.
    ///
    /// The count drops under the namespace lock, so an unlink (exclusive) saw the file either open
    /// (and marked it in `orphanedInodes` before this looks) or closed (and discarded its data
    /// itself): an orphan is never left behind until the next mount. The discard is exclusive
    /// too, and skipped when the file was opened again meanwhile (through `/proc/PID/fd`).
    func release(_ handle: UInt64) throws(FSError) {
        guard let file = handles.closeFile(handle) else { return }
        let orphaned = try reading { () -> Bool in
            // Only an ino unlinked while open can have an orphan record: skip the engine otherwise.
            uncount(file.ino) && orphanedInodes.withLock { $0.contains(file.ino) }
        }
        guard orphaned else { return }
        let orphanKey = ReservedKeys.orphan(file.ino)
        let discarded = try transact(.exclusive, { () throws(FSError) -> (Batch, Bool) in
            var batch = Batch()
            guard openFiles.withLock({ $0[file.ino] == nil }),
                let bytes = try get(orphanKey), let record = try decodeRecord(bytes, at: orphanKey)
            else { return (batch, false) }
            batch.guardValue(orphanKey, bytes)
            batch.delete(orphanKey)
            try discardStorage(of: record, into: &batch)
            return (batch, true)
        }, committed: { _ in
            if openFiles.withLock({ $0[file.ino] == nil }) { orphanedInodes.withLock { _ = $0.remove(file.ino) } }
        })
        if discarded { try sweepGarbage() }
    }

    // MARK: Reading

    /// Up to `size` bytes of file `id` from `offset`; fewer at the end of the file. The FUSE op is
    /// `read`. Holes read as zeros.
    ///
    /// - Throws: `.isDirectory`, `.invalidArgument` for a node without data, `.notFound`, `.engine`.
    func read(_ id: NodeID, offset: UInt64, size: Int) throws(FSError) -> [UInt8] {
        try reading { () throws(FSError) -> [UInt8] in try readLocked(id, offset: offset, size: size) }
    }

    /// `read` with the namespace lock held.
    private func readLocked(_ id: NodeID, offset: UInt64, size: Int) throws(FSError) -> [UInt8] {
        let resolved = try resolve(id)
        switch resolved.storage {
        case .prefix:
            throw .isDirectory
        case .plain(let value):
            guard offset < UInt64(value.count) else { return [] }
            let start = Int(offset)
            return Array(value[start..<min(value.count, start + size)])
        case .record(_, _, let record):
            guard record.kind == .regular else { throw record.kind == .directory ? .isDirectory : .invalidArgument }
            guard offset < record.size, size > 0 else { return [] }
            let end = min(record.size, offset + UInt64(size))
            let length = Int(end - offset)
            if !record.isChunked {
                var out = [UInt8](repeating: 0, count: length)
                let data = record.inlineData
                if offset < UInt64(data.count) {
                    let available = min(data.count - Int(offset), length)
                    out.replaceSubrange(0..<available, with: data[Int(offset)..<Int(offset) + available])
                }
                return out
            }
            var out = [UInt8](repeating: 0, count: length)
            let chunk = UInt64(Self.chunkSize)
            var index = offset / chunk
            while index * chunk < end {
                let chunkStart = index * chunk
                if let stored = try get(ReservedKeys.chunk(record.ino, index)) {
                    let from = max(offset, chunkStart), to = min(end, chunkStart + UInt64(stored.count))
                    if from < to {
                        let source = Int(from - chunkStart)..<Int(to - chunkStart)
                        let target = Int(from - offset)..<Int(to - offset)
                        out.replaceSubrange(target, with: stored[source])
                    }
                }
                index += 1
            }
            return out
        }
    }

    // MARK: Writing

    /// Writes `data` at `offset` of file `id`; returns how many bytes were written. The FUSE op is
    /// `write`.
    ///
    /// One batch holds the touched chunks (or the new inline data) and the record with its new
    /// size, mtime and ctime; a write past the end also deletes the stale chunks of the gap it
    /// leaves (first, in batches of their own, when one batch would not hold them). A write by
    /// anyone but root clears setuid and (with group execute) setgid. A plain value gets a record
    /// first.
    ///
    /// - Throws: `.fileTooLarge` past the maximum size, `.isDirectory`, `.invalidArgument`,
    ///   `.notFound`, `.engine`.
    func write(_ id: NodeID, offset: UInt64, data: [UInt8], caller: Caller) throws(FSError) -> Int {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(data.count))
        guard !overflow, end <= maxFileSize else { throw .fileTooLarge }
        if data.isEmpty { return 0 }
        return try transactGrowing { () throws(FSError) -> (Batch, GrowOutcome<Int>) in
            let resolved = try resolve(id)
            guard resolved.kind == .regular else { throw resolved.isDirectory ? .isDirectory : .invalidArgument }
            let now = Self.now()
            var batch = Batch()
            var (key, record) = try materialize(resolved, now: now, into: &batch)
            let newSize = max(record.size, end)
            if !record.isChunked, newSize <= UInt64(Self.inlineLimit) {
                var inline = record.inlineData
                if inline.count < Int(end) { inline += [UInt8](repeating: 0, count: Int(end) - inline.count) }
                inline.replaceSubrange(Int(offset)..<Int(end), with: data)
                record.inlineData = inline
            } else {
                // The chunks between the old end and the first one written come inside the file.
                let firstWritten = offset / UInt64(Self.chunkSize)
                if let blocking = try deleteStaleChunks(of: record, at: key, below: firstWritten, into: &batch) {
                    return (Batch(), .blocked(blocking))
                }
                var chunks = try convertToChunks(&record, into: &batch)
                try writeChunks(record.ino, offset: offset, data: data, oldSize: record.size, chunks: &chunks, into: &batch)
                for (index, bytes) in chunks { batch.put(ReservedKeys.chunk(record.ino, index), bytes) }
            }
            record.size = newSize
            record.mtime = now
            record.ctime = now
            if caller.uid != 0 { Self.killPrivileges(&record) }
            batch.put(key, record.encoded())
            return (batch, .done(data.count))
        }
    }

    /// Clears setuid, and setgid when group execute is set (a write or truncate by a non-root caller).
    static func killPrivileges(_ record: inout InodeRecord) {
        record.mode &= ~UInt32(0o4000)
        if record.mode & 0o010 != 0 { record.mode &= ~UInt32(0o2000) }
    }

    /// Makes an inline record chunked: its inline data becomes chunk 0 (returned as pending).
    /// An inline record has no chunk keys (only a truncate to 0 makes a chunked file inline, and
    /// it moves them all away), so chunk 0 is guarded absent.
    func convertToChunks(_ record: inout InodeRecord, into batch: inout Batch) throws(FSError) -> [UInt64: [UInt8]] {
        guard !record.isChunked else { return [:] }
        record.isChunked = true
        let inline = record.inlineData
        record.inlineData = []
        guard !inline.isEmpty else { return [:] }
        batch.guardValue(ReservedKeys.chunk(record.ino, 0), nil)
        return [0: inline]
    }

    /// Applies `data` at `offset` to the chunks of `ino`, reading (and guarding) each touched chunk
    /// not already pending, unless the write covers it whole or it starts at or past the old size
    /// `oldSize`: such a chunk is absent or stale, and its put replaces it whole.
    private func writeChunks(
        _ ino: UInt64, offset: UInt64, data: [UInt8], oldSize: UInt64, chunks: inout [UInt64: [UInt8]],
        into batch: inout Batch
    ) throws(FSError) {
        let chunk = UInt64(Self.chunkSize)
        let end = offset + UInt64(data.count)
        var index = offset / chunk
        while index * chunk < end {
            let chunkStart = index * chunk
            let from = max(offset, chunkStart), to = min(end, chunkStart + chunk)
            var bytes: [UInt8]
            if let pending = chunks[index] {
                bytes = pending
            } else if from == chunkStart, to == chunkStart + chunk {
                bytes = []  // the write covers the whole chunk: its old bytes do not matter
            } else if chunkStart >= oldSize {
                // Past the old end a chunk is absent or stale (a truncate's leftover, never read):
                // zeros up to the data, and the put overwrites whatever is there.
                bytes = []
            } else if let put = batch.lastPut(of: ReservedKeys.chunk(ino, index)) {
                bytes = put  // a plain value's chunk, put by `materialize` in this batch
            } else {
                let key = ReservedKeys.chunk(ino, index)
                let stored = try get(key)
                batch.guardValue(key, stored)
                bytes = stored ?? []
            }
            let needed = Int(to - chunkStart)
            if bytes.count < needed { bytes += [UInt8](repeating: 0, count: needed - bytes.count) }
            bytes.replaceSubrange(Int(from - chunkStart)..<needed, with: data[Int(from - offset)..<Int(to - offset)])
            chunks[index] = bytes
            index += 1
        }
    }
}
