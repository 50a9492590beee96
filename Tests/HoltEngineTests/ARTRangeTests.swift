// Protects range scans: every combination of prefix / startAfter / delimiter / limit matches
// SortedIndex (in one blob and across split blobs), and a delimiter listing skips rolled-up
// subtrees without walking them.
import Testing
@testable import HoltEngine

@Suite struct ARTRangeTests {
    static let keys = [
        "", "a", "a/", "a/b", "a/b/c", "a/b/c/d", "a/b/e", "a/b0", "a/c", "a/c/x", "a/d/e/f", "a1", "ab",
        "b", "b/x", "b/y/z", "c/" + String(repeating: "long", count: 60) + "/end", "c/" + String(repeating: "long", count: 60),
        "dir/sub/f1", "dir/sub/f2", "dir/sub2/f", "dir/z", "\u{7f}x", "zz",
    ].map(ARTTest.b)

    static let prefixes = ["", "a", "a/", "a/b", "a/b/", "a/b/c/d", "b/", "c/long", "dir/", "dir/sub", "nope", "zz"].map(ARTTest.b)
    static let starts: [[UInt8]?] = [nil] + ["", "a", "a/", "a/b", "a/b/", "a/b/c", "a/b/d", "a/b0", "a/c/", "b",
                                             "c/long", "dir/sub/", "dir/sub0", "\u{7f}", "zzz"].map(ARTTest.b)

    func checkAll(_ index: ARTIndex<MemoryBlobSource>, _ oracle: SortedIndex) throws {
        var checked = 0
        for prefix in Self.prefixes {
            for start in Self.starts {
                for delimiter in [nil, UInt8(ascii: "/"), UInt8(ascii: "b")] {
                    for limit in [nil, 0, 1, 2, 5] {
                        let query = RangeQuery(prefix: prefix, startAfter: start, delimiter: delimiter, limit: limit)
                        let actual = try index.scan(query)
                        let expected = oracle.scan(query)
                        #expect(actual == expected, "\(query)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == Self.prefixes.count * Self.starts.count * 3 * 5)
    }

    @Test("Every prefix/startAfter/delimiter/limit combination matches the oracle")
    func combinations() throws {
        let (index, _) = try ARTTest.make()
        let oracle = SortedIndex()
        for key in Self.keys {
            try index.put(key, key + [1])
            _ = oracle.put(key, key + [1])
        }
        try checkAll(index, oracle)
    }

    @Test("Combinations match across many small blobs")
    func combinationsAcrossBlobs() throws {
        let (index, source) = try ARTTest.make(capacity: 16 * 1024)
        let oracle = SortedIndex()
        let filler = [UInt8](repeating: 9, count: 700)
        for key in Self.keys {
            try index.put(key, key + filler)
            _ = oracle.put(key, key + filler)
        }
        #expect(source.liveBlobs.count > 1)
        try checkAll(index, oracle)
        #expect(index.verify().isEmpty)
    }

    @Test("Paging with startAfter = the last item walks a listing exactly once")
    func paging() throws {
        let (index, _) = try ARTTest.make(capacity: 32 * 1024)
        let oracle = SortedIndex()
        for n in 0..<3_000 {
            let key = ARTTest.b("d/\(n % 37)/x\(n)")
            try index.put(key, [UInt8(n & 0xFF)])
            _ = oracle.put(key, [UInt8(n & 0xFF)])
        }
        for delimiter in [nil, UInt8(ascii: "/")] {
            var after: [UInt8]? = nil
            var pages: [RangeItem] = []
            while true {
                let page = try index.scan(RangeQuery(prefix: ARTTest.b("d/"), startAfter: after, delimiter: delimiter, limit: 7))
                if page.isEmpty { break }
                pages += page
                after = page.last!.position
            }
            #expect(pages == oracle.scan(RangeQuery(prefix: ARTTest.b("d/"), delimiter: delimiter)))
        }
    }

    @Test("A delimiter listing visits the children, not the descendants")
    func rollupSkipsSubtrees() throws {
        func visited(files: Int) throws -> (Int, [RangeItem]) {
            let (index, _) = try ARTTest.make()
            for d in 0..<10 {
                for f in 0..<files { try index.put(ARTTest.b("top/dir\(d)/file\(f)"), []) }
            }
            for f in 0..<5 { try index.put(ARTTest.b("top/file\(f)"), []) }
            var count = 0
            let items = try index.scan(RangeQuery(prefix: ARTTest.b("top/"), delimiter: UInt8(ascii: "/")), visited: &count)
            return (count, items)
        }
        let (few, fewItems) = try visited(files: 3)
        let (many, manyItems) = try visited(files: 2_000)
        #expect(fewItems.count == 15 && manyItems == fewItems)
        #expect(many <= few + 5, "visited \(many) nodes for 20,000 descendants, \(few) for 30")
        #expect(many < 100)
    }
}
