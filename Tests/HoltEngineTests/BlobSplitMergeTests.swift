// Protects splitting and merging at blob boundaries: enough data for hundreds of blobs must
// stay correct, every blob reachable once and none leaked, and emptying the tree must merge
// and free every child blob.
import Testing
@testable import HoltEngine

@Suite struct BlobSplitMergeTests {
    /// Path keys like `dir12/sub3/file0042`, `count` of them, in a seeded order.
    static func pathKeys(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: seed)
        var keys = (0..<count).map { n in
            ARTTest.b("dir\(n % 97)/sub\(n % 7)/file\(String(n, radix: 16))-\(n % 13)")
        }
        keys.shuffle(using: &rng)
        return keys
    }

    static func value(_ key: [UInt8], _ size: Int) -> [UInt8] {
        (0..<size).map { key[$0 % key.count] &+ UInt8(truncatingIfNeeded: $0) }
    }

    func fillAndDrain(count: Int, capacity: Int, valueSize: Int, seed: UInt64, minBlobs: Int) throws {
        let (index, source) = try ARTTest.make(capacity: capacity)
        let keys = Self.pathKeys(count, seed: seed)
        for key in keys { try index.put(key, Self.value(key, valueSize)) }
        let blobs = source.liveBlobs.count
        #expect(blobs >= minBlobs, "only \(blobs) blobs")
        #expect(try index.reachableBlobs() == source.liveBlobs, "leaked or dangling blobs")
        #expect(index.verify().isEmpty)
        for key in keys.prefix(2000) { #expect(try index.get(key) == Self.value(key, valueSize)) }
        let all = try index.scan(RangeQuery())
        #expect(all.count == count)
        #expect(all.map(\.position) == keys.sorted { $0.lexicographicallyPrecedes($1) })
        // Remove in another order; the tree shrinks back into its root blob.
        var rng = SeededGenerator(seed: seed ^ 0xABCD)
        let order = keys.shuffled(using: &rng)
        for (n, key) in order.enumerated() {
            #expect(try index.remove(key) != nil)
            if n == count / 2 {
                #expect(index.verify().isEmpty)
                #expect(try index.reachableBlobs() == source.liveBlobs)
            }
        }
        #expect(index.verify().isEmpty)
        #expect(source.liveBlobs == [index.root], "\(source.liveBlobs.count) blobs left")
        print("split/merge \(count) keys: \(blobs) blobs at peak, \(index.counters)")
    }

    @Test("Hundreds of small blobs split and merge back")
    func hundredsOfBlobs() throws {
        try fillAndDrain(count: 30_000, capacity: 32 * 1024, valueSize: 64, seed: 7, minBlobs: 150)
    }

    @Test("Full-size blobs split under 200k path keys", .enabled(if: ARTTest.long))
    func twoHundredThousand() throws {
        try fillAndDrain(count: 200_000, capacity: BlobGeometry.blobSize, valueSize: 64, seed: 8, minBlobs: 20)
    }

    @Test("Large values force splits in full-size blobs")
    func largeValues() throws {
        try fillAndDrain(count: 3_000, capacity: BlobGeometry.blobSize, valueSize: 2_000, seed: 9, minBlobs: 8)
    }
}
