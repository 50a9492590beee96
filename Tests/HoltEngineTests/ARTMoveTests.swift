// Protects the point of the design: moveKeys relinks a subtree instead of copying its keys, so
// its cost (blob writes, bytes copied) does not grow with the number of keys moved.
import Testing
@testable import HoltEngine

@Suite struct ARTMoveTests {
    /// Builds a tree with unrelated keys, `small/` holding one key and `big/` holding `count`.
    func build(count: Int) throws -> (ARTIndex<MemoryBlobSource>, MemoryBlobSource) {
        let (index, source) = try ARTTest.make()
        let value = [UInt8](repeating: 7, count: 64)
        for n in 0..<2_000 { try index.put(ARTTest.b("other\(n % 10)/f\(n)"), value) }
        try index.put(ARTTest.b("small/only"), value)
        for n in 0..<count { try index.put(ARTTest.b("big/d\(n % 100)/file\(n)"), value) }
        return (index, source)
    }

    /// The blob writes and bytes copied of one moveKeys.
    func cost(_ index: ARTIndex<MemoryBlobSource>, _ source: MemoryBlobSource, _ from: String, _ to: String) throws
        -> (writes: Int, bytes: Int, blobs: Int)
    {
        source.resetCounters()
        let before = index.counters.bytesCopied
        try index.moveKeys(withPrefix: ARTTest.b(from), to: ARTTest.b(to))
        return (source.writes, index.counters.bytesCopied - before, source.allocations + source.frees)
    }

    @Test("Moving 100,000 keys costs about what moving one does")
    func costIsIndependentOfCount() throws {
        let count = ARTTest.long ? 100_000 : 100_000
        let (index, source) = try build(count: count)
        #expect(source.liveBlobs.count > 10, "the big subtree should span many blobs")
        let one = try cost(index, source, "small/", "moved-small/")
        let many = try cost(index, source, "big/", "moved-big/")
        print("moveKeys cost: 1 key \(one), \(count) keys \(many)")
        // Writes: a handful per move, whatever the count.
        #expect(many.writes <= 3 * one.writes + 8, "\(many.writes) writes vs \(one.writes)")
        // Bytes: at most about one blob, while the moved keys hold many megabytes.
        #expect(many.bytes <= 2 * BlobGeometry.blobSize, "\(many.bytes) bytes copied")
        #expect(many.blobs <= 4)
        #expect(try index.get(ARTTest.b("moved-big/d7/file7")) != nil)
        #expect(try index.get(ARTTest.b("big/d7/file7")) == nil)
        #expect(try !index.hasKeys(withPrefix: ARTTest.b("big/")))
        #expect(try index.get(ARTTest.b("moved-small/only")) != nil)
        #expect(try index.scan(RangeQuery(prefix: ARTTest.b("moved-big/"))).count == count)
        #expect(index.verify().isEmpty)
        #expect(try index.reachableBlobs() == source.liveBlobs)
        // And back, under a longer path.
        let back = try cost(index, source, "moved-big/", "a/much/deeper/place/")
        #expect(back.writes <= 3 * one.writes + 8 && back.bytes <= 2 * BlobGeometry.blobSize)
        #expect(try index.scan(RangeQuery(prefix: ARTTest.b("a/much/deeper/place/"))).count == count)
        #expect(index.verify().isEmpty)
    }

    @Test("A move splits a compressed path at the boundary")
    func splitsPrefixAtBoundary() throws {
        let (index, _) = try ARTTest.make()
        let oracle = SortedIndex()
        for key in ["abcdefgh/1", "abcdefgh/2", "abcdexyz", "abc", "b"] {
            try index.put(ARTTest.b(key), ARTTest.b(key))
            _ = oracle.put(ARTTest.b(key), ARTTest.b(key))
        }
        for (from, to) in [("abcdef", "zz"), ("abcd", "q/r/s"), ("q/r/sexyz", "c"), ("b", "x/")] {
            try index.moveKeys(withPrefix: ARTTest.b(from), to: ARTTest.b(to))
            oracle.moveKeys(withPrefix: ARTTest.b(from), to: ARTTest.b(to))
            try ARTTest.expectSame(index, oracle, seed: 0, "\(from) -> \(to)")
        }
        // A missing source moves nothing; a non-empty destination is refused before anything moves.
        try index.moveKeys(withPrefix: ARTTest.b("nothing"), to: ARTTest.b("elsewhere"))
        #expect(throws: HoltError.self) { try index.moveKeys(withPrefix: ARTTest.b("zz"), to: ARTTest.b("ab")) }
        try ARTTest.expectSame(index, oracle, seed: 0, "after refused move")
    }
}
