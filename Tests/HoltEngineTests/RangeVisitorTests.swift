// Protects the borrowed-bytes range walk (`ARTIndex.visit`, `Tree.forEach`): its items match a
// dictionary oracle for every prefix / startAfter (including startAfter == prefix and startAfter
// before the prefix) / delimiter / limit, in one blob and across split blobs and through the
// in-order child cursors of Node48 and Node256; the borrowed key bytes are the key; returning
// false stops the walk at once; `Tree.forEach` agrees with `Tree.range`; and calling the tree
// from a forEach body traps in debug builds rather than deadlocking.
import Testing
@testable import HoltEngine

@Suite struct RangeVisitorTests {
    typealias Oracle = [[UInt8]: [UInt8]]

    /// The items of `query` over `oracle`, computed the plain way: sort, roll up, filter, cut.
    static func expected(_ oracle: Oracle, _ query: RangeQuery, sorted: [[UInt8]]? = nil) -> [RangeItem] {
        let all = sorted ?? oracle.keys.sorted { $0.lexicographicallyPrecedes($1) }
        let keys = all.filter { $0.starts(with: query.prefix) }
        var items: [RangeItem] = []
        var lastCommon: [UInt8]? = nil
        for key in keys {
            let item: RangeItem
            if let delimiter = query.delimiter, let cut = key[query.prefix.count...].firstIndex(of: delimiter) {
                let common = Array(key[...cut])
                if common == lastCommon { continue }
                lastCommon = common
                item = .commonPrefix(common)
            } else {
                item = .entry(key: key, value: oracle[key]!)
            }
            if let after = query.startAfter, !after.lexicographicallyPrecedes(item.position) { continue }
            if let limit = query.limit, items.count >= limit { break }
            items.append(item)
        }
        return items
    }

    /// Where two item lists part, in a line (the lists themselves can be long).
    static func difference(_ got: [RangeItem], _ want: [RangeItem]) -> String {
        let at = (0..<min(got.count, want.count)).first { got[$0] != want[$0] } ?? min(got.count, want.count)
        return "\(got.count) items, expected \(want.count); first difference at \(at): "
            + "\(at < got.count ? "\(got[at].position)" : "end") vs \(at < want.count ? "\(want[at].position)" : "end")"
    }

    /// The items `index.visit` hands over, copied; checks on the way that each borrowed entry's
    /// key is a key of `oracle` whose value is the borrowed value.
    static func visited(_ index: ARTIndex<MemoryBlobSource>, _ query: RangeQuery, _ oracle: Oracle,
                        seed: UInt64) throws -> [RangeItem] {
        var items: [RangeItem] = []
        try index.visit(query) { (view) throws(HoltError) -> Bool in
            if !view.isCommonPrefix {
                #expect(oracle[Array(view.key)] == Array(view.value), "seed \(seed): borrowed key/value \(query)")
            } else {
                #expect(view.value.isEmpty, "seed \(seed): a common prefix with a value")
            }
            items.append(view.item)
            return true
        }
        return items
    }

    /// A random query over the keys of `oracle`, drawing the awkward resume points often.
    static func query(_ rng: inout SeededGenerator, _ keys: [[UInt8]]) -> RangeQuery {
        let some = keys.isEmpty ? [] : keys[Int.random(in: 0..<keys.count, using: &rng)]
        let prefix: [UInt8] = switch Int.random(in: 0..<5, using: &rng) {
        case 0: []
        case 1: some
        default: Array(some.prefix(Int.random(in: 0...some.count, using: &rng)))
        }
        let other = keys.isEmpty ? [] : keys[Int.random(in: 0..<keys.count, using: &rng)]
        let startAfter: [UInt8]? = switch Int.random(in: 0..<8, using: &rng) {
        case 0: prefix  // strictly after the prefix: leaves out the prefix's own key
        case 1: Array(prefix.prefix(Int.random(in: 0...prefix.count, using: &rng)))  // at or before the prefix
        case 2: prefix.isEmpty || prefix.last! == 1 ? [] : Array(prefix.dropLast()) + [prefix.last! - 1, 0xFF]  // just before it
        case 3: other
        case 4: Array(other.prefix(Int.random(in: 0...other.count, using: &rng)))
        case 5: prefix + other.prefix(3)
        default: nil
        }
        let delimiter: UInt8? = switch Int.random(in: 0..<4, using: &rng) {
        case 0: UInt8(ascii: "/")
        case 1: some.isEmpty ? 0x7F : some[Int.random(in: 0..<some.count, using: &rng)]
        default: nil
        }
        let limit: Int? = switch Int.random(in: 0..<4, using: &rng) {
        case 0: Int.random(in: 0...3, using: &rng)
        case 1: Int.random(in: 4...40, using: &rng)
        default: nil
        }
        return RangeQuery(prefix: prefix, startAfter: startAfter, delimiter: delimiter, limit: limit)
    }

