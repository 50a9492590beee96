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

    @Test("Splits under wide nodes pack small siblings into shared blobs")
    func wideNodesPack() throws {
        var rng = SeededGenerator(seed: 10)
        let (index, source) = try ARTTest.make(capacity: 16 * 1024)
        let oracle = SortedIndex()
        for _ in 0..<4_000 {
            let key = (0..<8).map { _ in UInt8.random(in: 1...255, using: &rng) }
            let value = [UInt8](repeating: 3, count: 20)
            try index.put(key, value)
            _ = oracle.put(key, value)
        }
        // Live bytes over all blobs, against what the blobs could hold.
        var live = 0
        for blob in source.liveBlobs {
            live += try source.read(blob) { (raw) throws(HoltError) in PageView(base: raw, id: blob).liveBytes }
        }
        let capacity = 16 * 1024 - ARTLayout.slotTable
        let fill = Double(live) / Double(source.liveBlobs.count * capacity)
        print("wide nodes: \(source.liveBlobs.count) blobs, \(Int(fill * 100))% full, \(index.counters)")
        // Measured 21% with 16 KiB blobs (path keys do better): referrers of a child blob's
        // subtrees spread over several parents, and a root-only split then moves only the
        // subtrees its one known parent refers to. The bound catches a return to one blob per
        // small sibling.
        #expect(fill > 0.18, "blobs only \(Int(fill * 100))% full on average")
        try ARTTest.expectSame(index, oracle, seed: 10)
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
