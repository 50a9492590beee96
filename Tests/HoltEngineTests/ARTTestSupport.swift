// Shared helpers of the ART tests: a seeded generator (HOLT_SEED replays), path-shaped keys,
// and a comparison of an ARTIndex against the SortedIndex oracle.
import Foundation
import Testing
@testable import HoltEngine

enum ARTTest {
    /// The seeds to run: `HOLT_SEED` alone when set, else `defaults`.
    static func seeds(_ defaults: [UInt64]) -> [UInt64] {
        if let text = ProcessInfo.processInfo.environment["HOLT_SEED"], let seed = UInt64(text) { return [seed] }
        return defaults
    }

    /// Whether the long variants run.
    static var long: Bool { ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1" }

    /// Bytes of a string.
    static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A fresh index over memory blobs.
    static func make(capacity: Int = BlobGeometry.blobSize) throws -> (ARTIndex<MemoryBlobSource>, MemoryBlobSource) {
        let source = MemoryBlobSource()
        return (try ARTIndex.create(in: source, blobCapacity: capacity), source)
    }

    /// A path-shaped key: 1...depth components from small alphabets, sometimes a long name.
    static func pathKey(_ rng: inout SeededGenerator, depth: Int = 4, longNames: Bool = true) -> [UInt8] {
        let n = Int.random(in: 1...depth, using: &rng)
        var key: [UInt8] = []
        for level in 0..<n {
            if level > 0 { key.append(UInt8(ascii: "/")) }
            let roll = Int.random(in: 0..<100, using: &rng)
            if longNames && roll < 3 {
                let length = Int.random(in: 100...400, using: &rng)
                let base = UInt8(ascii: "a") + UInt8(Int.random(in: 0..<3, using: &rng))
                key += [UInt8](repeating: base, count: length)
                key.append(UInt8(ascii: "0") + UInt8(Int.random(in: 0..<4, using: &rng)))
            } else if roll < 60 {
                key += b("d\(Int.random(in: 0..<4, using: &rng))")
            } else {
                key += b("f\(Int.random(in: 0..<40, using: &rng))")
                if Int.random(in: 0..<4, using: &rng) == 0 { key += b(".txt") }
            }
        }
        return key
    }

    /// A value of 0...maxLength random bytes.
    static func value(_ rng: inout SeededGenerator, maxLength: Int = 40) -> [UInt8] {
        (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// Every entry of `index`, by a full scan.
    static func entries(_ index: ARTIndex<MemoryBlobSource>) throws -> [RangeItem] {
        try index.scan(RangeQuery())
    }

    /// Expects `index` and `oracle` to hold the same entries and `index` to verify clean.
    static func expectSame(_ index: ARTIndex<MemoryBlobSource>, _ oracle: SortedIndex, seed: UInt64,
                           _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = oracle.entries.map { RangeItem.entry(key: $0.key, value: $0.value) }
        let actual = try entries(index)
        #expect(actual.count == expected.count, "seed \(seed) \(context): count", sourceLocation: sourceLocation)
        if actual != expected {
            let firstBad = (0..<min(actual.count, expected.count)).first { actual[$0] != expected[$0] } ?? min(actual.count, expected.count)
            Issue.record("seed \(seed) \(context): entries differ at \(firstBad)", sourceLocation: sourceLocation)
        }
        let problems = index.verify()
        #expect(problems.isEmpty, "seed \(seed) \(context): \(problems.prefix(5))", sourceLocation: sourceLocation)
    }
}