    /// Fills an index and a dictionary with the same random path and binary keys.
    static func fill(_ index: ARTIndex<MemoryBlobSource>, _ rng: inout SeededGenerator, count: Int,
                     valueLength: Int) throws -> Oracle {
        var oracle: Oracle = [:]
        for n in 0..<count {
            let key = n % 3 == 0 ? ARTTest.binaryKey(&rng) : ARTTest.pathKey(&rng)
            let value = ARTTest.value(&rng, maxLength: valueLength)
            try index.put(key, value)
            oracle[key] = value
        }
        return oracle
    }

    @Test("Random queries match the dictionary oracle", arguments: [(BlobGeometry.blobSize, 40), (16 * 1024, 300)])
    func matchesOracle(capacity: Int, valueLength: Int) throws {
        for seed in ARTTest.seeds([701, 702]) {
            var rng = SeededGenerator(seed: seed)
            let (index, source) = try ARTTest.make(capacity: capacity)
            let oracle = try Self.fill(index, &rng, count: ARTTest.long ? 3_000 : 600, valueLength: valueLength)
            if capacity < BlobGeometry.blobSize { #expect(source.liveBlobs.count > 1, "seed \(seed): no split") }
            let keys = Array(oracle.keys)
            for step in 0..<(ARTTest.long ? 5_000 : 400) {
                let query = Self.query(&rng, keys)
                let got = try Self.visited(index, query, oracle, seed: seed)
                let want = Self.expected(oracle, query)
                if got != want {
                    Issue.record("seed \(seed) step \(step): \(query): \(Self.difference(got, want))")
                    return
                }
                let scanned = try index.scan(query)
                if scanned != want { Issue.record("seed \(seed) step \(step): scan \(query): \(Self.difference(scanned, want))") }
            }
        }
    }

    @Test("The resume point at, before and just after the prefix")
    func resumeAroundThePrefix() throws {
        let (index, _) = try ARTTest.make()
        var oracle: Oracle = [:]
        for name in ["p", "p/a", "p/b/c", "p0", "q", "o", "p/"] {
            try index.put(ARTTest.b(name), ARTTest.b(name))
            oracle[ARTTest.b(name)] = ARTTest.b(name)
        }
        let p = ARTTest.b("p")
        for after in ["p", "", "o", "o\u{7f}", "p/", "p/a", "p/b", "p/b/", "p/b/c", "p0", "q"].map(ARTTest.b) {
            for delimiter in [nil, UInt8(ascii: "/")] {
                for prefix in [p, ARTTest.b("p/")] {
                    let query = RangeQuery(prefix: prefix, startAfter: after, delimiter: delimiter)
                    #expect(try Self.visited(index, query, oracle, seed: 0) == Self.expected(oracle, query), "\(query)")
                }
            }
        }
        // The cases by name: == prefix leaves out the prefix's key only; before it leaves out nothing.
        let atPrefix = try index.scan(RangeQuery(prefix: p, startAfter: p)).map(\.position)
        #expect(atPrefix == ["p/", "p/a", "p/b/c", "p0"].map(ARTTest.b))
        let beforePrefix = try index.scan(RangeQuery(prefix: ARTTest.b("p/"), startAfter: p)).map(\.position)
        #expect(beforePrefix == ["p/", "p/a", "p/b/c"].map(ARTTest.b))
        #expect(try index.scan(RangeQuery(prefix: p, startAfter: ARTTest.b("q"))).isEmpty)
    }

    @Test("Returning false stops at once; the items seen are the first ones")
    func earlyStop() throws {
        var rng = SeededGenerator(seed: ARTTest.seeds([703])[0])
        let (index, _) = try ARTTest.make(capacity: 16 * 1024)
        let oracle = try Self.fill(index, &rng, count: 500, valueLength: 200)
        for delimiter in [nil, UInt8(ascii: "/")] {
            let all = Self.expected(oracle, RangeQuery(delimiter: delimiter))
            for stopAfter in [1, 2, 7, all.count / 2, all.count - 1, all.count, all.count + 5] {
                var seen: [RangeItem] = []
                try index.visit(RangeQuery(delimiter: delimiter)) { (view) throws(HoltError) -> Bool in
                    seen.append(view.item)
                    return seen.count < stopAfter
                }
                #expect(seen == Array(all.prefix(stopAfter)), "rng seed \(rng.seed), stop after \(stopAfter)")
            }
        }
        // An error thrown by the body ends the walk and reaches the caller.
        var calls = 0
        #expect(throws: HoltError.closed) {
            try index.visit(RangeQuery()) { (_) throws(HoltError) -> Bool in
                calls += 1
                throw .closed
            }
        }
        #expect(calls == 1)
    }

