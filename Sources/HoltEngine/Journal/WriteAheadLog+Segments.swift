#if canImport(Glibc)
import Glibc
#endif

/// Starting segments, trimming old ones, and skipping LSNs.
extension WriteAheadLog {
    /// Creates the file of segment `header.number`: header written and `fdatasync`ed, directory
    /// fsynced, so a crash leaves either no file, or one no longer than a header and without an
    /// intact one (which replay removes), or one with an intact header. Failpoint
    /// `wal.afterSegmentCreate` stands between the create and the header write.
    /// - Returns: the open descriptor, positioned for records at `LogSegment.headerSize`.
    func createSegmentFile(_ header: LogSegment) throws(HoltError) -> Int32 {
        let path = path(ofSegment: header.number)
        let fd = try JournalIO.open(path, O_RDWR | O_CREAT | O_EXCL)
        do throws(HoltError) {
            try Failpoints.hit("wal.afterSegmentCreate")
            try JournalBytes.withBytes(header.encoded()) { (bytes) throws(HoltError) in
                try JournalIO.writeAll(fd, bytes, at: 0, path: path)
            }
            try JournalIO.dataSync(fd, path: path)
            try JournalIO.syncDirectory(directory)
        } catch {
            JournalIO.close(fd)
            throw error
        }
        return fd
    }

    /// Closes the current segment (which must be durable already: invariant 3) and makes a new
    /// one, numbered next, current. Called by the I/O token holder.
    func startSegment(firstLSN: UInt64, previousLastLSN: UInt64) throws(HoltError) {
        let header = LogSegment(number: io.current.number + 1, firstLSN: firstLSN, previousLastLSN: previousLastLSN)
        let fd = try createSegmentFile(header)
        io.older.append(OlderSegment(number: io.current.number, lastLSN: io.lastLSN, recordBytes: io.recordBytes))
        JournalIO.close(io.file)
        io.file = fd
        io.current = header
        io.size = LogSegment.headerSize
        io.lastLSN = firstLSN - 1
        io.recordBytes = 0
        monitor.withLock { state.statistics.segmentsStarted += 1 }
    }

    /// Drops the log up to a checkpoint: starts a new segment and removes every segment whose
    /// records all have an LSN `<= lsn`, oldest first, then fsyncs the directory.
    ///
    /// Buffered records are written and synced first (they go to the segment being closed).
    /// Failpoints `wal.beforeTrim` (before the new segment) and `wal.afterTrim` (after the removals).
    /// - Parameter lsn: The checkpoint's LSN: every record up to it is in the data file.
    /// - Throws: `.io` (the log is then failed), `.previousIOFailure`, `.closed`.
    func trim(through lsn: UInt64) throws(HoltError) {
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
                try startSegment(firstLSN: io.lastLSN + 1, previousLastLSN: io.lastLSN)
            }
            while let oldest = io.older.first, oldest.lastLSN <= lsn {
                try JournalIO.remove(path(ofSegment: oldest.number))
                io.older.removeFirst()
                removed += 1
            }
            if removed > 0 { try JournalIO.syncDirectory(directory) }
            try Failpoints.hit("wal.afterTrim")
        }
        // The token is free again but `io` is only changed by a token holder, and nobody can
        // take the token while we hold the monitor.
        state.statistics.segmentsRemoved += removed
        state.bytesSinceTrim = io.older.reduce(io.recordBytes) { $0 + $1.recordBytes } + state.pending.count
    }

    /// Makes the next append get an LSN of at least `lsn`: for a tree whose checkpoint is ahead
    /// of the log's last record. A skip starts a new segment whose header declares it (so replay
    /// tells it from lost records). Does nothing when the next LSN is already `>= lsn`.
    /// - Throws: `.io` (the log is then failed), `.previousIOFailure`, `.closed`.
    func setNextLSN(atLeast lsn: UInt64) throws(HoltError) {
        monitor.lock()
        defer { monitor.unlock() }
        while state.ioBusy { monitor.wait() }
        guard !state.closed else { throw .closed }
        guard !state.failed else { throw .previousIOFailure }
        precondition(state.replayed, "WriteAheadLog.replay must run before setNextLSN")
        guard lsn > state.nextLSN else { return }
        try writeBuffered(sync: true) { () throws(HoltError) in
            try startSegment(firstLSN: lsn, previousLastLSN: io.lastLSN)
        }
        state.nextLSN = lsn
        state.writtenLSN = lsn - 1
        state.durableLSN = lsn - 1
    }
}
