// Protects the write buffer (`WriteBuffer`, docs/DESIGN.md "A database larger than its cache"):
// puts and deletes held in memory across batches must read as if applied (gets read the buffer
// first; scans, `hasKeys`, conditions and renames flush the keys they name first, snapshots all
// of it), survive a reopen
// and a SIGKILL (the log has them), never make a get miss a key while a flush moves it into the
// index, and stay unused by a tree that fits its cache.
import Foundation
import Synchronization
import CURing
import Testing
@testable import HoltEngine

/// A key from its text.
private func key(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct WriteBufferTests {
    /// A cache of four blobs, a buffer of 64 KiB (a flush step every few dozen ops), buffering
    /// from the first batch.
    static func options(sync: SyncMode = .none, checkpointLogBytes: Int = 256 << 10, writeBufferBytes: Int = 64 << 10) -> Options {
        var options = Options(cacheBytes: 2 << 20, sync: sync, checkpointLogBytes: checkpointLogBytes)
        options.writeBufferBytes = writeBufferBytes
        options.writeBufferWhileCacheFits = true
        return options
    }

    /// `options()` with a buffer of 1 MiB: no flush step in the short tests that count entries.
    static func roomyOptions() -> Options { options(writeBufferBytes: 1 << 20) }

    /// A batch of puts and deletes (what the buffer takes), or now and then a batch of any kind
    /// (conditions, renames, prefix moves: these flush it first).
    static func batch(_ keys: inout PathKeys, known: [[UInt8]]) -> [TxnOp] {
        if Int.random(in: 0..<10, using: &keys.random) == 0 { return TreePropertyTests.randomBatch(&keys, known: known) }
        let count = Int.random(in: 1...40, using: &keys.random)
        return (0..<count).map { _ in
            if !known.isEmpty, Int.random(in: 0..<4, using: &keys.random) == 0 {
                return .delete(key: known[Int.random(in: 0..<known.count, using: &keys.random)])
            }
            return .put(key: keys.key(), value: keys.value())
        }
    }

    static func check(_ tree: Tree, _ oracle: Oracle, _ keys: inout PathKeys, known: [[UInt8]], _ what: String) throws {
        for _ in 0..<8 {
            let key = known.isEmpty || Int.random(in: 0..<4, using: &keys.random) == 0
                ? keys.key() : known[Int.random(in: 0..<known.count, using: &keys.random)]
            #expect(try tree.get(key) == oracle.entries[key], "\(what): get \(String(decoding: key, as: UTF8.self))")
        }
    }

    @Test("Buffered puts and deletes read as applied, through flushes, other batches and a reopen",
          arguments: SeededGenerator.seeds(SeededGenerator.longTests ? 40 : 4))
    func oracle(seed: UInt64) throws {
        let dir = try TemporaryDirectory("wbuf-oracle")
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        var oracle = Oracle()
        var known: [[UInt8]] = []
        do {
            let tree = try Tree.open(path: dir.path, options: Self.options())
            for step in 0..<(SeededGenerator.longTests ? 6_000 : 1_200) {
                let ops = Self.batch(&keys, known: known)
                let expected = oracle.apply(ops)
                var applied = true
                do { try tree.apply(ops) } catch {
                    switch error {
                    case .conditionFailed, .invalidKey: applied = false
                    default: throw error
                    }
                }
                #expect(applied == expected, "seed \(seed) step \(step)")
                for case .put(let key, _) in ops where known.count < 2_000 { known.append(key) }
                try Self.check(tree, oracle, &keys, known: known, "seed \(seed) step \(step)")
                switch Int.random(in: 0..<40, using: &keys.random) {
                case 0:
                    let query = TreePropertyTests.randomQuery(&keys, known: known)
                    #expect(try tree.range(query) == oracle.range(query), "seed \(seed) step \(step): range \(query)")
                case 1:
                    let prefix = keys.directory() + [0x2F]
                    let expected = oracle.entries.keys.contains { $0.starts(with: prefix) }
                    #expect(try tree.hasKeys(withPrefix: prefix) == expected, "seed \(seed) step \(step): hasKeys")
                case 2:
                    let snapshot = try tree.snapshot()
                    #expect(try snapshot.range(RangeQuery()) == oracle.range(RangeQuery()), "seed \(seed) step \(step): snapshot")
                    snapshot.close()
                case 3:
                    try tree.checkpoint()
                default: break
                }
            }
            let stats = try tree.statistics()
            #expect(stats.writeBufferedOps > 1_000, "the buffer was not used: \(stats)")
            #expect(stats.writeBufferFlushes > 10, "the buffer never flushed: \(stats)")
            #expect(try tree.range(RangeQuery()) == oracle.range(RangeQuery()), "seed \(seed)")
            #expect(try tree.verify().isEmpty)
            // Leave some ops in the buffer for the close.
            try tree.apply([.put(key: Array("last/key".utf8), value: [1])])
            _ = oracle.apply([.put(key: Array("last/key".utf8), value: [1])])
            try tree.close()
        }
        let reopened = try Tree.open(path: dir.path, options: Self.options())
        defer { try? reopened.close() }
        #expect(try reopened.range(RangeQuery()) == oracle.range(RangeQuery()), "seed \(seed) after reopen")
        for key in known.prefix(300) { #expect(try reopened.get(key) == oracle.entries[key]) }
    }

    @Test func aTreeThatFitsItsCacheNeverBuffers() throws {
        let dir = try TemporaryDirectory("wbuf-fits")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 64 << 20, sync: .none))
        defer { try? tree.close() }
        var keys = PathKeys(random: SeededGenerator(seed: 3))
        for _ in 0..<200 { try tree.apply((0..<50).map { _ in .put(key: keys.key(), value: keys.value()) }) }
        let stats = try tree.statistics()
        #expect(stats.writeBufferedOps == 0 && stats.writeBufferFlushes == 0, "\(stats)")
    }

    @Test func aTreeLargerThanItsCacheBuffersOnceTheCacheHasFilled() throws {
        let dir = try TemporaryDirectory("wbuf-outgrown")
        var options = Options(cacheBytes: 2 << 20, sync: .none)
        options.writeBufferBytes = 256 << 10
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        for start in stride(from: 0, to: 60_000, by: 500) {
            try tree.apply((start..<start + 500).map { .put(key: EvictorTests.key($0), value: EvictorTests.value($0)) })
        }
        let stats = try tree.statistics()
        #expect(stats.writeBufferedOps > 0 && stats.writeBufferFlushes > 0, "\(stats)")
        #expect(stats.writeBufferBytes <= 256 << 10)
        for i in stride(from: 0, to: 60_000, by: 331) { #expect(try tree.get(EvictorTests.key(i)) == EvictorTests.value(i)) }
    }

    // MARK: Batches and reads beside the buffer

    @Test("A conditional batch, a rename, a prefix move and a scan flush only the buffered keys they name")
    func otherBatchesFlushOnlyTheirKeys() throws {
        let dir = try TemporaryDirectory("wbuf-footprint")
        let tree = try Tree.open(path: dir.path, options: Self.roomyOptions())
        defer { try? tree.close() }
        func buffered() throws -> Int { try tree.statistics().writeBufferKeys }
        let other = try tree.createFamily(named: "other")  // created before anything is buffered: it flushes all
        try tree.apply([.put(key: key("d"), value: [0])] + (0..<50).flatMap { i in
            [TxnOp.put(key: key("a/\(i)"), value: [1]), .put(key: key("b/\(i)"), value: [2]), .put(key: key("d/\(i)"), value: [4])]
        })
        #expect(try buffered() == 151)
        // Batches that do not go through the buffer (here: a condition that walks the keys below one).
        let unbuffered = TxnOp.expect(key: key("c"), .noDescendantLongerThan(100))
        // A condition on a buffered key and a put of it: that key alone goes to the index first.
        try tree.apply([.expect(key: key("a/7"), .value([1])), .put(key: key("a/7"), value: [9]), unbuffered])
        #expect(try buffered() == 150)
        #expect(try tree.get(key("a/7")) == [9])
        // A batch whose condition fails changes nothing, but its keys went to the index.
        #expect(throws: HoltError.self) { try tree.apply([.expect(key: key("b/3"), .value([7])), .delete(key: key("b/4")), unbuffered]) }
        #expect(try buffered() == 148)
        #expect(try tree.get(key("b/3")) == [2] && tree.get(key("b/4")) == [2])
        // A condition on a key the buffer does not hold leaves it alone.
        try tree.apply([.expect(key: key("c/1"), .absent), .put(key: key("c/1"), value: [3]), .expect(key: key("c/2"), .noDescendantLongerThan(100))])
        #expect(try buffered() == 148)
        // A rename names its two keys.
        try tree.apply([.rename(from: key("a/8"), to: key("a/80"))])
        #expect(try buffered() == 147)
        // A scan flushes the keys under its prefix.
        #expect(try tree.range(prefix: key("a/")).count == 50)
        #expect(try buffered() == 99)
        // A prefix move flushes the keys at and under both of its keys.
        try tree.apply([.renamePrefix(from: key("d"), to: key("e"))])
        #expect(try buffered() == 48)
        #expect(try tree.get(key("e/3")) == [4] && tree.get(key("d/3")) == nil && tree.get(key("e")) == [0])
        // A batch across families flushes the default family's keys it names.
        try tree.apply([FamilyOp(tree.defaultFamily, .expect(key: key("b/5"), .value([2]))),
                        FamilyOp(other, .put(key: key("b/5"), value: [6]))])
        #expect(try buffered() == 47)
        #expect(try tree.hasKeys(withPrefix: key("b/")))
        #expect(try buffered() == 0)
        #expect(try tree.range(RangeQuery()).count == 1 + 50 + 50 + 50 + 1)
        #expect(try other.get(key("b/5")) == [6])
        #expect(try tree.verify().isEmpty)
    }

    @Test("A scan after writes flushes its prefix; a second one with no write between flushes everything")
    func readsWithoutWritesBetweenFlushTheWholeBuffer() throws {
        let dir = try TemporaryDirectory("wbuf-reads")
        let tree = try Tree.open(path: dir.path, options: Self.roomyOptions())
        defer { try? tree.close() }
        func buffered() throws -> Int { try tree.statistics().writeBufferKeys }
        try tree.apply(["a", "b", "c"].flatMap { d in (0..<10).map { TxnOp.put(key: key("\(d)/\($0)"), value: [1]) } })
        #expect(try tree.range(prefix: key("a/")).count == 10)
        #expect(try buffered() == 20, "the first scan after a write took more than its prefix")
        #expect(try tree.range(prefix: key("x/")).isEmpty)
        #expect(try buffered() == 20, "a scan of a prefix the buffer does not hold flushed it")
        #expect(try tree.range(prefix: key("b/")).count == 10)
        #expect(try buffered() == 0, "a second scan with no write between left keys buffered")
        try tree.apply([.put(key: key("d/1"), value: [2]), .put(key: key("e/1"), value: [2])])
        #expect(try tree.hasKeys(withPrefix: key("d/")))
        #expect(try buffered() == 1)
        #expect(try tree.range(RangeQuery()).count == 32)
    }

    @Test("A batch with conditions on single keys goes through the buffer, its conditions checked against batch, buffer and index")
    func conditionsOnSingleKeysAreBuffered() throws {
        let dir = try TemporaryDirectory("wbuf-guarded")
        let options = Self.roomyOptions()
        do {
            let tree = try Tree.open(path: dir.path, options: options)
            func buffered() throws -> (keys: Int, ops: Int) {
                let stats = try tree.statistics()
                return (stats.writeBufferKeys, stats.writeBufferedOps)
            }
            try tree.apply([.put(key: key("a/1"), value: [1]), .put(key: key("a/2"), value: [2])])
            // Conditions on a buffered key, on the batch's own put and on an absent key.
            try tree.apply([.expect(key: key("a/1"), .value([1])), .put(key: key("a/1"), value: [3]),
                            .expect(key: key("a/1"), .value([3])), .expect(key: key("n/1"), .absent),
                            .put(key: key("n/1"), value: [4]), .expect(key: key("a/2"), .exists), .delete(key: key("a/2"))])
            #expect(try buffered() == (3, 5), "the batch did not go to the buffer")
            #expect(try tree.get(key("a/1")) == [3] && tree.get(key("n/1")) == [4] && tree.get(key("a/2")) == nil)
            // A failed condition (on the buffer's tombstone, then on the batch's own put) changes nothing.
            #expect(throws: HoltError.conditionFailed(index: 0, key: key("a/2"), reason: "expected exists")) {
                try tree.apply([.expect(key: key("a/2"), .exists), .put(key: key("x"), value: [9])])
            }
            #expect(throws: HoltError.conditionFailed(index: 1, key: key("z"), reason: "expected absent")) {
                try tree.apply([.put(key: key("z"), value: [9]), .expect(key: key("z"), .absent)])
            }
            #expect(try buffered() == (3, 5))
            #expect(try tree.get(key("x")) == nil && tree.get(key("z")) == nil)
            // Conditions against the index, once the buffer is flushed into it.
            try tree.checkpoint()
            #expect(try buffered().keys == 0)
            #expect(throws: HoltError.conditionFailed(index: 0, key: key("a/1"), reason: "expected value([1])")) {
                try tree.apply([.expect(key: key("a/1"), .value([1])), .delete(key: key("a/1"))])
            }
            let before = tree.lastCommittedLSN
            try tree.apply([.expect(key: key("a/1"), .value([3])), .expect(key: key("a/2"), .absent)])
            #expect(tree.lastCommittedLSN == before, "a batch of conditions alone was logged")
            try tree.apply([.expect(key: key("a/1"), .value([3])), .put(key: key("a/1"), value: [5])])
            #expect(try buffered() == (1, 6))
            try tree.close()
        }
        let reopened = try Tree.open(path: dir.path, options: options)
        defer { try? reopened.close() }
        #expect(try reopened.range(RangeQuery()) == [.entry(key: key("a/1"), value: [5]), .entry(key: key("n/1"), value: [4])])
    }

    @Test("A create's .noDescendants goes through the buffer unless the batch or the buffer holds a key below")
    func noDescendantsIsBufferedWhenTheBufferHoldsNothingBelow() throws {
        let dir = try TemporaryDirectory("wbuf-nodesc")
        let tree = try Tree.open(path: dir.path, options: Self.roomyOptions())
        defer { try? tree.close() }
        func buffered() throws -> (keys: Int, ops: Int) {
            let stats = try tree.statistics()
            return (stats.writeBufferKeys, stats.writeBufferedOps)
        }
        func create(_ name: String) -> [TxnOp] {
            [.expect(key: key(name), .absent), .expect(key: key(name), .noDescendants), .put(key: key(name), value: [1])]
        }
        try tree.apply([.put(key: key("r/1"), value: [1])])
        try tree.checkpoint()  // r/1 in the index
        try tree.apply([.put(key: key("p/1"), value: [1]), .put(key: key("pq/1"), value: [1])])
        #expect(try buffered() == (2, 3))
        // Nothing below q/ anywhere: buffered.
        try tree.apply(create("q"))
        #expect(try buffered() == (3, 4), "a create with nothing below went around the buffer")
        // A key below p/ in the buffer: applied instead, its condition failing there.
        #expect(throws: HoltError.conditionFailed(index: 1, key: key("p"), reason: "expected noDescendants")) { try tree.apply(create("p")) }
        // A key below r/ in the index: the buffered check fails it.
        #expect(throws: HoltError.conditionFailed(index: 1, key: key("r"), reason: "expected noDescendants")) { try tree.apply(create("r")) }
        // A key below s/ put earlier in the same batch: applied instead, failing there.
        #expect(throws: HoltError.conditionFailed(index: 2, key: key("s"), reason: "expected noDescendants")) {
            try tree.apply([.put(key: key("s/1"), value: [1])] + create("s"))
        }
        // The prefix counts follow removals: once p/1 left the buffer, so does "below p/".
        #expect(try tree.range(prefix: key("p/")).count == 1)
        try tree.apply([.delete(key: key("p/1"))])
        try tree.apply(create("p"))
        #expect(try tree.get(key("p")) == [1] && tree.get(key("p/1")) == nil && tree.get(key("s/1")) == nil)
        #expect(try tree.hasKeys(withPrefix: key("pq/")) && !tree.hasKeys(withPrefix: key("s/")))
        #expect(try tree.verify().isEmpty)
    }

    @Test("The prefix counts answer as a walk of the keys does, through adds, subtracts and a reset",
          arguments: SeededGenerator.seeds(4))
    func prefixCountsAgreeWithAWalk(seed: UInt64) {
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        let counts = BufferPrefixCounts()
        var held: [[UInt8]] = (0..<200).map { _ in keys.key() }
        #expect(counts.holds(prefix: Array("a/".utf8)) == nil, "inactive counts answered")
        counts.activate(keys: held)
        for round in 0..<300 {
            if Bool.random(using: &keys.random) || held.isEmpty {
                let added = (0..<Int.random(in: 1...20, using: &keys.random)).map { _ in keys.key() }
                counts.add(added)
                held += added
            } else {
                let leaving = Array(held.shuffled(using: &keys.random).prefix(Int.random(in: 1...20, using: &keys.random)))
                for key in leaving { held.remove(at: held.firstIndex(of: key)!) }
                counts.subtract(leaving)
            }
            if round == 150 {
                counts.reset()
                held = []
            }
            for _ in 0..<10 {
                let prefix = keys.directory() + [BufferPrefixCounts.slash]
                let walked = held.contains { KeyOrder.begins($0, with: prefix) }
                // A collision may say yes wrongly; no must be right (and with 64-bit hashes, yes too).
                #expect(counts.holds(prefix: prefix) == walked, "seed \(seed) round \(round): \(String(decoding: prefix, as: UTF8.self))")
            }
        }
    }

    // MARK: Crashes

    /// The child: buffered batches under `.always`, each acknowledged in a file once `apply`
    /// returns, until a failpoint or a timer (started at the 100th batch) kills it.
    static func runChild(path: String, seed: UInt64, delayMicroseconds: UInt32) throws {
        let tree = try Tree.open(path: path, options: Self.options(sync: .always, checkpointLogBytes: 64 << 10))
        let ack = AckFile(path + ".ack")
        let batches = crashBatches(seed: seed, count: 5_000)
        for (number, batch) in batches.enumerated() {
            try ack.apply(number) { () throws(HoltError) in try tree.apply(batch) }
            guard number == 100 else { continue }
            if (try tree.statistics()).writeBufferedOps > 0 {
                _ = FileManager.default.createFile(atPath: path + ".buffered", contents: nil)
            }
            // The timer starts once 100 batches are in, however busy the machine is.
            _ = PlainThread {
                usleep(delayMicroseconds)
                kill(getpid(), SIGKILL)
            }
        }
        kill(getpid(), SIGKILL)
    }

    static func crashBatches(seed: UInt64, count: Int) -> [[TxnOp]] {
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        var known: [[UInt8]] = []
        return (0..<count).map { _ in
            let ops = batch(&keys, known: known)
            for case .put(let key, _) in ops where known.count < 500 { known.append(key) }
            return ops
        }
    }

    @Test("A kill in a buffered load loses no acknowledged batch", arguments: SeededGenerator.seeds(SeededGenerator.longTests ? 40 : 6))
    func killDuringABufferedLoad(seed: UInt64) async throws {
        let dir = try TemporaryDirectory("wbuf-crash")
        let path = dir.appending("db")
        var random = SeededGenerator(seed: seed)
        let name = ["wal.beforeSync", "wal.afterSync", "store.beforeBlobWrite", "checkpoint.beforeManifestWrite", "wal.afterTrim"]
            .randomElement(using: &random)!
        let hit = Int.random(in: 100...1_500, using: &random)
        let delay = UInt32.random(in: 500_000...3_000_000, using: &random)
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, seed = seed as UInt64, name = name as String, hit = hit as Int, delay = delay as UInt32] in
            Failpoints.arm(name, .kill, onHit: hit)
            try WriteBufferTests.runChild(path: path, seed: seed, delayMicroseconds: delay)
        }
        let acked = AckFile.count(path + ".ack")
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.verify().isEmpty, "seed \(seed)")
        let all = try tree.range(RangeQuery())
        var oracle = Oracle()
        let ops = Self.crashBatches(seed: seed, count: acked + 1)
        for batch in ops.prefix(acked) { _ = oracle.apply(batch) }
        print("write buffer crash, seed \(seed): \(name) hit \(hit), \(delay) µs: \(acked) batches acknowledged")
        #expect(acked > 100, "seed \(seed): the child died after \(acked) batches: too early to test much")
        if all == oracle.range(RangeQuery()) { return }
        _ = oracle.apply(ops[acked])
        #expect(all == oracle.range(RangeQuery()), "seed \(seed) (\(name) hit \(hit), \(delay) µs): \(acked) acked batches, database differs")
        if acked > 100 { #expect(FileManager.default.fileExists(atPath: path + ".buffered"), "the child never buffered") }
    }

    /// A rename applied straight to the index while the buffer holds an older batch, then a
    /// checkpoint in the background, then a kill: the replay starts before the buffered batch
    /// and must not apply the rename a second time (it did: "nothing to move" on reopen, the
    /// database unopenable). The checkpoint flushes the buffer first instead.
    @Test func aRenameBesideTheBufferIsNotReplayedTwice() async throws {
        let dir = try TemporaryDirectory("wbuf-rename-replay")
        let path = dir.appending("db")
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String] in
            let tree = try Tree.open(path: path, options: WriteBufferTests.roomyOptions())
            // A checkpoint, then a direct batch: the buffer's oldest batch will be two past the
            // checkpoint's LSN (one past makes any checkpoint flush the buffer).
            try tree.apply([.put(key: bytes("z/seed"), value: bytes("0"))])
            try tree.checkpoint()
            try tree.apply([.rename(from: bytes("z/seed"), to: bytes("z/seed2"))])
            try tree.apply([.put(key: bytes("b/older"), value: bytes("1"))])
            try tree.apply([.rename(from: bytes("z/seed2"), to: bytes("z/seed3"))])
            // Buffered puts until the log asks the checkpointer for a checkpoint, and its
            // manifest is written.
            let first = tree.store.anchor.checkpointLSN
            var filler = 0
            let deadline = Date().addingTimeInterval(30)
            while tree.store.anchor.checkpointLSN == first && Date() < deadline {
                try tree.apply((0..<20).map { .put(key: bytes("c/f\(filler)-\($0)"), value: [UInt8](repeating: 7, count: 500)) })
                filler += 1
            }
            let stats = try tree.statistics()
            precondition(stats.writeBufferedOps > 0 && tree.store.anchor.checkpointLSN > first, "nothing buffered, or no checkpoint")
            kill(getpid(), SIGKILL)
        }
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.get(bytes("z/seed2")) == nil)
        #expect(try tree.get(bytes("z/seed3")) == bytes("0"))
        #expect(try tree.get(bytes("b/older")) == bytes("1"))
        #expect(try tree.verify().isEmpty)
    }

    // MARK: Readers beside a flush

    static func stamped(_ i: Int) -> [UInt8] { Array("d\(i * 37 % 200)/stamped-\(i)".utf8) }

    @Test("A get beside a flush never misses a key nor steps back")
    func getsBesideFlushes() throws {
        let dir = try TemporaryDirectory("wbuf-readers")
        let tree = try Tree.open(path: dir.path, options: Self.options(writeBufferBytes: 256 << 10))
        defer { try? tree.close() }
        let keys = 3_000
        try tree.apply((0..<keys).map { .put(key: Self.stamped($0), value: LockFreeReadTests.version(0, $0)) })
        let problems = ProblemLog()
        let writing = Atomic<Bool>(true)
        let gets = Atomic<Int>(0)
        let readers = (0..<2).map { r in PlainThread {
            var random = SeededGenerator(seed: UInt64(21 + r))
            // The version each key was last seen at: a later get must not show less.
            var seen = [Int64](repeating: 0, count: keys)
            while writing.load(ordering: .acquiring) {
                let i = Int(random.next() % UInt64(keys))
                do {
                    guard let value = try tree.get(Self.stamped(i)) else { problems.report("key \(i) missing"); return }
                    let v = LockFreeReadTests.decode(value)
                    if v < seen[i] { problems.report("key \(i): version \(seen[i]), then \(v)") }
                    if value != LockFreeReadTests.version(v, i) { problems.report("key \(i): a torn value") }
                    seen[i] = v
                    gets.add(1, ordering: .relaxed)
                } catch {
                    problems.report("get: \(error)")
                    return
                }
            }
        } }
        // The writer: each version stamps a random tenth of the keys, plus deletes and puts of
        // filler keys (splits and merges under the flushes).
        var random = SeededGenerator(seed: 9)
        for v in 1...Int64(400) {
            var ops: [TxnOp] = []
            for _ in 0..<(keys / 10) {
                let i = Int(random.next() % UInt64(keys))
                ops.append(.put(key: Self.stamped(i), value: LockFreeReadTests.version(v, i)))
            }
            for _ in 0..<20 {
                let f = Int(random.next() % 20_000)
                let key = Array("d\(f % 200)/filler-\(f)".utf8)
                ops.append(random.next() % 3 == 0 ? .delete(key: key) : .put(key: key, value: [UInt8](repeating: 2, count: Int(random.next() % 200))))
            }
            try tree.apply(ops)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.count == 0, "\(problems.summary)")
        #expect(gets.load(ordering: .relaxed) > 1_000, "the readers hardly ran")
        let stats = try tree.statistics()
        #expect(stats.writeBufferFlushes > 20, "too few flushes to test: \(stats)")
        #expect(try tree.verify().isEmpty)
    }
}

