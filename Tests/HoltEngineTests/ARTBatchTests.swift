// Protects the ART as the index behind a Tree's batches: random batches applied through
// BatchApplier (with undo of failed conditions and directory renames) leave the ART and the
// SortedIndex oracle in the same state; large put/delete batches applied in key order end where
// batch order ends, and undo cleanly.
import Testing
@testable import HoltEngine

@Suite struct ARTBatchTests {
    /// Applies `ops` to `index` as Tree.apply does: all or, when a condition fails, none.
    func apply<Index: OrderedIndex>(_ ops: [TxnOp], to index: Index) throws -> Bool {
        var applier = BatchApplier(index: index)
        do {
            for (position, op) in ops.enumerated() { try applier.perform(op, at: position) }
            return true
        } catch {
            switch error {
            case .conditionFailed, .invalidKey:
                try applier.undo()
                return false
            default:
                throw error
            }
        }
    }

    func randomOp(_ rng: inout SeededGenerator) -> TxnOp {
        let key = ARTTest.pathKey(&rng, depth: 3, longNames: false)
        let other = ARTTest.pathKey(&rng, depth: 3, longNames: false)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...3: return .put(key: key, value: ARTTest.value(&rng, maxLength: 30))
        case 4: return .delete(key: key)
        case 5: return .rename(from: key, to: other)
        case 6, 7: return .renamePrefix(from: Array(key.prefix(2)), to: Array(other.prefix(3)))
        case 8: return .expect(key: key, .absent)
        default: return .expect(key: key, .noDescendants)
        }
    }

    @Test("Random batches agree with the oracle, failed ones undone", arguments: ARTTest.seeds([41, 42]))
    func batches(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let (index, _) = try ARTTest.make(capacity: 32 * 1024)
        let oracle = SortedIndex()
        var applied = 0, refused = 0
        for step in 0..<(ARTTest.long ? 5_000 : 600) {
            let ops = (0..<Int.random(in: 1...4, using: &rng)).map { _ in randomOp(&rng) }
            let a = try apply(ops, to: index)
            let b = try apply(ops, to: oracle)
            #expect(a == b, "seed \(seed) step \(step): \(ops)")
            if a { applied += 1 } else { refused += 1 }
            if step % 100 == 99 { try ARTTest.expectSame(index, oracle, seed: seed, "step \(step)") }
        }
        try ARTTest.expectSame(index, oracle, seed: seed, "end")
        #expect(applied > 50 && refused > 50, "applied \(applied), refused \(refused)")
    }
}

/// Protects the key-order shortcut of `BatchApplier.performAll`: a large batch of puts and
/// deletes (with repeated keys) applied in key order ends where applying it in batch order ends,
/// and its undo leaves nothing behind.
@Suite struct SortedBatchTests {
    /// A batch of `count` puts and deletes over few keys, so keys repeat.
    func randomBatch(_ rng: inout SeededGenerator, count: Int) -> [TxnOp] {
        (0..<count).map { _ in
            let key = ARTTest.pathKey(&rng, depth: 2, longNames: false)
            return Int.random(in: 0..<4, using: &rng) == 0
                ? .delete(key: key) : .put(key: key, value: ARTTest.value(&rng, maxLength: 30))
        }
    }

    @Test("Key order gives the batch-order result", arguments: ARTTest.seeds([7, 8]))
    func keyOrderAgreesWithBatchOrder(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let (index, _) = try ARTTest.make(capacity: 32 * 1024)
        let oracle = SortedIndex()
        for step in 0..<(ARTTest.long ? 200 : 30) {
            let ops = randomBatch(&rng, count: Int.random(in: 64...300, using: &rng))
            #expect(BatchApplier<SortedIndex>.keyOrder(ops) != nil)
            var sorted = BatchApplier(index: index)
            try sorted.performAll(ops)
            var inOrder = BatchApplier(index: oracle)
            for (position, op) in ops.enumerated() { try inOrder.perform(op, at: position) }
            if step % 10 == 9 { try ARTTest.expectSame(index, oracle, seed: seed, "step \(step)") }
        }
        try ARTTest.expectSame(index, oracle, seed: seed, "end")
    }

    @Test("Undoing a key-ordered batch restores the index", arguments: ARTTest.seeds([9]))
    func undoOfAKeyOrderedBatch(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let (index, _) = try ARTTest.make(capacity: 32 * 1024)
        let oracle = SortedIndex()
        for op in randomBatch(&rng, count: 400) {
            var a = BatchApplier(index: index), b = BatchApplier(index: oracle)
            try a.perform(op, at: 0)
            try b.perform(op, at: 0)
        }
        for step in 0..<10 {
            var applier = BatchApplier(index: index)
            try applier.performAll(randomBatch(&rng, count: 200))
            try applier.undo()
            try ARTTest.expectSame(index, oracle, seed: seed, "step \(step)")
        }
    }

    @Test func smallOrConditionalBatchesKeepTheirOrder() {
        let key = Array("a/b".utf8)
        let puts = Array(repeating: TxnOp.put(key: key, value: key), count: 100)
        #expect(BatchApplier<SortedIndex>.keyOrder(Array(puts.prefix(10))) == nil)
        #expect(BatchApplier<SortedIndex>.keyOrder(puts + [.expect(key: key, .exists)]) == nil)
        #expect(BatchApplier<SortedIndex>.keyOrder(puts + [.rename(from: key, to: [1])]) == nil)
        #expect(BatchApplier<SortedIndex>.keyOrder(puts) == Array(0..<100), "equal keys keep batch order")
    }
}
