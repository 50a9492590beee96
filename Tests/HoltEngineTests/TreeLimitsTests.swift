// Protects the edges of the API: limits answered with typed errors, never a crash, and the
// LOCK that keeps a second opener out.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct TreeLimitsTests {
    @Test func oversizedKeysAndValuesAreTypedErrors() throws {
        let dir = try TemporaryDirectory("limits")
        let tree = try Tree.open(path: dir.path)
        defer { try? tree.close() }
        let longKey = [UInt8](repeating: 0x61, count: Tree.maxKeyLength + 1)
        #expect(throws: HoltError.keyTooLong(length: longKey.count, limit: Tree.maxKeyLength)) {
            try tree.put(longKey, [])
        }
        let bigValue = [UInt8](repeating: 1, count: Tree.maxValueLength + 1)
        #expect(throws: HoltError.valueTooLarge(length: bigValue.count, limit: Tree.maxValueLength)) {
            try tree.put(bytes("a"), bigValue)
        }
        #expect(throws: HoltError.self) { try tree.put([0x61, 0, 0x62], []) }
        // The largest key and value that are allowed work.
        let maxKey = [UInt8](repeating: 0x62, count: Tree.maxKeyLength)
        let maxValue = [UInt8](repeating: 7, count: Tree.maxValueLength)
        try tree.put(maxKey, maxValue)
        #expect(try tree.get(maxKey) == maxValue)
        // The empty key is a key like any other (HoltFS keeps its root there).
        try tree.put([], bytes("root"))
        #expect(try tree.get([]) == bytes("root"))
    }

    @Test func prefixRenameRefusesBadArguments() throws {
        let dir = try TemporaryDirectory("limits2")
        let tree = try Tree.open(path: dir.path)
        defer { try? tree.close() }
        try tree.put(bytes("a/b"), [1])
        try tree.put(bytes("c"), [2])
        #expect(throws: HoltError.self) { try tree.renamePrefix(from: bytes("a"), to: bytes("a/b/x")) }
        #expect(throws: HoltError.self) { try tree.renamePrefix(from: bytes("a"), to: bytes("c")) }
        #expect(throws: HoltError.self) { try tree.renamePrefix(from: bytes("zz"), to: bytes("q")) }
        #expect(throws: HoltError.self) { try tree.renamePrefix(from: [], to: bytes("q")) }
        #expect(try tree.get(bytes("a/b")) == [1])
    }

    @Test func aSecondOpenerIsRefused() throws {
        let dir = try TemporaryDirectory("lock")
        let first = try Tree.open(path: dir.path)
        #expect(throws: HoltError.locked(path: dir.path)) { _ = try Tree.open(path: dir.path) }
        try first.close()
        let second = try Tree.open(path: dir.path)
        try second.close()
    }

    @Test func closedTreeRefusesCalls() throws {
        let dir = try TemporaryDirectory("closed")
        let tree = try Tree.open(path: dir.path)
        try tree.close()
        #expect(throws: HoltError.closed) { _ = try tree.get(bytes("a")) }
        #expect(throws: HoltError.closed) { try tree.put(bytes("a"), []) }
    }

    @Test func missingDatabaseWithoutCreateIsNotADatabase() throws {
        let dir = try TemporaryDirectory("nodb")
        let path = dir.appending("absent")
        #expect(throws: HoltError.notADatabase(path: path)) {
            _ = try Tree.open(path: path, options: Options(createIfMissing: false))
        }
        // A plain directory is refused without a trace: no lock file left in it.
        let plain = dir.appending("plain")
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: false)
        #expect(throws: HoltError.notADatabase(path: plain)) {
            _ = try Tree.open(path: plain, options: Options(createIfMissing: false))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: plain).isEmpty)
    }
}

// Protects the counters a user reads with `Tree.statistics()` and `holtfs stats`.
@Suite struct TreeStatisticsTests {
    @Test func countersFollowTheWork() throws {
        let dir = try TemporaryDirectory("stats")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .always))
        defer { try? tree.close() }
        for i in 0..<20 { try tree.put(bytes("k/\(i)"), [UInt8(i)]) }
        _ = try tree.get(bytes("k/3"))
        try tree.checkpoint()
        let stats = try tree.statistics()
        #expect(stats.logRecords == 20)
        #expect(stats.logSyncs >= 1 && stats.logSyncs <= 20)
        #expect(stats.checkpoints == 1)
        #expect(stats.blobs >= 1)
        #expect(stats.cacheHits > 0)
        // One small blob: its header, slot table and nodes, not its empty middle (a hole).
        #expect(stats.dataBytesWritten >= 8192 && stats.dataBytesWritten < 64 * 1024)
        let space = try tree.spaceStatistics()
        #expect(space.blobs == 1 && space.liveBytes > 20 * 6 && space.liveBytes < 4096)
        #expect(space.allocatedBytes <= 64 * 1024, "a blob of 20 keys takes \(space.allocatedBytes) bytes on disk")
        try tree.close()
        #expect(throws: HoltError.closed) { _ = try tree.statistics() }
    }
}
