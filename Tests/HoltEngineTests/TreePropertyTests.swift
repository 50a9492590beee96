// Protects the engine's whole contract: random op sequences on path-shaped keys agree with a
// dictionary oracle, before and after close + reopen, and the tree verifies throughout.
import Testing
@testable import HoltEngine

@Suite struct TreePropertyTests {
    /// One random batch: mostly single puts and deletes, some renames, prefix renames and conditions.
    static func randomBatch(_ keys: inout PathKeys, known: [[UInt8]]) -> [TxnOp] {
        func existing() -> [UInt8] { known.isEmpty ? keys.key() : known[Int.random(in: 0..<known.count, using: &keys.random)] }
        let count = Int.random(in: 0..<8, using: &keys.random) == 0 ? Int.random(in: 2...6, using: &keys.random) : 1
        return (0..<count).map { _ in
            switch Int.random(in: 0..<100, using: &keys.random) {
            case 0..<50: return .put(key: keys.key(), value: keys.value())
            case 50..<70: return .delete(key: existing())
            case 70..<78: return .rename(from: existing(), to: keys.key())
            case 78..<88:
                let from = Int.random(in: 0..<2, using: &keys.random) == 0 ? keys.directory() : existing()
                return .renamePrefix(from: from, to: keys.directory() + [0x2F] + keys.name())
            case 88..<94: return .expect(key: existing(), .exists)
            case 94..<97: return .expect(key: keys.key(), .absent)
            default: return .expect(key: keys.directory(), .noDescendants)
            }
        }
    }

    static func randomQuery(_ keys: inout PathKeys, known: [[UInt8]]) -> RangeQuery {
        let prefix: [UInt8] = switch Int.random(in: 0..<4, using: &keys.random) {
        case 0: []
        case 1: keys.directory() + [0x2F]
        case 2: keys.directory()
        default: Array(keys.directory().prefix(2))
        }
        let startAfter: [UInt8]? = switch Int.random(in: 0..<10, using: &keys.random) {
        case 0..<3: known.isEmpty ? keys.key() : known[Int.random(in: 0..<known.count, using: &keys.random)]
        case 3: prefix  // resuming right after the prefix's own key
        default: nil
        }
        let delimiter: UInt8? = Int.random(in: 0..<2, using: &keys.random) == 0 ? 0x2F : nil
        let limit: Int? = Int.random(in: 0..<3, using: &keys.random) == 0 ? Int.random(in: 0...20, using: &keys.random) : nil
        return RangeQuery(prefix: prefix, startAfter: startAfter, delimiter: delimiter, limit: limit)
    }

    @Test("Random batches agree with a dictionary oracle, across reopen", arguments: SeededGenerator.seeds(6))
    func randomOpsAgreeWithOracle(seed: UInt64) throws {
        let dir = try TemporaryDirectory("prop")
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        var oracle = Oracle()
        var tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        let steps = SeededGenerator.longTests ? 20_000 : 2_500
        for step in 0..<steps {
            let known = Array(oracle.entries.keys.prefix(64))
            let batch = Self.randomBatch(&keys, known: known)
            let expected = oracle.apply(batch)
            var applied = true
            do { try tree.apply(batch) } catch {
                applied = false
                guard case .conditionFailed = error else {
                    guard case .invalidKey = error else {
                        Issue.record("seed \(seed) step \(step): unexpected \(error)"); return
                    }
                    continue
                }
            }
            #expect(applied == expected, "seed \(seed) step \(step): batch \(batch)")
            if applied != expected { return }
            if step % 50 == 0 {
                let query = Self.randomQuery(&keys, known: known)
                let got = try tree.range(query)
                #expect(got == oracle.range(query), "seed \(seed) step \(step): range \(query)")
                if got != oracle.range(query) { return }
            }
            if step % 500 == 499 {
                try tree.close()
                tree = try Tree.open(path: dir.path, options: Options(sync: .none))
                for (key, value) in oracle.entries {
                    let got = try tree.get(key)
                    #expect(got == value, "seed \(seed) after reopen at step \(step)")
                    if got != value { return }
                }
                #expect(try tree.verify().isEmpty, "seed \(seed)")
            }
        }
        let all = try tree.range(RangeQuery())
        #expect(all == oracle.range(RangeQuery()), "seed \(seed): full scan")
        try tree.close()
    }
}
