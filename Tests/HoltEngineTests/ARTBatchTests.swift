// Protects the ART as the index behind a Tree's batches: random batches applied through
// BatchApplier (with undo of failed conditions and directory renames) leave the ART and the
// SortedIndex oracle in the same state.
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
        default:
            let longest = Int.random(in: 3...9, using: &rng)
            return .expect(key: key, Bool.random(using: &rng) ? .noDescendants : .noDescendantLongerThan(longest))
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