    @Test("Long keys that cross Blob nodes and Prefix chains come out whole")
    func keysAcrossBlobs() throws {
        let (index, source) = try ARTTest.make(capacity: 16 * 1024)
        var oracle: Oracle = [:]
        let stem = [UInt8](repeating: UInt8(ascii: "s"), count: 300)  // longer than one Prefix node
        for n in 0..<400 {
            let key = ARTTest.b("d\(n % 5)/") + stem + ARTTest.b("/\(n % 3)/") + stem + ARTTest.b("/f\(n)")
            let value = [UInt8](repeating: UInt8(n & 0xFF), count: 400)
            try index.put(key, value)
            oracle[key] = value
        }
        #expect(source.liveBlobs.count > 5)
        #expect(index.verify().isEmpty)
        var queries = [RangeQuery(), RangeQuery(delimiter: UInt8(ascii: "/"))]
        for d in 0..<5 {
            let dir = ARTTest.b("d\(d)/") + stem + ARTTest.b("/")
            queries.append(RangeQuery(prefix: dir, delimiter: UInt8(ascii: "/")))
            queries.append(RangeQuery(prefix: dir + ARTTest.b("1/") + stem.prefix(200)))  // ends inside a Prefix chain
            queries.append(RangeQuery(prefix: dir, startAfter: dir + ARTTest.b("1/") + stem + ARTTest.b("/f2"), limit: 9))
        }
        for query in queries {
            let got = try Self.visited(index, query, oracle, seed: 0)
            #expect(got == Self.expected(oracle, query), "\(query)")
            #expect(!got.isEmpty, "\(query)")
        }
    }

    @Test("Node48 and Node256 children come out in order from every resume byte")
    func wideNodes() throws {
        for width in [20, 45, 100, 255] {
            var rng = SeededGenerator(seed: UInt64(width))
            let (index, _) = try ARTTest.make()
            var oracle: Oracle = [:]
            let bytes = Array((1...255).map { UInt8($0) }.shuffled(using: &rng).prefix(width))
            for b in bytes {
                let tails: [[UInt8]] = [[], [b], ARTTest.b("/x")]
                for tail in tails {
                    let key = ARTTest.b("n/") + [b] + tail
                    try index.put(key, [b])
                    oracle[key] = [b]
                }
            }
            let sorted = oracle.keys.sorted { $0.lexicographicallyPrecedes($1) }
            for resume in 0...255 {
                for delimiter in [nil, UInt8(ascii: "/")] {
                    let query = RangeQuery(prefix: ARTTest.b("n/"), startAfter: resume == 0 ? nil : ARTTest.b("n/") + [UInt8(resume)],
                                           delimiter: delimiter, limit: resume % 3 == 0 ? 5 : nil)
                    #expect(try Self.visited(index, query, oracle, seed: 0) == Self.expected(oracle, query, sorted: sorted),
                            "width \(width) \(query)")
                }
            }
        }
    }

    @Test("Tree.forEach gives the items of Tree.range, and throws once the tree is closed")
    func treeForEach() throws {
        let dir = try TemporaryDirectory("visitor")
        let tree = try Tree.open(path: dir.path)
        var rng = SeededGenerator(seed: ARTTest.seeds([704])[0])
        var keys: [[UInt8]] = []
        for _ in 0..<300 {
            let key = ARTTest.pathKey(&rng, longNames: false)
            try tree.put(key, key.reversed())
            keys.append(key)
        }
        for _ in 0..<100 {
            let query = Self.query(&rng, keys)
            var items: [RangeItem] = []
            try tree.forEach(query) { item in
                items.append(item.item)
                return true
            }
            #expect(items == (try tree.range(query)), "seed \(rng.seed): \(query)")
        }
        try tree.close()
        #expect(throws: HoltError.closed) { try tree.forEach(RangeQuery()) { _ in true } }
    }

    #if DEBUG
    @Test("Calling the tree from a forEach body traps in a debug build instead of deadlocking")
    func reentryTraps() async throws {
        let dir = try TemporaryDirectory("visitor-reentry")
        // The same walk without the nested call exits cleanly, so the trap below is the nesting.
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let tree = try Tree.open(path: path)
            try tree.put(Array("a".utf8), [1])
            var keys: [[UInt8]] = []
            try tree.forEach(RangeQuery()) { item in
                keys.append(Array(item.key))
                return true
            }
            for key in keys { _ = try tree.get(key) }  // after the walk: fine
            try tree.close()
        }
        await #expect(processExitsWith: .failure) { [path = dir.path as String] in
            let tree = try Tree.open(path: path)
            try tree.forEach(RangeQuery()) { (item) throws(HoltError) -> Bool in
                _ = try tree.get(Array(item.key))  // a get takes no lock: fine inside the walk
                // Inside the walk: the lock again (`range` and `hasKeys` take it only when their
                // lock-free tries fail, so the nested walk shows it every time).
                try tree.forEach(RangeQuery()) { _ in true }
                return true
            }
        }
    }
    #endif
}
