#if canImport(Glibc)
import Glibc
#endif

/// Reads committed records back out of the log's segment files, in LSN order, from any
/// position the files still hold: the change feed's history and its live tail are one path.
///
/// The reader keeps one segment open and an offset in it. It decodes only records at or below
/// the horizon it is given (`WriteAheadLog.waitForChanges`): those were written in full before
/// the horizon moved, so a record being written is never looked at. At the clean end of a
/// segment (its preallocated zeros, or the end of the file) the next record lies in the next
/// segment, which exists before any record is written to it (the log's invariant 3).
///
/// A segment the log removes (`trim`) while it is open here stays readable through the
/// descriptor. A segment gone before it was opened, a position before the oldest segment, or a
/// segment whose header declares skipped LSNs after the position is `changesNotHeld`: the
/// reader never steps over a missing batch.
///
/// Not thread-safe: its owner (`ChangeFeed`) serializes the calls.
final class LogReader {
    /// The log read from.
    let log: WriteAheadLog
    /// The last LSN read: the next record read has LSN `position + 1`.
    private(set) var position: UInt64
    /// The open segment's number (0: none open yet).
    private var segment: UInt64 = 0
    /// Its descriptor (-1: none).
    private var file: Int32 = -1
    /// The offset in it of the next record to decode.
    private var offset = 0
    /// Bytes read from the segment at `bufferStart`.
    private var buffer: [UInt8] = []
    /// The file offset of `buffer[0]`.
    private var bufferStart = 0
    /// `buffer` was read after the horizon of the current `read` was taken: every record up to
    /// that horizon in its range is in it.
    private var bufferFresh = false
    /// The read that filled `buffer` stopped at the end of the file.
    private var bufferReachedEnd = false
    /// How much one read asks for (more when a record is larger).
    static let readSize = 1 << 20

    /// A reader that returns the records after `position` first.
    init(log: WriteAheadLog, after position: UInt64) {
        self.log = log
        self.position = position
    }

    deinit {
        if file >= 0 { try? Syscall.close(file) }
    }

    /// The reader's error for a position the log does not hold.
    private func notHeld() -> HoltError {
        .changesNotHeld(after: position, heldAfter: log.heldAfter, lastLSN: log.feedHorizon)
    }

    /// Reads up to `limit` records after `position`, none past `horizon`, and moves past them.
    /// - Returns: Each record's LSN and payload (the caller's to keep), in LSN order.
    /// - Throws: `.changesNotHeld` (see the type's summary), `.corrupted` for a record at or
    ///   below the horizon that does not decode, `.io`.
    func read(horizon: UInt64, limit: Int) throws(HoltError) -> [(lsn: UInt64, payload: [UInt8])] {
        var records: [(lsn: UInt64, payload: [UInt8])] = []
        bufferFresh = false
        while records.count < limit && position < horizon {
            if file < 0 { try openSegment(holding: position + 1) }
            switch try decodeNext() {
            case .record(let lsn, let payload):
                if lsn <= position { continue }  // before the position, in the segment it starts in
                guard lsn == position + 1 else {
                    throw .corrupted(what: "log segment \(segment)", reason: "record \(lsn) follows record \(position)")
                }
                records.append((lsn, payload))
                position = lsn
            case .end:
                try openSegment(number: segment + 1)
            }
        }
        return records
    }

    /// What lies at `offset`.
    private enum Next {
        case record(lsn: UInt64, payload: [UInt8])
        /// The segment's clean end: zeros or the end of the file.
        case end
    }

