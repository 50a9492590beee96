// Protects the shape of the blob tree: splits must keep it shallow, so a lookup crosses few
// blobs (each crossing is a pin, a header check and cold cache lines). The old rule, moving the
// biggest subtrees (the upper levels) down, made a chain of blobs five deep at a million keys.
import Testing
@testable import HoltEngine

@Suite struct BlobDepthTests {
    /// Metadata-shaped keys like the benchmark's: `tT/bucketB/dNNNN/name-NNNNNNNN[-suffix]`.
    static func keys(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { n in
            let dir = Int.random(in: 0..<60, using: &rng)
            let suffix = Bool.random(using: &rng) ? "-\(Int.random(in: 0..<1_000_000, using: &rng))" : ""
            let name = String(repeating: "0", count: 8 - String(2 * n).count) + String(2 * n)
            return ARTTest.b("t\(dir % 10)/bucket\(dir % 6)/d\(1000 + dir)/name-\(name)\(suffix)")
        }
    }

    @Test("Lookups in a tree of hundreds of blobs cross at most about three of them")
    func shallowBlobTree() throws {
        for seed in ARTTest.seeds([11, 12]) {
            let (index, source) = try ARTTest.make(capacity: 16 * 1024)
            let keys = Self.keys(40_000, seed: seed)
            for key in keys { try index.put(key, [UInt8](repeating: 7, count: 24)) }
            let blobs = source.liveBlobs.count
            #expect(blobs >= 150, "seed \(seed): only \(blobs) blobs")
            #expect(index.verify().isEmpty)
            source.countReads = true
            var deepest = 0
            for key in keys {
                let before = source.reads
                #expect(try index.get(key) != nil)
                deepest = max(deepest, source.reads - before)
            }
            let mean = Double(source.reads) / Double(keys.count)
            print("blob depth, seed \(seed): \(blobs) blobs, \(mean) blobs per lookup, deepest \(deepest)")
            #expect(mean <= 3.0, "seed \(seed): \(mean) blobs per lookup over \(blobs) blobs")
        }
    }
}
