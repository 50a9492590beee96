// Protects durability: a process killed with SIGKILL at any failpoint or at a random moment
// loses no acknowledged write, and the reopened tree verifies. The child writes with
// `.always`; after each `apply` returns it appends the op number to an ack file (the page cache
// survives SIGKILL). The parent replays the same seeded ops on an oracle: the database must
// equal the oracle after the acknowledged ops, or after one more (the op in flight).
import Foundation
import Testing
@testable import HoltEngine

@Suite struct TreeCrashTests {
    /// Every failpoint a write can pass, with how often the child should pass it before dying.
    static let failpoints = [
        "wal.beforeWrite", "wal.afterWrite", "wal.beforeSync", "wal.afterSync",
        "store.beforeBlobWrite", "store.afterBlobWrite",
        "checkpoint.beforeMapWrite", "checkpoint.beforeManifestWrite", "checkpoint.afterManifestWrite",
        "wal.beforeTrim", "wal.afterTrim",
    ]

    /// The ops of a crash run: a deterministic sequence that does not depend on the engine.
    static func batches(seed: UInt64, count: Int) -> [[TxnOp]] {
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        var known: [[UInt8]] = []
        return (0..<count).map { _ in
            let batch = TreePropertyTests.randomBatch(&keys, known: known)
            for case .put(let key, _) in batch where known.count < 64 { known.append(key) }
            return batch
        }
    }

    /// The child: opens the tree, writes until the armed failpoint kills it.
    static func runChild(path: String, seed: UInt64) throws {
        let options = Options(sync: .always, checkpointLogBytes: 32 << 10)
        let tree = try Tree.open(path: path, options: options)
        let ack = AckFile(path + ".ack")
        for (number, batch) in batches(seed: seed, count: 4_000).enumerated() {
            try ack.apply(number) { () throws(HoltError) in try tree.apply(batch) }
        }
        kill(getpid(), SIGKILL)
    }

    /// The parent's check: the reopened database equals the oracle after `acked` or `acked + 1` ops.
    static func checkAfterCrash(path: String, seed: UInt64) throws {
        let acked = AckFile.count(path + ".ack")
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.verify().isEmpty, "seed \(seed)")
        let all = try tree.range(RangeQuery())
        var oracle = Oracle()
        let ops = batches(seed: seed, count: acked + 1)
        for batch in ops.prefix(acked) { _ = oracle.apply(batch) }
        if all == oracle.range(RangeQuery()) { return }
        _ = oracle.apply(ops[acked])
        #expect(all == oracle.range(RangeQuery()), "seed \(seed): \(acked) acked ops, database differs")
    }

    @Test("A kill at each failpoint loses no acknowledged write", arguments: Array(failpoints.enumerated()))
    func killAtFailpoint(index: Int, name: String) async throws {
        let dir = try TemporaryDirectory("crash-fp")
        let path = dir.appending("db"), seed = UInt64(100 + index)
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, seed = seed as UInt64, name = name as String] in
            Failpoints.arm(name, .kill, onHit: 1 + Int(seed % 7))
            try TreeCrashTests.runChild(path: path, seed: seed)
        }
        try Self.checkAfterCrash(path: path, seed: seed)
    }

    @Test("Random kill points across a mixed load", arguments: SeededGenerator.seeds(SeededGenerator.longTests ? 200 : 24))
    func killAtRandomPoint(seed: UInt64) async throws {
        let dir = try TemporaryDirectory("crash-rnd")
        let path = dir.appending("db")
        var random = SeededGenerator(seed: seed)
        let name = Self.failpoints.randomElement(using: &random)!
        let hit = Int.random(in: 1...300, using: &random)
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, seed = seed as UInt64, name = name as String, hit = hit as Int] in
            Failpoints.arm(name, .kill, onHit: hit)
            try TreeCrashTests.runChild(path: path, seed: seed)
        }
        try Self.checkAfterCrash(path: path, seed: seed)
    }
}