extension WriteBufferTests {
    /// Two readers list directories while a writer creates files in them through the buffer:
    /// each listing holds every create acknowledged before it began.
    @Test("A listing beside buffered creates shows every create acknowledged before it")
    func listingsBesideBufferedCreates() throws {
        let dir = try TemporaryDirectory("wbuf-listings")
        let tree = try Tree.open(path: dir.path, options: Self.options(writeBufferBytes: 128 << 10))
        defer { try? tree.close() }
        let directories = 8, files = 3_000
        @Sendable func file(_ i: Int) -> [UInt8] { Array("d\(i % directories)/f\(i)".utf8) }
        try tree.apply((0..<directories).map { .put(key: Array("d\($0)".utf8), value: [0]) })
        let problems = ProblemLog()
        let acknowledged = Atomic<Int>(0)
        let listings = Atomic<Int>(0)
        let writing = Atomic<Bool>(true)
        let readers = (0..<2).map { r in PlainThread {
            var random = SeededGenerator(seed: UInt64(31 + r))
            while writing.load(ordering: .acquiring) {
                let d = Int(random.next() % UInt64(directories))
                let before = acknowledged.load(ordering: .acquiring)
                do {
                    let prefix = Array("d\(d)/".utf8)
                    let names = Set(try (r == 0 ? tree.range(prefix: prefix) : tree.range(prefix: prefix, limit: 100_000)).map(\.position))
                    let present = try tree.hasKeys(withPrefix: prefix)
                    for i in stride(from: d, to: before, by: directories) where !names.contains(file(i)) {
                        problems.report("d\(d)/f\(i), acknowledged before the listing, missing from it")
                        return
                    }
                    if before > d, !present { problems.report("hasKeys(d\(d)/) false after a create there") }
                    listings.add(1, ordering: .relaxed)
                } catch {
                    problems.report("listing: \(error)")
                    return
                }
            }
        } }
        // The writer: creates as HoltFS sends them, each acknowledged once `apply` returns; past
        // `files`, on until the readers have listed 40 times (a busy machine), at most 10x.
        var created = 0
        while created < files || (listings.load(ordering: .relaxed) < 40 && created < 10 * files) {
            let key = file(created)
            try tree.apply([.expect(key: key, .absent), .expect(key: key, .noDescendants), .put(key: key, value: [1])])
            created += 1
            acknowledged.store(created, ordering: .releasing)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.count == 0, "\(problems.summary)")
        #expect(listings.load(ordering: .relaxed) >= 40, "the readers hardly ran")
        let stats = try tree.statistics()
        #expect(stats.writeBufferedOps > files, "the creates did not go through the buffer: \(stats)")
        #expect(try tree.range(RangeQuery()).count == directories + created)
        #expect(try tree.verify().isEmpty)
    }

