// Protects the ART's behaviour as an OrderedIndex: random put/remove/moveKeys/scan/get
// sequences over path-shaped keys must match the SortedIndex oracle exactly, with verify() clean.
import Testing
@testable import HoltEngine

@Suite struct ARTPropertyTests {
    /// Runs `ops` random operations with small blobs (so splits and merges happen) and compares.
    func run(seed: UInt64, ops: Int, capacity: Int, maxValue: Int, checkEvery: Int, binary: Bool = false) throws {
        var rng = SeededGenerator(seed: seed)
        let (index, source) = try ARTTest.make(capacity: capacity)
        let oracle = SortedIndex()
        var known: [[UInt8]] = []
        func newKey(_ rng: inout SeededGenerator) -> [UInt8] {
            binary ? ARTTest.binaryKey(&rng) : ARTTest.pathKey(&rng)
        }
        for step in 0..<ops {
            let roll = Int.random(in: 0..<100, using: &rng)
            if roll < 45 {
                let key = known.isEmpty || Int.random(in: 0..<3, using: &rng) > 0
                    ? newKey(&rng) : known.randomElement(using: &rng)!
                let value = ARTTest.value(&rng, maxLength: maxValue)
                let old = try index.put(key, value)
                let expected = oracle.put(key, value)
                if old != expected { Issue.record("seed \(seed) step \(step): put returned wrong old value"); return }
                known.append(key)
            } else if roll < 65 {
                let key = known.isEmpty || roll < 50 ? newKey(&rng) : known.randomElement(using: &rng)!
                let old = try index.remove(key)
                if old != oracle.remove(key) { Issue.record("seed \(seed) step \(step): remove disagrees"); return }
            } else if roll < 75 {
                let key = known.isEmpty ? newKey(&rng) : known.randomElement(using: &rng)!
                let probe = roll < 70 ? key : Array(key.prefix(Int.random(in: 0...key.count, using: &rng)))
                if try index.get(probe) != oracle.get(probe) { Issue.record("seed \(seed) step \(step): get disagrees"); return }
                if try index.hasKeys(withPrefix: probe) != oracle.hasKeys(withPrefix: probe) {
                    Issue.record("seed \(seed) step \(step): hasKeys disagrees"); return
                }
            } else if roll < 85 {
                // moveKeys: from a prefix of a known key to a prefix that holds no keys.
                guard let key = known.randomElement(using: &rng), key.count > 1 else { continue }
                let from = Array(key.prefix(Int.random(in: 1..<key.count, using: &rng)))
                var to = binary ? ARTTest.binaryKey(&rng) : ARTTest.pathKey(&rng, depth: 2, longNames: false)
                if to.isEmpty { continue }
                if Bool.random(using: &rng) { to.append(UInt8(ascii: "/")) }
                guard !from.starts(with: to), !to.starts(with: from), !oracle.hasKeys(withPrefix: to) else { continue }
                try index.moveKeys(withPrefix: from, to: to)
                oracle.moveKeys(withPrefix: from, to: to)
                known = known.map { $0.starts(with: from) ? to + $0[from.count...] : $0 }
            } else {
                let query = randomQuery(&rng, known)
                let actual = try index.scan(query)
                let expected = oracle.scan(query)
                if actual != expected {
                    Issue.record("seed \(seed) step \(step): scan \(query) gave \(actual.map { String(decoding: $0.position, as: UTF8.self) }), expected \(expected.map { String(decoding: $0.position, as: UTF8.self) })")
                    return
                }
            }
            if step % checkEvery == checkEvery - 1 {
                try ARTTest.expectSame(index, oracle, seed: seed, "step \(step)")
            }
        }
        try ARTTest.expectSame(index, oracle, seed: seed, "end")
        if capacity < BlobGeometry.blobSize {
            #expect(index.counters.splits > 0, "seed \(seed): \(index.counters)")
            print("seed \(seed): \(oracle.entries.count) keys, \(source.liveBlobs.count) blobs, \(index.counters)")
        }
        // Removing everything leaves one blob with an empty root.
        for (key, _) in oracle.entries { try index.remove(key) }
        #expect(try index.scan(RangeQuery()).isEmpty)
        #expect(index.verify().isEmpty, "seed \(seed): verify after emptying")
        #expect(source.liveBlobs == [index.root], "seed \(seed): blobs left after emptying: \(source.liveBlobs.count)")
    }

    func randomQuery(_ rng: inout SeededGenerator, _ known: [[UInt8]]) -> RangeQuery {
        let key = known.randomElement(using: &rng) ?? []
        var query = RangeQuery()
        if Bool.random(using: &rng) { query.prefix = Array(key.prefix(Int.random(in: 0...key.count, using: &rng))) }
        if Bool.random(using: &rng) {
            let other = known.randomElement(using: &rng) ?? []
            var after = Array(other.prefix(Int.random(in: 0...other.count, using: &rng)))
            if Int.random(in: 0..<4, using: &rng) == 0 { after.append(UInt8.random(in: 1...255, using: &rng)) }
            query.startAfter = after
        }
        if Bool.random(using: &rng) { query.delimiter = Int.random(in: 0..<5, using: &rng) == 0 ? UInt8(ascii: "1") : UInt8(ascii: "/") }
        if Bool.random(using: &rng) { query.limit = Int.random(in: 0...20, using: &rng) }
        return query
    }

    @Test("Random ops in one big blob match the oracle", arguments: ARTTest.seeds([1, 2, 3]))
    func singleBlob(seed: UInt64) throws {
        try run(seed: seed, ops: ARTTest.long ? 40_000 : 3_000, capacity: BlobGeometry.blobSize, maxValue: 40, checkEvery: 500)
    }

    @Test("Random ops over many small blobs match the oracle", arguments: ARTTest.seeds([11, 12, 13, 14]))
    func manyBlobs(seed: UInt64) throws {
        try run(seed: seed, ops: ARTTest.long ? 40_000 : 4_000, capacity: 64 * 1024, maxValue: 600, checkEvery: 500)
    }

    @Test("Random ops over binary keys (every byte value) match the oracle", arguments: ARTTest.seeds([51, 52]))
    func binaryKeys(seed: UInt64) throws {
        try run(seed: seed, ops: ARTTest.long ? 40_000 : 3_000, capacity: 16 * 1024, maxValue: 300, checkEvery: 500,
                binary: true)
    }
}
