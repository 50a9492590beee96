#if canImport(Glibc)
import Glibc
#endif

/// Starting segments, trimming old ones, and skipping LSNs.
extension WriteAheadLog {
    /// Creates the file of segment `header.number`, `bytes` long (preallocated: zeros past the
    /// header, which writing records into cannot fail for want of space), header written and
    /// `fdatasync`ed, directory fsynced. A crash leaves either no file, or one without an intact
    /// header and with only zeros after it (which replay removes as a torn creation), or one with
    /// an intact header. Failpoints `wal.afterSegmentCreate` (between the create and the
    /// allocation) and `wal.beforeAllocate`.
    /// - Returns: the open descriptor, positioned for records at `LogSegment.headerSize`; `nil`
    ///   when the disk is full (`ENOSPC`/`EDQUOT` before the header was synced): the file was
    ///   removed again and the log may go on as if nothing had been tried.
    /// - Throws: `.io` for any other failure, and for any failure of a sync (the log must fail).
    func createSegmentFile(_ header: LogSegment, bytes: Int) throws(HoltError) -> Int32? {
        let path = path(ofSegment: header.number)
        let fd: Int32
        do throws(HoltError) {
            fd = try Syscall.open(path, flags: O_RDWR | O_CREAT | O_EXCL)
        } catch {
            if Syscall.isOutOfSpace(error) { return nil }  // no inode: no file either
            throw error
        }
        do throws(HoltError) {
            try Failpoints.hit("wal.afterSegmentCreate")
            try Failpoints.hit("wal.beforeAllocate")
            try Syscall.allocate(fd, offset: 0, length: max(bytes, LogSegment.headerSize), path)
            try JournalBytes.withBytes(header.encoded()) { (bytes) throws(HoltError) in
                try Syscall.pwrite(fd, bytes, offset: 0, path)
            }
        } catch {
            try? Syscall.close(fd)
            guard Syscall.isOutOfSpace(error) else { throw error }
            // Nothing synced yet: take the file back, durably, so that a crash cannot bring back a
            // segment the records appended next (into the current one) would contradict.
            try Syscall.unlink(path)
            try Syscall.fsyncDirectory(directory)
            return nil
        }
        do throws(HoltError) {
            try Syscall.fdatasync(fd, path)
            try Syscall.fsyncDirectory(directory)
        } catch {
            try? Syscall.close(fd)
            throw error
        }
        return fd
    }

    /// Closes the current segment (which must be durable already: invariant 3) and makes a new
    /// one, numbered next and `bytes` long (preallocated), current. Called by the I/O token holder.
    /// - Returns: `false` when the disk is full: nothing changed.
    /// - Throws: `.io` when creating the segment failed otherwise (the log must fail).
    func startSegment(firstLSN: UInt64, previousLastLSN: UInt64, bytes: Int) throws(HoltError) -> Bool {
        let header = LogSegment(number: io.current.number + 1, firstLSN: firstLSN, previousLastLSN: previousLastLSN)
        guard let fd = try createSegmentFile(header, bytes: bytes) else { return false }
        io.older.append(OlderSegment(number: io.current.number, lastLSN: io.lastLSN, recordBytes: io.recordBytes))
        try? Syscall.close(io.file)
        io.file = fd
        io.current = header
        io.size = LogSegment.headerSize
        io.allocated = max(bytes, LogSegment.headerSize)
        io.lastLSN = firstLSN - 1
        io.recordBytes = 0
        monitor.withLock { state.statistics.segmentsStarted += 1 }
        return true
    }

    /// Starts a new segment now (buffered records are written and synced into the one closed):
    /// every record appended so far then lies in older segments, which a later
    /// `trim(through:)` of the last of them drops whole. A checkpoint rolls the log when it
    /// captures the tree, so the batches applied while it writes do not keep its trim from
    /// dropping what it covers. A trim that drops nothing (no LSN is 0).
    /// - Throws: what `trim` throws.
    func roll() throws(HoltError) {
        try trim(through: 0)
    }

