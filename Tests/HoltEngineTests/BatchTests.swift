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

    /// Long batches of puts and deletes are applied in key order (`BatchApplier.keyOrder`):
    /// with a key repeated inside a batch, the last op on it must still win, as in the batch's
    /// order, and a reopen (replaying the log the same way) must agree.
    @Test func longBatchesInKeyOrderKeepTheBatchsMeaning() throws {
        let dir = try TemporaryDirectory("batch-sorted")
        var oracle: [[UInt8]: [UInt8]] = [:]
        var random = SeededGenerator(seed: 42)
        do {
            let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 4 << 20, sync: .none))
            for round in 0..<60 {
                var ops: [TxnOp] = []
                for _ in 0..<(20 + Int(random.next() % 300)) {
                    // Few distinct keys: many repeats inside one batch.
                    let key = k("d\(random.next() % 7)/key-\(random.next() % 400)")
                    if random.next() % 4 == 0 {
                        ops.append(.delete(key: key))
                    } else {
                        ops.append(.put(key: key, value: k("r\(round)-\(random.next() % 1000)")))
                    }
                }
                try tree.apply(ops)
                for op in ops {
                    switch op {
                    case .put(let key, let value): oracle[key] = value
                    case .delete(let key): oracle[key] = nil
                    default: break
                    }
                }
            }
            let items = try tree.range(prefix: [])
            #expect(items.count == oracle.count)
            for item in items { if case .entry(let key, let value) = item { #expect(oracle[key] == value) } }
            // Closed without a checkpoint of the last batches: the log replays them.
            try tree.close()
        }
        let reopened = try Tree.open(path: dir.path)
        defer { try? reopened.close() }
        for (key, value) in oracle { #expect(try reopened.get(key) == value) }
        #expect(try reopened.range(prefix: []).count == oracle.count)
        #expect(try reopened.verify().isEmpty)
    }

    /// The key order itself, forced (a tree that fits its cache applies batches as given):
    /// random batches with repeated keys through `BatchApplier` in key order, then undone,
    /// against a dictionary.
    @Test func keyOrderKeepsTheBatchsMeaningAndUndo() throws {
        let (index, _) = try ARTTest.make(capacity: 32 * 1024)
        var oracle: [[UInt8]: [UInt8]] = [:]
        var random = SeededGenerator(seed: 7)
        for round in 0..<80 {
            var ops: [TxnOp] = []
            for _ in 0..<(16 + Int(random.next() % 200)) {
                let key = k("d\(random.next() % 5)/key-\(random.next() % 150)")
                ops.append(random.next() % 4 == 0 ? .delete(key: key) : .put(key: key, value: k("r\(round)-\(random.next() % 100)")))
            }
            let reordered = ops.withUnsafeBufferPointer { BatchApplier<ARTIndex<MemoryBlobSource>>.keyOrder($0) != nil }
            #expect(reordered, "a random batch of \(ops.count) was not put in key order: the test checks nothing")
            var applier = BatchApplier(index: index)
            applier.inKeyOrder = true
            try applier.performAll(ops)
            if round % 5 == 4 {
                try applier.undo()  // back to the oracle's state
            } else {
                for op in ops {
                    switch op {
                    case .put(let key, let value): oracle[key] = value
                    case .delete(let key): oracle[key] = nil
                    default: break
                    }
                }
            }
            for (key, value) in oracle { #expect(try index.get(key) == value) }
            #expect(try index.scan(RangeQuery()).count == oracle.count)
        }
        #expect(index.verify().isEmpty)
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
