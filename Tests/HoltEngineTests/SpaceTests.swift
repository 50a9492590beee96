// Protects "space comes back": deleted data gives its disk blocks back (holes and a shorter blob
// file), by `compact()` and by the background checkpointer alone, while readers and writers go
// on; a kill at any point of a compaction loses nothing.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct SpaceTests {
    /// Key `i` of the space tests: spread over 64 directories, so the tree has many blobs.
    static func key(_ i: Int) -> [UInt8] { bytes("d\(i % 64)/file-\(String(i * 7919 % 1_000_003, radix: 16))-\(i)") }
    /// Value of key `i` in `round`: a few hundred bytes.
    static func value(_ i: Int, round: Int = 0) -> [UInt8] { [UInt8](repeating: UInt8(truncatingIfNeeded: i &+ round), count: 200 + i % 300) }

    /// Loads keys `0..<count` in batches of 500.
    static func load(_ tree: Tree, _ keys: Range<Int>, round: Int = 0) throws {
        for start in stride(from: keys.lowerBound, to: keys.upperBound, by: 500) {
            try tree.apply((start..<min(start + 500, keys.upperBound)).map { .put(key: key($0), value: value($0, round: round)) })
        }
    }

    /// Deletes keys `keys` in batches of 500.
    static func delete(_ tree: Tree, _ keys: [Int]) throws {
        for start in stride(from: 0, to: keys.count, by: 500) {
            try tree.apply(keys[start..<min(start + 500, keys.count)].map { .delete(key: key($0)) })
        }
    }

    @Test func aFreshBlobTakesOnlyItsUsedBytes() throws {
        let dir = try TemporaryDirectory("space-fresh")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        try Self.load(tree, 0..<100)
        try tree.checkpoint()
        let space = try tree.spaceStatistics()
        #expect(space.liveBytes > 100 * 200)
        // The blobs' empty middles are holes: on disk, about what the nodes take.
        #expect(space.allocatedBytes < space.liveBytes + space.blobs * 3 * 4096 + 4 * 4096,
                "\(space.allocatedBytes) allocated for \(space.liveBytes) live bytes in \(space.blobs) blobs")
    }

    @Test func compactionGivesTheSpaceOfDeletedKeysBack() throws {
        let dir = try TemporaryDirectory("space-compact")
        let count = 40_000
        do {
            let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 16 << 20, sync: .none))
            defer { try? tree.close() }
            try Self.load(tree, 0..<count)
            try tree.checkpoint()
            let peak = try tree.spaceStatistics()
            #expect(peak.amplification > 0 && peak.amplification < 3, "amplification \(peak.amplification)")
            // Keep one key in 50: the rest of the blobs empty out.
            try Self.delete(tree, (0..<count).filter { $0 % 50 != 0 })
            let report = try tree.compact()
            let after = try tree.spaceStatistics()
            #expect(report.bytesAfter == after.databaseBytes && report.bytesBefore > report.bytesAfter)
            #expect(after.allocatedBytes < peak.allocatedBytes / 5,
                    "allocated \(after.allocatedBytes) after compaction, \(peak.allocatedBytes) at the peak")
            #expect(after.fileBytes <= peak.fileBytes)
            #expect(try tree.verify().isEmpty)
        }
        // Everything kept is there after a reopen.
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.verify().isEmpty)
        let all = try tree.range(RangeQuery())
        #expect(all.count == count / 50)
        for i in stride(from: 0, to: count, by: 50) { #expect(try tree.get(Self.key(i)) == Self.value(i)) }
    }

    @Test func compactionMovesBlobsToTheFrontAndCutsTheFile() throws {
        let dir = try TemporaryDirectory("space-move")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 16 << 20, sync: .none))
        defer { try? tree.close() }
        // Two generations of data: the second lands in slots past the first; then the first goes.
        try Self.load(tree, 0..<20_000)
        try tree.checkpoint()
        try Self.load(tree, 20_000..<40_000)
        try tree.checkpoint()
        try Self.delete(tree, Array(0..<20_000))
        let before = try tree.spaceStatistics()
        let report = try tree.compact()
        let after = try tree.spaceStatistics()
        print("move test: before \(before), report \(report), after \(after)")
        // The file ends not far past its live blobs.
        #expect(after.fileBytes <= (after.blobs + after.blobs / 8 + 2) * BlobGeometry.blobSize,
                "file \(after.fileBytes) bytes for \(after.blobs) blobs, \(report.blobsMoved) moved")
        #expect(try tree.verify().isEmpty)
        for i in stride(from: 20_000, to: 40_000, by: 97) { #expect(try tree.get(Self.key(i)) == Self.value(i)) }
    }

    @Test func closingAfterAMassDeleteLeavesAShortFile() throws {
        let dir = try TemporaryDirectory("space-close")
        var peak = 0
        do {
            let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 16 << 20, sync: .none))
            try Self.load(tree, 0..<20_000)
            try tree.checkpoint()
            try Self.load(tree, 20_000..<40_000)
            try tree.checkpoint()
            peak = try tree.spaceStatistics().fileBytes
            try Self.delete(tree, Array(0..<20_000))
            try tree.close()  // no compact() call
        }
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        let space = try tree.spaceStatistics()
        #expect(space.fileBytes <= (space.blobs + 2) * BlobGeometry.blobSize, "file \(space.fileBytes) bytes for \(space.blobs) blobs (\(peak) at the peak)")
        #expect(try tree.verify().isEmpty)
        for i in stride(from: 20_000, to: 40_000, by: 101) { #expect(try tree.get(Self.key(i)) == Self.value(i)) }
    }

    @Test func aQuietTreeGivesSpaceBackByItself() throws {
        let dir = try TemporaryDirectory("space-auto")
        var options = Options(cacheBytes: 16 << 20, sync: .none)
        options.checkpointIntervalSeconds = 1
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        try Self.load(tree, 0..<30_000)
        try tree.checkpoint()
        let peak = try tree.spaceStatistics().allocatedBytes
        try Self.delete(tree, Array(0..<30_000))
        // No call: the checkpointer's quiet rounds checkpoint and punch. Poll with a deadline.
        let deadline = Date().addingTimeInterval(30)
        var now = try tree.spaceStatistics().allocatedBytes
        while now >= peak / 10, Date() < deadline {
            usleep(100_000)
            now = try tree.spaceStatistics().allocatedBytes
        }
        #expect(now < peak / 10, "blob file: \(now) bytes on disk 30 s after deleting everything (peak \(peak))")
        #expect(try tree.range(RangeQuery()).isEmpty)
    }

    @Test func compactionBesideReadersAndWritersAgreesWithAnOracle() throws {
        let dir = try TemporaryDirectory("space-concurrent")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 8 << 20, sync: .none))
        defer { try? tree.close() }
        // Keys 0..<5000 never change: readers check them. The writer churns keys 5000..<25000.
        try Self.load(tree, 0..<25_000)
        let stop = Flag()
        let problems = Locked<[String]>([])
        var threads: [PlainThread] = []
        for r in 0..<2 {
            threads.append(PlainThread {
                var i = r
                while !stop.isSet {
                    do {
                        if try tree.get(Self.key(i % 5000)) != Self.value(i % 5000) {
                            problems.withLock { $0.append("key \(i % 5000) read wrong") }
                        }
                        if i % 97 == 0 {
                            let listed = try tree.range(prefix: bytes("d\(i % 64)/"), limit: 50)
                            if listed.isEmpty { problems.withLock { $0.append("d\(i % 64)/ listed empty") } }
                        }
                    } catch { problems.withLock { $0.append("read: \(error)") } }
                    i += 7
                }
            })
        }
        let compactions = Locked(0)
        threads.append(PlainThread {
            while !stop.isSet {
                do { _ = try tree.compact(); compactions.withLock { $0 += 1 } } catch { problems.withLock { $0.append("compact: \(error)") } }
            }
        })
        var oracle = Oracle()
        for i in 0..<25_000 { oracle.entries[Self.key(i)] = Self.value(i) }
        var random = SeededGenerator(seed: 42)
        for round in 1...6 {
            var ops: [TxnOp] = []
            for _ in 0..<4000 {
                let i = Int.random(in: 5000..<25_000, using: &random)
                ops.append(Bool.random(using: &random) ? .delete(key: Self.key(i)) : .put(key: Self.key(i), value: Self.value(i, round: round)))
                if ops.count == 200 {
                    try tree.apply(ops)
                    _ = oracle.apply(ops)
                    ops = []
                }
            }
        }
        // At least one compaction ran beside the writes (each takes a few checkpoints).
        let deadline = Date().addingTimeInterval(30)
        while compactions.withLock({ $0 }) < 1, Date() < deadline { usleep(10_000) }
        stop.set()
        threads.forEach { $0.join() }
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
        #expect(compactions.withLock { $0 } >= 1)
        #expect(try tree.range(RangeQuery()) == oracle.range(RangeQuery()))
        #expect(try tree.verify().isEmpty)
    }

    /// Kill points inside a compaction: its moves (blob writes of its checkpoints), its map and
    /// manifest writes, its punches and its cut of the file.
    static let compactionFailpoints = [
        "store.beforeBlobWrite", "store.afterBlobWrite", "checkpoint.beforeMapWrite",
        "checkpoint.beforeManifestWrite", "checkpoint.afterManifestWrite", "store.beforePunch", "store.beforeTruncate",
    ]

    @Test("A kill inside a compaction loses nothing", arguments: Array(compactionFailpoints.enumerated()))
    func killInsideCompaction(index: Int, name: String) async throws {
        let dir = try TemporaryDirectory("space-crash")
        let path = dir.appending("db")
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, name = name as String, index = index as Int] in
            let tree = try Tree.open(path: path, options: Options(cacheBytes: 8 << 20, sync: .always))
            try SpaceTests.load(tree, 0..<20_000)
            try tree.checkpoint()
            try SpaceTests.load(tree, 20_000..<30_000)
            try tree.checkpoint()
            try SpaceTests.delete(tree, (0..<20_000).filter { $0 % 10 != 0 })
            // Armed now: the loads above pass the same places.
            Failpoints.arm(name, .kill, onHit: 1 + index % 3)
            for _ in 0..<20 {
                _ = try tree.compact()
                try SpaceTests.load(tree, 0..<200)  // dirties blobs for the next one
            }
            // Not killed: the process exits normally and the expectation above fails.
        }
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.verify().isEmpty, "after a kill at \(name)")
        // Every write was acknowledged (.always) before the compactions: they are all there.
        for i in stride(from: 20_000, to: 30_000, by: 37) { #expect(try tree.get(Self.key(i)) == Self.value(i), "key \(i)") }
        for i in stride(from: 200, to: 20_000, by: 10) { #expect(try tree.get(Self.key(i)) == Self.value(i), "key \(i)") }
        for i in stride(from: 1, to: 20_000, by: 101) where i % 10 != 0 && i >= 200 { #expect(try tree.get(Self.key(i)) == nil) }
    }
}

/// A flag one thread sets and others poll.
private final class Flag: @unchecked Sendable {
    private let state = Locked(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