    /// `WriteBuffer.entryOverhead` is what bounds the buffer's memory (`Options.writeBufferBytes`):
    /// it must not fall below what malloc really holds per entry, or a process in a memory
    /// cgroup would pass its limit.
    @Test func theMemoryEstimateCoversWhatMallocHolds() { MallocQuiet.measuring {
        // malloc's count is the process's: tests running beside this one move it up or down (by
        // a megabyte and more while the suite runs in parallel), so the estimate is held to the
        // least of forty measurements from below and to the most from above: each check fails
        // only if all forty were moved the same way. The parallel writers' stress test, whose
        // six threads allocate for seconds, does not run meanwhile (`MallocQuiet`): beside it,
        // ten rounds were all moved up 2% once.
        var least = Int.max, most = 0, estimated = 0
        for round in 0..<40 {
            let buffer = WriteBuffer()
            var keys = PathKeys(random: SeededGenerator(seed: 77 + UInt64(round)))
            // From before the keys and values are made: the buffer ends up their only owner.
            let before = holt_malloc_bytes_in_use()
            var ops: [TxnOp] = (0..<20_000).map { i in
                .put(key: keys.directory() + Array("/name-\(i)-\(i * 7919)".utf8), value: [UInt8](repeating: UInt8(i % 251), count: 64))
            }
            ops.withUnsafeBufferPointer { buffer.insert($0, lsn: 1) }
            ops = []
            let held = Int(holt_malloc_bytes_in_use()) - Int(before)
            least = min(least, held)
            most = max(most, held)
            estimated = buffer.bytes
        }
        #expect(estimated >= least, "estimated \(estimated) bytes, malloc holds \(least) (\(least / 20_000) an entry)")
        #expect(estimated <= 2 * most, "estimated \(estimated) bytes, malloc holds \(most): the estimate wastes the bound")
        print("write buffer: estimated \(estimated) bytes, malloc holds \(least) for 20,000 entries")
    } }
}
