// Protects the atomicity of batches that span column families across a crash: a child writes
// batches that touch the default family and two others (each family its own op sequence) and is
// killed at a failpoint; after reopening, every family holds the state after the same number
// of batches (the acknowledged ones, or one more: the batch in flight), never a batch applied in
// one family and not in another; the tree verifies.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct FamilyCrashTests {
    static let families = ["default", "a", "b"]

    /// The ops of family number `f` in each batch of a run.
    static func batches(seed: UInt64, count: Int) -> [[[TxnOp]]] {
        let perFamily = (0..<families.count).map { TreeCrashTests.batches(seed: seed &+ UInt64($0) &* 1000, count: count) }
        return (0..<count).map { n in perFamily.map { $0[n] } }
    }

    /// The child: creates the families, writes spanning batches until the failpoint kills it.
    static func runChild(path: String, seed: UInt64) throws {
        let tree = try Tree.open(path: path, options: Options(sync: .always, checkpointLogBytes: 32 << 10))
        let handles = try families.map { try tree.family(named: $0, createIfMissing: true) }
        let ack = AckFile(path + ".ack")
        for (number, batch) in batches(seed: seed, count: 3_000).enumerated() {
            let ops = zip(handles, batch).flatMap { family, ops in ops.map { FamilyOp(family, $0) } }
            try ack.apply(number) { () throws(HoltError) in try tree.apply(ops) }
        }
        kill(getpid(), SIGKILL)
    }

    /// The families' states after the first `count` batches, applied all or nothing.
    static func expected(seed: UInt64, count: Int) -> [[RangeItem]] {
        var oracles = [Oracle](repeating: Oracle(), count: families.count)
        for batch in batches(seed: seed, count: count) {
            var next = oracles
            if zip(next.indices, batch).allSatisfy({ next[$0].apply($1) }) { oracles = next }
        }
        return oracles.map { $0.range(RangeQuery()) }
    }

    @Test("A kill at a failpoint leaves every spanning batch in all its families or in none", arguments: Array(TreeCrashTests.failpoints.enumerated()))
    func killAtFailpoint(index: Int, name: String) async throws {
        let dir = try TemporaryDirectory("fam-crash")
        let path = dir.appending("db"), seed = UInt64(300 + index)
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, seed = seed as UInt64, name = name as String] in
            Failpoints.arm(name, .kill, onHit: 1 + Int(seed % 7))
            try FamilyCrashTests.runChild(path: path, seed: seed)
        }
        try Self.check(path: path, seed: seed, name: name)
    }

    @Test("Random kill points across spanning batches", arguments: SeededGenerator.seeds(SeededGenerator.longTests ? 100 : 8))
    func killAtRandomPoint(seed: UInt64) async throws {
        let dir = try TemporaryDirectory("fam-crash-rnd")
        let path = dir.appending("db")
        var random = SeededGenerator(seed: seed)
        let name = TreeCrashTests.failpoints.randomElement(using: &random)!
        let hit = Int.random(in: 20...300, using: &random)
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, seed = seed as UInt64, name = name as String, hit = hit as Int] in
            Failpoints.arm(name, .kill, onHit: hit)
            try FamilyCrashTests.runChild(path: path, seed: seed)
        }
        try Self.check(path: path, seed: seed, name: name)
    }

    /// The parent's check after the kill.
    static func check(path: String, seed: UInt64, name: String) throws {
        let acked = AckFile.count(path + ".ack")
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.verify().isEmpty, "seed \(seed)")
        let present = Set(try tree.familyNames())
        var states: [[RangeItem]] = []
        for family in Self.families {
            if present.contains(family) {
                states.append(try tree.family(named: family).range())
            } else {
                #expect(acked == 0, "seed \(seed): family \(family) lost after \(acked) acknowledged batches")
                states.append([])
            }
        }
        let atAck = Self.expected(seed: seed, count: acked)
        if states == atAck { return }
        #expect(states == Self.expected(seed: seed, count: acked + 1), "seed \(seed) \(name): \(acked) acked batches, the families differ")
    }
}
