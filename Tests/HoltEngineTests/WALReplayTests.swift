// Protects the write-ahead log's round trip: what was appended comes back on replay, in LSN
// order, across reopens, segments, checkpoints, LSN skips and trims; and the byte layouts
// written down in docs/FORMAT.md.
import Testing
@testable import HoltEngine

@Suite struct WALReplayTests {
    @Test func recordLayoutIsTheDocumentedOne() throws {
        var bytes: [UInt8] = []
        LogRecord.encode(lsn: 0x0102_0304_0506_0708, durableMark: 7, payload: [0xAA, 0xBB, 0xCC], into: &bytes)
        #expect(bytes.count == 32 + 3)
        #expect(Array(bytes[0..<4]) == Array("HLWR".utf8))
        #expect(Array(bytes[4..<8]) == [3, 0, 0, 0])
        #expect(Array(bytes[8..<16]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Array(bytes[16..<24]) == [7, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[24..<28]) == [1, 0, 0, 0])
        #expect(Array(bytes[28..<31]) == [0xAA, 0xBB, 0xCC])
        let crc = CRC32C.checksum(Array(bytes[0..<31]))
        #expect(Array(bytes[31..<35]) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
        let decoded = try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) in LogRecord.decode(raw, at: 0) }
        #expect(decoded == .success(LogRecord.Decoded(lsn: 0x0102_0304_0506_0708, durableMark: 7, payload: 28..<31, size: 35)))

        let header = LogSegment(number: 3, firstLSN: 10, previousLastLSN: 9).encoded()
        #expect(header.count == 64)
        #expect(Array(header[0..<8]) == Array("HOLTWAL1".utf8))
        #expect(try JournalBytes.withBytes(header) { (raw) throws(HoltError) in try LogSegment.decode(raw) } == LogSegment(number: 3, firstLSN: 10, previousLastLSN: 9))
        #expect(LogSegment.fileName(1) == "00000000000000000001.log")
        #expect(LogSegment.number(fromFileName: "00000000000000000042.log") == 42)
        #expect(LogSegment.number(fromFileName: "0000000000000000042.log") == nil)
        #expect(LogSegment.number(fromFileName: "0000000000000000004x.log") == nil)
    }

    @Test func recordsComeBackAcrossReopens() throws {
        let dir = WALTestDirectory()
        do {
            let (log, records, report) = try walOpenAndReplay(dir)
            #expect(records.isEmpty && report == ReplayReport())
            try walAppend(log, 1...50, durableEach: true)
            try log.close()
            #expect(throws: HoltError.closed) { try log.append([1]) }
        }
        do {
            let (log, records, report) = try walOpenAndReplay(dir)
            #expect(walRecordsMatch(records, 1...50))
            #expect(report.lastLSN == 50 && report.recordsFound == 50 && report.bytesCut == 0 && report.segments == 1)
            #expect(log.lastLSN == 50)
            try walAppend(log, 51...60)
            try log.close()
        }
        let (log, records, _) = try walOpenAndReplay(dir, after: 30)
        #expect(walRecordsMatch(records, 31...60))
        #expect(log.bytesSinceTrim == (1...60).reduce(0) { $0 + 32 + walPayload($1).count })
        try log.close()
    }

    @Test func emptyAndLargePayloadsRoundTrip() throws {
        let dir = WALTestDirectory()
        let large = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        do {
            let (log, _, _) = try walOpenAndReplay(dir)
            _ = try log.append([])
            _ = try log.append(large)
            _ = try log.append([42])
            try log.sync()
            try log.close()
        }
        let (log, records, _) = try walOpenAndReplay(dir)
        #expect(records.map(\.1) == [[], large, [42]])
        try log.close()
    }

    @Test func recordsSpanManySegments() throws {
        let dir = WALTestDirectory()
        do {
            let (log, _, _) = try walOpenAndReplay(dir, segmentBytes: 1024)
            for start in stride(from: UInt64(1), through: 300, by: 10) {
                try walAppend(log, start...(start + 9))
                try log.waitDurable(start + 9)
            }
            #expect(log.statistics.segmentsStarted > 5)
            try log.close()
        }
        let segments = try dir.segments()
        #expect(segments.count > 5)
        #expect(segments.first == LogSegment.fileName(1) && segments.last == LogSegment.fileName(UInt64(segments.count)))
        let (log, records, report) = try walOpenAndReplay(dir, segmentBytes: 1024)
        #expect(walRecordsMatch(records, 1...300))
        #expect(report.segments == segments.count)
        try walAppend(log, 301...310)
        try log.close()
        let (again, more, _) = try walOpenAndReplay(dir, segmentBytes: 1024, after: 290)
        #expect(walRecordsMatch(more, 291...310))
        try again.close()
    }

    @Test func aNewLogStartsAfterTheCheckpoint() throws {
        let dir = WALTestDirectory()
        do {
            let (log, records, report) = try walOpenAndReplay(dir, after: 100)
            #expect(records.isEmpty && report.lastLSN == 100)
            #expect(try log.append([1]) == 101)
            try log.close()
        }
        let (log, records, _) = try walOpenAndReplay(dir, after: 100)
        #expect(records.map(\.0) == [101])
        try log.close()
    }

    @Test func setNextLSNSkipsNumbersAndReplayAcceptsTheSkip() throws {
        let dir = WALTestDirectory()
        do {
            let (log, _, _) = try walOpenAndReplay(dir)
            try walAppend(log, 1...5)
            try log.setNextLSN(atLeast: 3)  // behind: nothing happens
            #expect(log.lastLSN == 5)
            try log.setNextLSN(atLeast: 20)
            #expect(log.lastLSN == 19)
            try walAppend(log, 20...22, durableEach: true)
            try log.close()
        }
        do {
            let (log, records, report) = try walOpenAndReplay(dir)
            #expect(records.map(\.0) == [1, 2, 3, 4, 5, 20, 21, 22])
            #expect(report.lastLSN == 22)
            try log.close()
        }
        let (log, records, _) = try walOpenAndReplay(dir, after: 10)
        #expect(records.map(\.0) == [20, 21, 22])
        try log.close()
    }

    @Test func trimRemovesSegmentsCoveredByTheCheckpoint() throws {
        let dir = WALTestDirectory()
        do {
            let (log, _, _) = try walOpenAndReplay(dir, segmentBytes: 2048)
            for start in stride(from: UInt64(1), through: 100, by: 10) {
                try walAppend(log, start...(start + 9))
                try log.sync()  // one write per 10 records: a segment ends every ~2 KiB
            }
            let before = try dir.segments().count
            let bytesBefore = log.bytesSinceTrim
            try log.trim(through: 60)
            let after = try dir.segments()
            #expect(after.count < before)
            #expect(log.bytesSinceTrim < bytesBefore)
            #expect(log.statistics.segmentsRemoved > 0)
            try walAppend(log, 101...110, durableEach: true)
            try log.close()
        }
        do {
            let (log, records, report) = try walOpenAndReplay(dir, segmentBytes: 2048, after: 60)
            #expect(walRecordsMatch(records, 61...110))
            #expect(report.recordsFound < 110)
            // Everything up to 100 is now covered: trimming there leaves only the segment with 101...110
            // and the new empty one.
            try log.trim(through: 110)
            #expect(try dir.segments().count == 1)
            try log.close()
        }
        // Replaying from before the trim point would miss records: that is corruption, not silence.
        #expect(throws: HoltError.self) { _ = try walOpenAndReplay(dir, after: 10) }
        let (log, records, report) = try walOpenAndReplay(dir, after: 110)
        #expect(records.isEmpty && report.lastLSN == 110)
        #expect(try log.append([7]) == 111)
        try log.close()
    }
}