    /// Decodes the record at `offset` (reading the file again when the buffer is stale or does
    /// not hold the record whole) and moves past it.
    private func decodeNext() throws(HoltError) -> Next {
        while true {
            let at = offset - bufferStart
            guard at >= 0, at + LogRecord.overhead <= buffer.count else {
                // Too few bytes: read again, unless a read made since the horizon was taken
                // reached the end of the file.
                if bufferFresh && bufferReachedEnd { return .end }
                try fill(atLeast: LogRecord.overhead)
                continue
            }
            let outcome = buffer.withUnsafeBytes { LogRecord.decode($0, at: at) }
            switch outcome {
            case .success(let record):
                offset += record.size
                return .record(lsn: record.lsn, payload: Array(buffer[record.payload]))
            case .failure(let failure):
                let magic = buffer.withUnsafeBytes { JournalBytes.load(UInt32.self, $0, at) }
                let length = buffer.withUnsafeBytes { Int(JournalBytes.load(UInt32.self, $0, at + 4)) }
                // Bytes read before the horizon was taken may hold a record half written (a
                // write in progress: zeros, or a torn copy): read again before judging them.
                if !bufferFresh {
                    try fill(atLeast: magic == LogRecord.magic && length <= LogRecord.maxPayload ? length + LogRecord.overhead : LogRecord.overhead)
                    continue
                }
                // Zeros in bytes read since: the segment's end.
                if magic == 0 { return .end }
                // A record longer than what was read: read it whole, then decode again.
                if magic == LogRecord.magic, length <= LogRecord.maxPayload, at + length + LogRecord.overhead > buffer.count,
                   !bufferReachedEnd {
                    try fill(atLeast: length + LogRecord.overhead)
                    continue
                }
                throw .corrupted(what: "log segment \(segment)", reason: "record \(position + 1) at offset \(offset): \(failure.reason)")
            }
        }
    }

    /// Reads the file from `offset`, at least `count` bytes when it has them.
    private func fill(atLeast count: Int) throws(HoltError) {
        let size = max(Self.readSize, count)
        buffer = try Self.read(file, count: size, offset: offset, log.path(ofSegment: segment))
        bufferStart = offset
        bufferFresh = true
        bufferReachedEnd = buffer.count < size
    }

    /// Opens the newest segment that starts at or before `lsn`, positioned at its first record.
    private func openSegment(holding lsn: UInt64) throws(HoltError) {
        guard position >= log.heldAfter else { throw notHeld() }
        let numbers = try WriteAheadLog.segmentNumbers(in: log.directory)
        for number in numbers.reversed() {
            guard let header = try header(of: number) else { continue }
            if header.previousLastLSN <= position {
                try openSegment(number: number)
                return
            }
        }
        throw notHeld()
    }

    /// Opens segment `number` in place of the open one, checking that it continues `position`.
    private func openSegment(number: UInt64) throws(HoltError) {
        if file >= 0 { try? Syscall.close(file) }
        file = -1
        buffer = []
        let path = log.path(ofSegment: number)
        let fd: Int32
        do throws(HoltError) {
            fd = try Syscall.open(path, flags: O_RDONLY)
        } catch {
            if case .io(let code, _) = error, code == ENOENT { throw notHeld() }
            throw error
        }
        let bytes: [UInt8]
        do throws(HoltError) { bytes = try Self.read(fd, count: LogSegment.headerSize, offset: 0, path) } catch {
            try? Syscall.close(fd)
            throw error
        }
        let header = bytes.count == LogSegment.headerSize
            ? try? JournalBytes.withBytes(bytes, { (raw) throws(HoltError) in try LogSegment.decode(raw) }) : nil
        guard let header, header.number == number else {
            try? Syscall.close(fd)
            throw .corrupted(what: "log segment \(number)", reason: "bad segment header")
        }
        // LSNs skipped (`setNextLSN`) after the position: batches the log does not hold.
        guard header.previousLastLSN <= position else {
            try? Syscall.close(fd)
            throw notHeld()
        }
        file = fd
        segment = number
        offset = LogSegment.headerSize
        bufferStart = offset
        bufferFresh = false
    }

    /// The header of segment `number`, or `nil` when the file is gone or its header is not intact.
    private func header(of number: UInt64) throws(HoltError) -> LogSegment? {
        let path = log.path(ofSegment: number)
        guard let fd = try? Syscall.open(path, flags: O_RDONLY) else { return nil }
        defer { try? Syscall.close(fd) }
        let bytes = try Self.read(fd, count: LogSegment.headerSize, offset: 0, path)
        guard bytes.count == LogSegment.headerSize else { return nil }
        return try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) in try LogSegment.decode(raw) }
    }

    /// Up to `count` bytes of `fd` at `offset` (fewer at the end of the file).
    private static func read(_ fd: Int32, count: Int, offset: Int, _ path: String) throws(HoltError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBytes { raw in
            Result { () throws(HoltError) -> Int in try Syscall.pread(fd, raw.baseAddress!, count: count, offset: offset, path) }
        }
        bytes.removeLast(count - (try result.get()))
        return bytes
    }
}