    /// Drops the log up to a checkpoint: starts a new segment and removes every segment whose
    /// records all have an LSN `<= lsn`, oldest first, then fsyncs the directory.
    ///
    /// Buffered records are written and synced first (they go to the segment being closed). When
    /// the disk is too full for the new segment, the current one stays current (and on disk) and
    /// only older segments are removed: a later trim drops it.
    /// Failpoints `wal.beforeTrim` (before the new segment) and `wal.afterTrim` (after the removals).
    ///
    /// Change-feed retention: a segment holding a record after `floor` (the oldest position a
    /// registered consumer or an open feed still needs) is kept although the checkpoint covers
    /// it, as long as the segments kept that way hold at most `retentionBytes` of records; past
    /// that the oldest go anyway and `heldAfter` rises past the consumer's position, which then
    /// gets `HoltError.changesNotHeld` (never a silent gap).
    /// - Parameters:
    ///   - lsn: The checkpoint's LSN: every record up to it is in the data file.
    ///   - floor: Records after this LSN are still wanted by change-feed readers (`.max`: none are).
    ///   - retentionBytes: The most record bytes kept only for change-feed readers.
    /// - Throws: `.io` (the log is then failed), `.previousIOFailure`, `.closed`.
    func trim(through lsn: UInt64, keepingAfter floor: UInt64 = .max, retentionBytes: Int = 0) throws(HoltError) {
        monitor.lock()
        defer { monitor.unlock() }
        while state.ioBusy { monitor.wait() }
        guard !state.closed else { throw .closed }
        guard !state.failed else { throw .previousIOFailure }
        precondition(state.replayed, "WriteAheadLog.replay must run before trim")
        var removed = 0
        try writeBuffered(sync: true) { () throws(HoltError) in
            try Failpoints.hit("wal.beforeTrim")
            if io.lastLSN >= io.current.firstLSN {
                _ = try startSegment(firstLSN: io.lastLSN + 1, previousLastLSN: io.lastLSN, bytes: initialSegmentBytes)
            }
            // Segments a change-feed consumer still needs (records after `floor`) stay, as long
            // as what stays only for consumers is within `retentionBytes` (oldest go first).
            var retained = io.older.reduce(0) { $0 + ($1.lastLSN <= lsn ? $1.recordBytes : 0) }
            while let oldest = io.older.first, oldest.lastLSN <= lsn {
                if oldest.lastLSN > floor && retained <= retentionBytes { break }
                // Raised before the file goes: a feed reader that then finds no file knows why.
                monitor.withLock { state.heldAfter = max(state.heldAfter, oldest.lastLSN) }
                try Syscall.unlink(path(ofSegment: oldest.number))
                io.older.removeFirst()
                retained -= oldest.recordBytes
                removed += 1
            }
            if removed > 0 { try Syscall.fsyncDirectory(directory) }
            try Failpoints.hit("wal.afterTrim")
        }
        // The token is free again but `io` is only changed by a token holder, and nobody can
        // take the token while we hold the monitor.
        state.statistics.segmentsRemoved += removed
        state.trimmedThrough = max(state.trimmedThrough, lsn)
        updateBytesSinceTrim()
        state.room = io.allocated - io.size - state.pending.count
    }

    /// Makes the next append get an LSN of at least `lsn`: for a tree whose checkpoint is ahead
    /// of the log's last record. A skip starts a new segment whose header declares it (so replay
    /// tells it from lost records). Does nothing when the next LSN is already `>= lsn`.
    /// - Throws: `.io` (the log is then failed, except for `ENOSPC` creating the segment),
    ///   `.previousIOFailure`, `.closed`.
    func setNextLSN(atLeast lsn: UInt64) throws(HoltError) {
        monitor.lock()
        defer { monitor.unlock() }
        while state.ioBusy { monitor.wait() }
        guard !state.closed else { throw .closed }
        guard !state.failed else { throw .previousIOFailure }
        precondition(state.replayed, "WriteAheadLog.replay must run before setNextLSN")
        guard lsn > state.nextLSN else { return }
        var started = false
        try writeBuffered(sync: true) { () throws(HoltError) in
            started = try startSegment(firstLSN: lsn, previousLastLSN: io.lastLSN, bytes: initialSegmentBytes)
        }
        guard started else { throw .io(errno: ENOSPC, operation: "create log segment \(io.current.number + 1)") }
        state.room = io.allocated - io.size - state.pending.count
        state.nextLSN = lsn
        state.writtenLSN = lsn - 1
        state.durableLSN = lsn - 1
    }
}
