// Protects the rule that tells a torn tail from corruption (WriteAheadLog+Replay.swift): a
// partial or damaged end of the last segment that no later record vouches for is cut and
// reported, and the log continues after it; damage to a record that a later record says was
// durable, damage in an earlier segment, a missing segment or an LSN out of sequence is
// `.corrupted`, never skipped.
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import HoltEngine

@Suite struct WALTornTailTests {
    /// The offsets and sizes of the records in segment `bytes`.
    func records(in bytes: [UInt8]) throws -> [(offset: Int, size: Int)] {
        var found: [(offset: Int, size: Int)] = []
        var offset = LogSegment.headerSize
        while offset < bytes.count {
            let result = try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) in LogRecord.decode(raw, at: offset) }
            guard case .success(let record) = result else { break }
            found.append((offset, record.size))
            offset += record.size
        }
        return found
    }

    /// A log of records 1...count in one segment, each synced on its own (so each record's
    /// durable mark covers the one before), closed. Returns the segment's name and bytes.
    func makeLog(_ dir: WALTestDirectory, count: UInt64 = 10) throws -> (name: String, bytes: [UInt8]) {
        let (log, _, _) = try walOpenAndReplay(dir)
        try walAppend(log, 1...count, durableEach: true)
        let end = log.io.size
        try log.close()
        let name = try #require(try dir.segments().first)
        // Without the preallocated zeros: the records alone, as a log cut at its last record.
        dir.truncate(name, to: end)
        return (name, try dir.read(name))
    }

    /// Expects opening the log to fail with `.corrupted` naming `what` (and `verify` to say so).
    func expectCorrupted(_ dir: WALTestDirectory, what: String = "log segment 1", segmentBytes: Int = 64 << 20,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = WriteAheadLog.verify(directory: dir.wal, after: 0)
        #expect(problems.count == 1 && problems[0].hasPrefix("corrupted \(what)"), "\(problems)", sourceLocation: sourceLocation)
        do {
            let (log, _, _) = try walOpenAndReplay(dir, segmentBytes: segmentBytes)
            try? log.close()
            Issue.record("the damaged log opened", sourceLocation: sourceLocation)
        } catch let error as HoltError {
            guard case .corrupted(let found, _) = error else {
                Issue.record("expected .corrupted, got \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(found == what, sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aTornLastRecordIsCutAtEveryByteOffset() throws {
        let dir = WALTestDirectory()
        let (name, original) = try makeLog(dir)
        let last = try #require(try records(in: original).last)
        #expect(last.offset + last.size == original.count)
        for cut in last.offset..<original.count {
            try dir.write(name, original)
            dir.truncate(name, to: cut)
            #expect(WriteAheadLog.verify(directory: dir.wal, after: 0).isEmpty)
            do {
                let (log, replayed, report) = try walOpenAndReplay(dir)
                #expect(walRecordsMatch(replayed, 1...9), "cut at \(cut)")
                #expect(report.bytesCut == cut - last.offset, "cut at \(cut)")
                #expect((report.cutReason != nil) == (cut > last.offset))
                #expect(report.lastLSN == 9)
                // The log continues after the cut: a new record 10, then 11.
                #expect(try log.append([0xEE]) == 10)
                try walAppend(log, 11...11, durableEach: true)
                try log.close()
            }
            let (log, replayed, report) = try walOpenAndReplay(dir)
            #expect(replayed.map(\.0) == Array(1...11) && replayed[9].1 == [0xEE], "cut at \(cut)")
            #expect(report.bytesCut == 0)
            try log.close()
        }
    }

    @Test func zerosAfterTheLastRecordArePreallocatedRoomAndGarbageIsCut() throws {
        let dir = WALTestDirectory()
        let (name, original) = try makeLog(dir)
        var random = WALRandom()
        // Zeros: room preallocated for records, kept (the next append writes there), not reported.
        try dir.write(name, original + [UInt8](repeating: 0, count: 4096))
        do {
            let (log, replayed, report) = try walOpenAndReplay(dir)
            #expect(walRecordsMatch(replayed, 1...10))
            #expect(report.bytesCut == 0)
            try log.close()
            let after = try dir.read(name)
            #expect(after.count >= original.count + 4096 && Array(after[..<original.count]) == original)
        }
        dir.truncate(name, to: original.count)
        let garbage = (0..<333).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try dir.write(name, original + garbage)
        let (log, replayed, report) = try walOpenAndReplay(dir)
        #expect(walRecordsMatch(replayed, 1...10), "seed \(random.seed)")
        #expect(report.bytesCut == garbage.count, "seed \(random.seed)")
        try log.close()
        #expect(try dir.read(name) == original, "seed \(random.seed)")
    }

    @Test func aFlippedByteInAnEarlierRecordIsCorruption() throws {
        let dir = WALTestDirectory()
        let (name, original) = try makeLog(dir)
        let all = try records(in: original)
        for victim in [0, 4, 8] {  // records 1, 5 and 9: each has a later record vouching for it
            let record = all[victim]
            for offset in record.offset..<(record.offset + record.size) {
                var damaged = original
                damaged[offset] ^= 0x10
                try dir.write(name, damaged)
                expectCorrupted(dir)
            }
        }
        try dir.write(name, original)
        let (log, replayed, _) = try walOpenAndReplay(dir)
        #expect(walRecordsMatch(replayed, 1...10))
        try log.close()
    }

    @Test func aFlippedByteInTheLastRecordIsCutLikeATornWrite() throws {
        let dir = WALTestDirectory()
        let (name, original) = try makeLog(dir)
        let last = try #require(try records(in: original).last)
        for offset in [last.offset, last.offset + 5, last.offset + 30, original.count - 1] {
            var damaged = original
            damaged[offset] ^= 0x01
            try dir.write(name, damaged)
            let (log, replayed, report) = try walOpenAndReplay(dir)
            #expect(walRecordsMatch(replayed, 1...9))
            #expect(report.bytesCut == last.size)
            try log.close()
        }
    }

    @Test func damageInsideTheLastUnsyncedGroupIsATornTail() throws {
        let dir = WALTestDirectory()
        do {
            let (log, _, _) = try walOpenAndReplay(dir)
            try walAppend(log, 1...5, durableEach: true)
            try walAppend(log, 6...10)  // one group, one sync: no record in it vouches for another
            try log.waitDurable(10)
            try log.close()
        }
        let name = try #require(try dir.segments().first)
        let original = try dir.read(name)
        let all = try records(in: original)
        // Record 7 damaged, 8...10 intact after it: a disk that wrote a later page first could
        // leave exactly this after a power cut, and none of 6...10 had been acknowledged then.
        var damaged = original
        damaged[all[6].offset + 3] ^= 0xFF
        try dir.write(name, damaged)
        do {
            let (log, replayed, report) = try walOpenAndReplay(dir)
            #expect(walRecordsMatch(replayed, 1...6))
            #expect(report.bytesCut == original.count - all[6].offset)
            try log.close()
        }
        // Record 5 was durable before 6...10 were appended, and they say so: corruption.
        damaged = original
        damaged[all[4].offset + 40] ^= 0xFF
        try dir.write(name, damaged)
        expectCorrupted(dir)
    }

    @Test func damageInAnEarlierSegmentIsCorruption() throws {
        let dir = WALTestDirectory()
        do {
            let (log, _, _) = try walOpenAndReplay(dir, segmentBytes: 1024)
            try walAppend(log, 1...60, durableEach: true)
            try log.close()
        }
        let segments = try dir.segments()
        #expect(segments.count >= 3)
        let first = try dir.read(segments[0])
        let last = try #require(try records(in: first).last)
        // Even the last record of a segment that is not the last one cannot be torn.
        var damaged = first
        damaged[last.offset + last.size - 1] ^= 0x01
        try dir.write(segments[0], damaged)
        expectCorrupted(dir, segmentBytes: 1024)
        // Nor can its end be missing.
        try dir.write(segments[0], Array(first[..<(last.offset + 7)]))
        expectCorrupted(dir, segmentBytes: 1024)
        // Nor can a segment's header be damaged.
        damaged = first
        damaged[20] ^= 0x01
        try dir.write(segments[0], damaged)
        expectCorrupted(dir, segmentBytes: 1024)
        try dir.write(segments[0], first)
        // A missing segment in the middle is corruption too.
        let middle = try dir.read(segments[1])
        #expect(unlink(dir.wal + "/" + segments[1]) == 0)
        expectCorrupted(dir, what: "log", segmentBytes: 1024)
        try Syscall.close(try Syscall.open(dir.wal + "/" + segments[1], flags: O_CREAT | O_WRONLY))
        try dir.write(segments[1], middle)
        let (log, replayed, _) = try walOpenAndReplay(dir, segmentBytes: 1024)
        #expect(walRecordsMatch(replayed, 1...60))
        try log.close()
    }

    @Test func anIntactRecordWithTheWrongLSNIsCorruption() throws {
        let dir = WALTestDirectory()
        let (name, original) = try makeLog(dir)
        var bytes = original
        LogRecord.encode(lsn: 15, durableMark: 10, payload: [1, 2, 3], into: &bytes)
        try dir.write(name, bytes)
        expectCorrupted(dir)
        bytes = original
        LogRecord.encode(lsn: 10, durableMark: 9, payload: [1, 2, 3], into: &bytes)  // a repeat
        try dir.write(name, bytes)
        expectCorrupted(dir)
    }

    @Test func aTornSegmentCreationIsRemoved() throws {
        let dir = WALTestDirectory()
        do {
            let (log, _, _) = try walOpenAndReplay(dir, segmentBytes: 1024)
            try walAppend(log, 1...20, durableEach: true)
            try log.close()
        }
        let segments = try dir.segments()
        let next = LogSegment.fileName(UInt64(segments.count + 1))
        for garbage in [[UInt8](), [UInt8](repeating: 0, count: 64), Array(LogSegment(number: 99, firstLSN: 1, previousLastLSN: 0).encoded()[0..<40])] {
            try Syscall.close(try Syscall.open(dir.wal + "/" + next, flags: O_CREAT | O_WRONLY))
            try dir.write(next, garbage)
            let (log, replayed, report) = try walOpenAndReplay(dir, segmentBytes: 1024)
            #expect(walRecordsMatch(replayed, 1...20))
            #expect(report.bytesCut == garbage.count && report.cutReason != nil)
            #expect(try dir.segments() == segments)
            try log.close()
        }
        // A bad header on a segment longer than a header is damage, not a torn creation.
        var long = try dir.read(segments.last!)
        long[3] ^= 0x01
        try dir.write(segments.last!, long)
        expectCorrupted(dir, what: "log segment \(segments.count)", segmentBytes: 1024)
    }

    @Test func aSegmentOfAnotherFormatVersionIsRefused() throws {
        let dir = WALTestDirectory()
        let (name, original) = try makeLog(dir, count: 2)
        var bytes = original
        bytes[8] = 2  // format version 2, CRC recomputed
        let crc = CRC32C.checksum(Array(bytes[0..<60]))
        for index in 0..<4 { bytes[60 + index] = UInt8(truncatingIfNeeded: crc >> (8 * index)) }
        try dir.write(name, bytes)
        #expect(throws: HoltError.unsupportedFormat(version: 2)) { _ = try walOpenAndReplay(dir) }
    }
}
