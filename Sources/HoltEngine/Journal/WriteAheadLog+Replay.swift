#if canImport(Glibc)
import Glibc
#endif

/// Reading the log back at open: replay, torn-tail cutting, corruption detection.
///
/// The rule that tells a torn tail (cut it, the writes were never acknowledged) from damage
/// (refuse to open, something changed bytes that were durable):
/// 1. Only the last segment can have a torn tail: every earlier segment was durable in full
///    before the next one got a byte (invariant 3). Any bad record in it is corruption.
/// 2. In the last segment, at the first record that does not decode (bad magic, length past the
///    end, CRC mismatch), look at every intact record anywhere after it. If one of them carries a
///    durable mark `>=` the bad record's LSN, the bad record had been `fdatasync`ed before that
///    later record was even appended, so a crash cannot explain it: corruption. Otherwise the
///    bad record and everything after it lie in a region no `fdatasync` had completed on, which a
///    crash may leave in any state (the disk may even persist a later page before an earlier
///    one): a torn tail, cut off at the bad record, and reported.
/// 3. An intact record with the wrong LSN, a missing segment, or a segment header that does not
///    continue the one before is corruption.
/// Consequence: damage to a record that no later record vouches for (the last record, or a
/// record in the last unsynced group) is indistinguishable from a torn write and is cut.
extension WriteAheadLog {
    /// Replays the log: calls `body` with every record whose LSN is above `checkpoint`, in LSN
    /// order, cutting a torn tail (see the rule above). Call exactly once, after `open`, before
    /// any append; the next append then gets `lastLSN + 1` of the report.
    ///
    /// A new (empty) log starts at `checkpoint + 1`.
    /// - Parameters:
    ///   - checkpoint: The LSN the data file already reflects; records up to it are skipped.
    ///   - body: Applies one record (its LSN and payload; the payload is the caller's to keep).
    ///     An error it throws stops the replay and is rethrown.
    /// - Returns: What was replayed and what was cut.
    /// - Throws: `.corrupted(what: "log segment N", ...)` for damage before the tail, a missing
    ///   segment or records missing after the checkpoint; `.unsupportedFormat`; `.io`.
    func replay(after checkpoint: UInt64, _ body: (UInt64, [UInt8]) throws(HoltError) -> Void) throws(HoltError) -> ReplayReport {
        monitor.withLock {
            precondition(!state.replayed && !state.ioBusy && !state.closed, "WriteAheadLog.replay runs once, before anything else")
            state.ioBusy = true
        }
        do throws(HoltError) {
            let report = try scanSegments(after: checkpoint, body)
            monitor.withLock {
                state.nextLSN = report.lastLSN + 1
                state.writtenLSN = report.lastLSN
                state.durableLSN = report.lastLSN
                state.trimmedThrough = checkpoint
                updateBytesSinceTrim()
                state.room = io.allocated - io.size
                state.heldAfter = report.heldAfter
                state.replayed = true
                state.ioBusy = false
                monitor.broadcast()
            }
            return report
        } catch {
            monitor.withLock {
                if io.file >= 0 { try? Syscall.close(io.file) }
                io.file = -1
                state.failed = true
                state.ioBusy = false
                monitor.broadcast()
            }
            throw error
        }
    }

    /// The segment numbers in log directory `directory`, oldest first, checked to be consecutive.
    static func segmentNumbers(in directory: String) throws(HoltError) -> [UInt64] {
        let numbers = try Syscall.listDirectory(directory).compactMap(LogSegment.number(fromFileName:)).sorted()
        for (earlier, later) in zip(numbers, numbers.dropFirst()) where later != earlier + 1 {
            throw .corrupted(what: "log", reason: "segment \(earlier + 1) is missing between segments \(earlier) and \(later)")
        }
        return numbers
    }

    /// The replay proper, run by the I/O token holder: reads every segment, oldest first, and
    /// leaves `io` describing the segments with the last one open for appending.
    private func scanSegments(after checkpoint: UInt64, _ body: (UInt64, [UInt8]) throws(HoltError) -> Void) throws(HoltError) -> ReplayReport {
        var report = ReplayReport()
        var numbers = try Self.segmentNumbers(in: directory)
        if let last = numbers.last {
            let path = path(ofSegment: last)
            let fd = try Syscall.open(path, flags: O_RDONLY)
            defer { try? Syscall.close(fd) }
            if try Syscall.fileSize(fd) <= LogSegment.headerSize + chunkBytes {
                let bytes = try Syscall.readAll(fd, path)
                if try LogSegmentScan.isTornCreation(bytes) {
                    // A crash while the last segment was being created: it holds no record.
                    try Syscall.unlink(path)
                    try Syscall.fsyncDirectory(directory)
                    report.bytesCut += bytes.count
                    report.cutReason = "segment \(last) has a torn header (\(bytes.count) bytes); removed"
                    numbers.removeLast()
                }
            }
        }

        var previousLast: UInt64?
        for (index, number) in numbers.enumerated() {
            let isLast = index == numbers.count - 1
            let path = path(ofSegment: number)
            let fd = try Syscall.open(path, flags: isLast ? O_RDWR : O_RDONLY)
            var keepOpen = false
            defer { if !keepOpen { try? Syscall.close(fd) } }
            let bytes = try Syscall.readAll(fd, path)
            var allocated = bytes.count
            let scan = try LogSegmentScan.scan(
                bytes, number: number, isLast: isLast, previousLast: previousLast, checkpoint: checkpoint, body)
            report.recordsFound += scan.records
            report.recordsReplayed += scan.replayed
            if let damage = scan.tornTail {
                // A torn tail: cut it, and make the cut durable before anything is appended after it.
                try Syscall.truncate(fd, to: scan.end, path)
                allocated = scan.end
                report.bytesCut += bytes.count - scan.end
                report.cutReason = "log segment \(number): torn tail from \(damage); cut \(bytes.count - scan.end) bytes"
            }
            if isLast {
                // Whatever survived may sit only in the page cache (a process crash): make it
                // durable, so later records' durable marks tell the truth (invariant 4).
                try Syscall.fdatasync(fd, path)
                keepOpen = true
                io.file = fd
                io.current = scan.header
                io.size = scan.end
                io.allocated = allocated
                io.lastLSN = scan.lastLSN
                io.recordBytes = scan.recordBytes
            } else {
                io.older.append(OlderSegment(number: number, lastLSN: scan.lastLSN, recordBytes: scan.recordBytes))
            }
            if index == 0 { report.heldAfter = scan.header.previousLastLSN }
            previousLast = scan.lastLSN
            report.lastLSN = scan.lastLSN
            report.segments += 1
        }

        if numbers.isEmpty {
            let header = LogSegment(number: 1, firstLSN: checkpoint + 1, previousLastLSN: checkpoint)
            // Preallocated when the disk has room; else just the header (appends will ask again).
            var created = try createSegmentFile(header, bytes: initialSegmentBytes)
            if created == nil { created = try createSegmentFile(header, bytes: LogSegment.headerSize) }
            guard let fd = created else { throw .io(errno: ENOSPC, operation: "create log segment 1") }
            io.file = fd
            io.current = header
            io.size = LogSegment.headerSize
            io.allocated = max(try Syscall.fileSize(fd), LogSegment.headerSize)
            io.lastLSN = checkpoint
            io.recordBytes = 0
            report.lastLSN = checkpoint
            report.heldAfter = checkpoint
        }
        return report
    }
}
