// Protects lock-free gets: `Tree.get` takes no tree-wide lock, yet a batch stays atomic to it.
// Writers stamp a rising version on keys spread over many blobs, in key order, one batch per
// version; readers get the keys one by one in the same order. Once a reader has seen version v
// anywhere, no later get may return less (it would have seen part of a batch); a reader never
// sees a key missing; the final state matches the last batch.
import Foundation
import Synchronization
import Testing

@testable import HoltEngine

@Suite struct LockFreeReadTests {
    /// Stamped key `i`: spread over the filler directories, so the keys live in different blobs.
    static func stamped(_ i: Int) -> [UInt8] { Array("d\(i * 37 % 200)/stamped-\(i)".utf8) }
    static func version(_ v: Int64, _ i: Int) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) } + [UInt8](repeating: UInt8(i & 0x7F), count: 24 + i % 40)
    }
    static func decode(_ bytes: [UInt8]) -> Int64 {
        var value: Int64 = 0
        for (shift, byte) in bytes.prefix(8).enumerated() { value |= Int64(byte) << (8 * shift) }
        return value
    }

    @Test func batchesStayAtomicToLockFreeGets() throws {
        let long = ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] != nil
        let dir = try TemporaryDirectory("lock-free-get")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 8 << 20, sync: .none, checkpointLogBytes: 256 << 10))
        defer { try? tree.close() }
        // Filler: 30,000 keys over 200 directories (many blobs, splits and merges as they churn).
        for start in stride(from: 0, to: 30_000, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: Array("d\($0 % 200)/filler-\($0)".utf8), value: [UInt8](repeating: 1, count: 60)) })
        }
        let keys = 40
        try tree.apply((0..<keys).map { .put(key: Self.stamped($0), value: Self.version(0, $0)) })
        let versions: Int64 = long ? 20_000 : 600
        // The first few problems, and how many in all (a broken build finds thousands).
        let problems = Locked<[String]>([])
        let problemCount = Atomic<Int>(0)
        @Sendable func report(_ problem: String) {
            if problemCount.add(1, ordering: .relaxed).newValue <= 5 { problems.withLock { $0.append(problem) } }
        }
        let writing = Atomic<Bool>(true)
        let rounds = Atomic<Int>(0)
        let readers = (0..<2).map { _ in PlainThread {
            var seen: Int64 = 0
            while writing.load(ordering: .acquiring) {
                for i in 0..<keys {
                    do {
                        guard let value = try tree.get(Self.stamped(i)) else {
                            report("key \(i) missing")
                            return
                        }
                        let v = Self.decode(value)
                        if v < seen { report("saw version \(seen), then \(v) at key \(i)") }
                        if value != Self.version(v, i) { report("key \(i): a torn value") }
                        seen = max(seen, v)
                    } catch {
                        report("get: \(error)")
                        return
                    }
                }
                rounds.add(1, ordering: .relaxed)
            }
        } }
        // The writer: each version in one batch, keys in order; filler churns beside it (puts
        // and deletes in the same batches: splits, merges, node growth under the readers).
        var random = SeededGenerator(seed: 5)
        for v in 1...versions {
            var ops: [TxnOp] = (0..<keys).map { .put(key: Self.stamped($0), value: Self.version(v, $0)) }
            for _ in 0..<20 {
                let f = Int(random.next() % 30_000)
                let key = Array("d\(f % 200)/filler-\(f)".utf8)
                ops.append(random.next() % 2 == 0 ? .delete(key: key) : .put(key: key, value: [UInt8](repeating: 2, count: Int(random.next() % 200))))
            }
            try tree.apply(ops)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problemCount.load(ordering: .relaxed) == 0, "\(problemCount.load(ordering: .relaxed)) problems: \(problems.withLock { $0 })")
        #expect(rounds.load(ordering: .relaxed) > 10, "the readers hardly ran: nothing was checked")
        for i in 0..<keys { #expect(try tree.get(Self.stamped(i)) == Self.version(versions, i)) }
        #expect(try tree.verify().isEmpty)
    }
}
