// Protects each node kind's boundaries: Node4/16/48/256 grow at 5/17/49 children and shrink at
// 3/12/40, a Node4 left with one child collapses, and edge keys (empty, prefix of another,
// 65,535 bytes) and values (empty, 65,535 bytes) round-trip.
import Testing
@testable import HoltEngine

@Suite struct ARTNodeTests {
    /// The kind of node at the position of `prefix`.
    func kind(_ index: ARTIndex<MemoryBlobSource>, _ prefix: [UInt8]) throws -> NodeType? {
        guard let at = try index.locate(prefix) else { return nil }
        return try index.source.read(at.blob) { (raw) throws(HoltError) -> NodeType in
            try PageView(base: raw, id: at.blob).node(at.slot).type
        }
    }

    func expected(_ count: Int, growing: Bool) -> NodeType {
        if growing {
            switch count {
            case ...4: return .node4
            case ...16: return .node16
            case ...48: return .node48
            default: return .node256
            }
        }
        switch count {
        case ...3: return .node4
        case ...12: return .node16
        case ...40: return .node48
        default: return .node256
        }
    }

    @Test("Inner nodes grow at 5/17/49 children and shrink at 3/12/40")
    func growAndShrink() throws {
        let (index, _) = try ARTTest.make()
        let dir = ARTTest.b("p/")
        // 255 children under bytes 1...255 plus the key "p/" itself under the terminator.
        let keys: [[UInt8]] = [dir] + (1...255).map { dir + [UInt8($0), UInt8(ascii: "x")] }
        for (n, key) in keys.enumerated() {
            try index.put(key, [UInt8(n & 0xFF)])
            if n >= 1 { #expect(try kind(index, dir) == expected(n + 1, growing: true), "after \(n + 1) children") }
        }
        #expect(index.verify().isEmpty)
        for (n, key) in keys.enumerated().reversed() {
            #expect(try index.remove(key) == [UInt8(n & 0xFF)])
            if n >= 2 {
                let count = n
                #expect(try kind(index, dir) == expected(count, growing: false), "after shrinking to \(count)")
                // Between the thresholds the bigger kind stays (hysteresis).
            }
            #expect(index.verify().isEmpty, "after removing child \(n)")
        }
        #expect(try index.scan(RangeQuery()).isEmpty)
    }

    @Test("Shrinking keeps the bigger kind until the lower threshold")
    func hysteresis() throws {
        let (index, _) = try ARTTest.make()
        let keys = (1...17).map { ARTTest.b("q") + [UInt8($0)] }
        for key in keys { try index.put(key, []) }
        #expect(try kind(index, ARTTest.b("q")) == .node48)
        for key in keys[13...] { try index.remove(key) }  // 13 left
        #expect(try kind(index, ARTTest.b("q")) == .node48)
        try index.remove(keys[12])  // 12 left
        #expect(try kind(index, ARTTest.b("q")) == .node16)
        for key in keys[4...11] { try index.remove(key) }  // 4 left
        #expect(try kind(index, ARTTest.b("q")) == .node16)
        try index.remove(keys[3])
        #expect(try kind(index, ARTTest.b("q")) == .node4)
        #expect(index.verify().isEmpty)
    }

    @Test("A Node4 left with one child collapses into a Prefix or the leaf")
    func collapse() throws {
        let (index, _) = try ARTTest.make()
        try index.put(ARTTest.b("ab"), ARTTest.b("1"))
        try index.put(ARTTest.b("abc/d"), ARTTest.b("2"))
        try index.put(ARTTest.b("abc/e"), ARTTest.b("3"))
        #expect(try kind(index, ARTTest.b("ab")) == .node4)
        try index.remove(ARTTest.b("ab"))
        #expect(try kind(index, ARTTest.b("ab")) != .node4)
        #expect(try index.get(ARTTest.b("abc/d")) == ARTTest.b("2"))
        try index.remove(ARTTest.b("abc/d"))
        #expect(try kind(index, ARTTest.b("abc/")) == .leaf)
        #expect(try index.scan(RangeQuery()) == [.entry(key: ARTTest.b("abc/e"), value: ARTTest.b("3"))])
        #expect(index.verify().isEmpty)
    }

    @Test("Edge keys and values round-trip")
    func edges() throws {
        let (index, _) = try ARTTest.make()
        let long = [UInt8](repeating: UInt8(ascii: "L"), count: Tree.maxKeyLength)
        let big = (0..<Tree.maxValueLength).map { UInt8(truncatingIfNeeded: $0) }
        let cases: [([UInt8], [UInt8])] = [
            ([], ARTTest.b("root")), (ARTTest.b("a"), []), (ARTTest.b("a/b"), big), (long, big),
            (Array(long.prefix(5000)) + ARTTest.b("x"), ARTTest.b("mid")), (Array(long.prefix(5000)), ARTTest.b("short")),
        ]
        let oracle = SortedIndex()
        for (key, value) in cases {
            try index.put(key, value)
            _ = oracle.put(key, value)
        }
        for (key, value) in cases { #expect(try index.get(key) == value) }
        try ARTTest.expectSame(index, oracle, seed: 0)
        #expect(try index.hasKeys(withPrefix: []))
        #expect(try index.hasKeys(withPrefix: Array(long.prefix(6000))))
        #expect(try !index.hasKeys(withPrefix: ARTTest.b("b")))
        #expect(throws: HoltError.self) { try index.put(long + [1], []) }
        #expect(throws: HoltError.self) { try index.put(ARTTest.b("x\u{0}y"), []) }
        for (key, value) in cases {
            #expect(try index.remove(key) == value)
            _ = oracle.remove(key)
            try ARTTest.expectSame(index, oracle, seed: 0)
        }
    }

    @Test("Opening an existing root checks its header")
    func reopen() throws {
        let (index, source) = try ARTTest.make()
        try index.put(ARTTest.b("k"), ARTTest.b("v"))
        let again = try ARTIndex(source: source, root: index.root)
        #expect(try again.get(ARTTest.b("k")) == ARTTest.b("v"))
        let other = try source.allocate()
        #expect(throws: HoltError.self) { _ = try ARTIndex(source: source, root: other) }
    }
}
