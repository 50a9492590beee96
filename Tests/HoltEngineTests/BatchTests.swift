// Protects the atomicity of batches: a failed condition undoes every op before it.
import Testing
@testable import HoltEngine

@Suite struct BatchTests {
    let k = { (s: String) in Array(s.utf8) }

    @Test func failedConditionUndoesTheWholeBatch() throws {
        let dir = try TemporaryDirectory("batch")
        let tree = try Tree.open(path: dir.path)
        defer { try? tree.close() }
        try tree.put(k("a/1"), k("one"))
        #expect(throws: HoltError.self) {
            try tree.apply([
                .put(key: k("a/2"), value: k("two")),
                .delete(key: k("a/1")),
                .expect(key: k("a/3"), .exists),
            ])
        }
        #expect(try tree.get(k("a/1")) == k("one"))
        #expect(try tree.get(k("a/2")) == nil)
    }

    @Test func renamePrefixMovesEveryDescendant() throws {
        let dir = try TemporaryDirectory("batch")
        let tree = try Tree.open(path: dir.path)
        defer { try? tree.close() }
        for name in ["d", "d/a", "d/b/c", "dx"] { try tree.put(k(name), k(name)) }
        try tree.renamePrefix(from: k("d"), to: k("e"))
        #expect(try tree.get(k("e/b/c")) == k("d/b/c"))
        #expect(try tree.get(k("dx")) == k("dx"))
        #expect(try tree.get(k("d/a")) == nil)
        let listing = try tree.range(prefix: k("e/"), delimiter: UInt8(ascii: "/"))
        #expect(listing == [.entry(key: k("e/a"), value: k("d/a")), .commonPrefix(k("e/b/"))])
    }

    @Test func noDescendantLongerThanLooksAtEveryKeyBelowTheKey() throws {
        let dir = try TemporaryDirectory("batch")
        let tree = try Tree.open(path: dir.path)
        defer { try? tree.close() }
        // 600 keys below d/ (more than one page of the walk), the longest 9 bytes; dx is not below d/.
        for index in 0..<600 { try tree.put(k("d/\(index)"), []) }
        try tree.put(k("d/a/b/c"), [])
        try tree.put(k("dxxxxxxxxxxxxxxxx"), [])
        try tree.apply([.expect(key: k("d"), .noDescendantLongerThan(7)), .put(key: k("ok"), value: [])])
        #expect(try tree.get(k("ok")) == [])
        #expect(throws: HoltError.self) {
            try tree.apply([.put(key: k("d/z"), value: []), .expect(key: k("d"), .noDescendantLongerThan(6))])
        }
        #expect(try tree.get(k("d/z")) == nil, "the failed batch was undone")
        try tree.apply([.expect(key: k("empty"), .noDescendantLongerThan(0))])
    }

    @Test func startAfterThePrefixExcludesThePrefixKey() throws {
        let dir = try TemporaryDirectory("batch")
        let tree = try Tree.open(path: dir.path)
        defer { try? tree.close() }
        for name in ["p", "p/a", "p/b", "q"] { try tree.put(k(name), k(name)) }
        #expect(try tree.range(prefix: k("p"), startAfter: k("p")) == [
            .entry(key: k("p/a"), value: k("p/a")), .entry(key: k("p/b"), value: k("p/b")),
        ])
        #expect(try tree.range(prefix: k("p"), startAfter: k("p"), limit: 1) == [.entry(key: k("p/a"), value: k("p/a"))])
        #expect(try tree.range(prefix: k("p"), startAfter: nil, limit: 1) == [.entry(key: k("p"), value: k("p"))])
    }
}
