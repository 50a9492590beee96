/// What one segment file's bytes hold: the checks of replay, as a pure function of the bytes
/// (no I/O), shared by `WriteAheadLog.replay` and `WriteAheadLog.verify`.
///
/// The torn-tail rule it applies is written down in `WriteAheadLog+Replay.swift` and
/// docs/FORMAT.md ("Replay and the torn-tail rule").
struct LogSegmentScan {
    /// The segment's header.
    var header: LogSegment
    /// The offset just past the last intact record: where the file should end.
    var end: Int
    /// The last LSN the segment accounts for (its last intact record's, or `firstLSN - 1`).
    var lastLSN: UInt64
    /// The bytes of its intact records.
    var recordBytes = 0
    /// Its intact records.
    var records = 0
    /// Those passed to the body (LSN above the checkpoint).
    var replayed = 0
    /// Why the bytes from `end` on are a torn tail, when the segment has one (only the last can).
    var tornTail: String?
    /// The bytes from `end` on are all zero: the preallocated room no record reached yet. This is
    /// the segment's clean end, in any segment (see docs/FORMAT.md, "Preallocation").
    var zeroTail = false

    /// Reads segment `number`'s bytes, checks them, and calls `body` with every intact record
    /// whose LSN is above `checkpoint`.
    /// - Parameters:
    ///   - previousLast: The last LSN of the segment before, `nil` for the oldest one.
    ///   - isLast: Whether it is the newest segment (the only one that can have a torn tail).
    /// - Throws: `.corrupted(what: "log segment N", ...)`, `.unsupportedFormat`, what `body` throws.
    static func scan(
        _ bytes: [UInt8], number: UInt64, isLast: Bool, previousLast: UInt64?, checkpoint: UInt64,
        _ body: (UInt64, [UInt8]) throws(HoltError) -> Void
    ) throws(HoltError) -> LogSegmentScan {
        let what = "log segment \(number)"
        guard let header = try JournalBytes.withBytes(bytes, { (raw) throws(HoltError) in try LogSegment.decode(raw) }) else {
            throw .corrupted(what: what, reason: "bad segment header")
        }
        guard header.number == number else {
            throw .corrupted(what: what, reason: "its header says segment \(header.number)")
        }
        guard header.firstLSN > header.previousLastLSN else {
            throw .corrupted(what: what, reason: "first LSN \(header.firstLSN) is not after \(header.previousLastLSN)")
        }
        if let previousLast, header.previousLastLSN != previousLast {
            throw .corrupted(what: what, reason: "it follows LSN \(header.previousLastLSN) but segment \(number - 1) ends at LSN \(previousLast)")
        }
        if previousLast == nil, header.previousLastLSN > checkpoint {
            throw .corrupted(what: what, reason: "the oldest segment follows LSN \(header.previousLastLSN) but the checkpoint is at LSN \(checkpoint): records are missing")
        }

        var scan = LogSegmentScan(header: header, end: LogSegment.headerSize, lastLSN: header.firstLSN - 1)
        try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) in
            while scan.end < raw.count {
                let expected = scan.lastLSN + 1
                if raw.count - scan.end < 4 || JournalBytes.load(UInt32.self, raw, scan.end) == 0,
                   isZero(raw, from: scan.end) {
                    // Preallocated room no record reached: the end, whatever segment this is.
                    scan.zeroTail = true
                    return
                }
                switch LogRecord.decode(raw, at: scan.end) {
                case .success(let record):
                    guard record.lsn == expected else {
                        throw .corrupted(what: what, reason: "the record at offset \(scan.end) has LSN \(record.lsn), expected \(expected)")
                    }
                    if record.lsn > checkpoint {
                        try body(record.lsn, Array(raw[record.payload]))
                        scan.replayed += 1
                    }
                    scan.records += 1
                    scan.end += record.size
                    scan.recordBytes += record.size
                    scan.lastLSN = record.lsn
                case .failure(let failure):
                    let damage = "record \(expected) at offset \(scan.end): \(failure.reason)"
                    guard isLast else {
                        throw .corrupted(what: what, reason: "\(damage); only the last segment can have a torn tail")
                    }
                    if let witness = durableWitness(in: raw, after: scan.end, damagedLSN: expected) {
                        throw .corrupted(what: what, reason: "\(damage), but record \(witness.lsn) at offset \(witness.offset), appended later, says it was durable")
                    }
                    scan.tornTail = damage
                    return
                }
            }
        }
        return scan
    }

    /// Whether a newest segment's bytes are a torn segment creation: without an intact header,
    /// and nothing but zeros after the header's place (a segment is preallocated before its
    /// header is written, and the header is synced before any record goes in, so none is lost).
    static func isTornCreation(_ bytes: [UInt8]) throws(HoltError) -> Bool {
        try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) in
            try LogSegment.decode(raw) == nil && isZero(raw, from: min(raw.count, LogSegment.headerSize))
        }
    }

    /// Whether every byte of `raw` from `offset` on is zero (word by word: a preallocated tail
    /// can be a few MiB).
    static func isZero(_ raw: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var index = offset
        while index + 8 <= raw.count {
            if raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) != 0 { return false }
            index += 8
        }
        while index < raw.count {
            if raw[index] != 0 { return false }
            index += 1
        }
        return true
    }

    /// An intact record after `offset` in `raw` whose durable mark covers `damagedLSN`: proof that
    /// the damaged record had been durable. `nil` when there is none.
    static func durableWitness(in raw: UnsafeRawBufferPointer, after offset: Int, damagedLSN: UInt64) -> (lsn: UInt64, offset: Int)? {
        let firstMagicByte = UInt8(truncatingIfNeeded: LogRecord.magic)
        var candidate = offset + 1
        while candidate + LogRecord.overhead <= raw.count {
            if raw[candidate] == firstMagicByte, case .success(let record) = LogRecord.decode(raw, at: candidate),
               record.durableMark >= damagedLSN, record.lsn > damagedLSN {
                return (record.lsn, candidate)
            }
            candidate += 1
        }
        return nil
    }
}
