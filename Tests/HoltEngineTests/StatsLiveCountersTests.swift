// Protects the counters `holtfs stats` shows of a live mount: dirty bytes follow writes and
// checkpoints, group commit sums add up, and checkpoints are timed.
import Testing
@testable import HoltEngine

@Suite struct StatsLiveCountersTests {
    @Test func dirtyBytesSyncedRecordsAndCheckpointTimes() throws {
        let dir = try TemporaryDirectory("live-stats")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .always))
        defer { try? tree.close() }
        let fresh = try tree.statistics()
        #expect(fresh.checkpointNanoseconds == 0 && fresh.lastCheckpointNanoseconds == 0)
        for i in 0..<10 { try tree.put(Array("k/\(i)".utf8), [UInt8(i)]) }
        let written = try tree.statistics()
        #expect(written.dirtyBytes >= 512 * 1024, "a written blob is dirty: \(written.dirtyBytes)")
        #expect(written.logSyncedRecords == 10 && written.logSyncs >= 1)
        try tree.checkpoint()
        let first = try tree.statistics()
        #expect(first.dirtyBytes == 0)
        #expect(first.checkpoints == 1 && first.lastCheckpointNanoseconds > 0)
        #expect(first.checkpointNanoseconds == first.lastCheckpointNanoseconds)
        try tree.put(Array("k/x".utf8), [1])
        try tree.checkpoint()
        let second = try tree.statistics()
        #expect(second.checkpoints == 2)
        #expect(second.checkpointNanoseconds == first.checkpointNanoseconds + second.lastCheckpointNanoseconds)
    }
}
