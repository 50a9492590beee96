// Protects lock-free gets: `Tree.get` takes no tree-wide lock, yet a batch stays atomic to it.
// Writers stamp a rising version on keys spread over many blobs, in key order, one batch per
// version; readers get the keys one by one in the same order. Once a reader has seen version v
// anywhere, no later get may return less (it would have seen part of a batch); a reader never
// sees a key missing; the final state matches the last batch.
import Foundation
import Synchronization
import Testing

@testable import HoltEngine

@Suite struct LockFreeReadTests {
    /// Stamped key `i`: spread over the filler directories, so the keys live in different blobs.
    static func stamped(_ i: Int) -> [UInt8] { Array("d\(i * 37 % 200)/stamped-\(i)".utf8) }
    static func version(_ v: Int64, _ i: Int) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) } + [UInt8](repeating: UInt8(i & 0x7F), count: 24 + i % 40)
    }
    static func decode(_ bytes: [UInt8]) -> Int64 {
        var value: Int64 = 0
        for (shift, byte) in bytes.prefix(8).enumerated() { value |= Int64(byte) << (8 * shift) }
        return value
    }

    @Test func batchesStayAtomicToLockFreeGets() throws {
        let long = ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] != nil
        let dir = try TemporaryDirectory("lock-free-get")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 8 << 20, sync: .none, checkpointLogBytes: 256 << 10))
        defer { try? tree.close() }
        // Filler: 30,000 keys over 200 directories (many blobs, splits and merges as they churn).
        for start in stride(from: 0, to: 30_000, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: Array("d\($0 % 200)/filler-\($0)".utf8), value: [UInt8](repeating: 1, count: 60)) })
        }
        let keys = 40
        try tree.apply((0..<keys).map { .put(key: Self.stamped($0), value: Self.version(0, $0)) })
        let versions: Int64 = long ? 20_000 : 600
        let problems = ProblemLog()
        let writing = Atomic<Bool>(true)
        let rounds = Atomic<Int>(0)
        let readers = (0..<2).map { _ in PlainThread {
            var seen: Int64 = 0
            while writing.load(ordering: .acquiring) {
                for i in 0..<keys {
                    do {
                        guard let value = try tree.get(Self.stamped(i)) else {
                            problems.report("key \(i) missing")
                            return
                        }
                        let v = Self.decode(value)
                        if v < seen { problems.report("saw version \(seen), then \(v) at key \(i)") }
                        if value != Self.version(v, i) { problems.report("key \(i): a torn value") }
                        seen = max(seen, v)
                    } catch {
                        problems.report("get: \(error)")
                        return
                    }
                }
                rounds.add(1, ordering: .relaxed)
            }
        } }
        // The writer: each version in one batch, keys in order; filler churns beside it (puts
        // and deletes in the same batches: splits, merges, node growth under the readers).
        var random = SeededGenerator(seed: 5)
        for v in 1...versions {
            var ops: [TxnOp] = (0..<keys).map { .put(key: Self.stamped($0), value: Self.version(v, $0)) }
            for _ in 0..<20 {
                let f = Int(random.next() % 30_000)
                let key = Array("d\(f % 200)/filler-\(f)".utf8)
                ops.append(random.next() % 2 == 0 ? .delete(key: key) : .put(key: key, value: [UInt8](repeating: 2, count: Int(random.next() % 200))))
            }
            try tree.apply(ops)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.count == 0, "\(problems.summary)")
        #expect(rounds.load(ordering: .relaxed) > 10, "the readers hardly ran: nothing was checked")
        for i in 0..<keys { #expect(try tree.get(Self.stamped(i)) == Self.version(versions, i)) }
        #expect(try tree.verify().isEmpty)
    }

    /// Gets beside a writer that fills new directories in key order: most of its inserts land in
    /// the root blob, which every get crosses, and the root compacts and splits again and again.
    /// Gets read it without latches (`BlobLatch`'s optimistic mode); a torn read must never
    /// show: every get answers the exact value, or nil for a key not written yet.
    @Test func optimisticGetsBesideAWriterThatReshapesTheRootBlob() throws {
        let dir = try TemporaryDirectory("optimistic-get")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        @Sendable func filler(_ i: Int) -> [UInt8] { Array("f\(i % 50)/file-\(i)".utf8) }
        @Sendable func fillerValue(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i % 251), count: 20 + i % 60) }
        @Sendable func written(_ i: Int) -> [UInt8] { Array("w/d\(i / 500)/name-\(i)".utf8) }
        @Sendable func writtenValue(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i % 241), count: 300 + i % 200) }
        for start in stride(from: 0, to: 40_000, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: filler($0), value: fillerValue($0)) })
        }
        let total = 60_000
        let writtenSoFar = Atomic<Int>(0)
        let problems = Locked<[String]>([])
        let writing = Atomic<Bool>(true)
        let gets = Atomic<Int>(0)
        let readers = (0..<2).map { r in PlainThread {
            var random = SeededGenerator(seed: UInt64(11 + r))
            while writing.load(ordering: .acquiring) {
                let f = Int(random.next() % 40_000)
                let done = writtenSoFar.load(ordering: .acquiring)
                // Mostly the keys written last: their nodes are the ones changing.
                let w = done > 0 ? max(0, done - 1 - Int(random.next() % (random.next() % 4 == 0 ? UInt64(done) : 300))) : 0
                do {
                    if try tree.get(filler(f)) != fillerValue(f) { problems.withLock { $0.append("filler \(f)") } }
                    if done > 0, try tree.get(written(w)) != writtenValue(w) { problems.withLock { $0.append("written \(w)") } }
                    if try tree.get(Array("w/d0/none-\(f)".utf8)) != nil { problems.withLock { $0.append("absent key found") } }
                } catch {
                    problems.withLock { $0.append("get: \(error)") }
                    return
                }
                gets.add(3, ordering: .relaxed)
            }
        } }
        for start in stride(from: 0, to: total, by: 100) {
            try tree.apply((start..<start + 100).map { .put(key: written($0), value: writtenValue($0)) })
            writtenSoFar.store(start + 100, ordering: .releasing)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.withLock { $0.isEmpty }, "\(problems.withLock { $0.prefix(5) })")
        let stats = try tree.statistics()
        #expect(gets.load(ordering: .relaxed) > 1_000, "the readers hardly ran: nothing was checked")
        #expect(stats.getsUnderLatches < gets.load(ordering: .relaxed) / 2, "gets hardly ever read without latches")
        #expect(try tree.verify().isEmpty)
    }
}

extension LockFreeReadTests {
    /// `hasKeys` takes no lock either, yet never sees half a batch: each batch removes the one
    /// key under `p/` and puts another there, so `p/` is never empty between batches; a read
    /// inside a batch, between its delete and its put, would find it empty.
    @Test func hasKeysNeverSeesHalfABatch() throws {
        let dir = try TemporaryDirectory("lock-free-haskeys")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        for start in stride(from: 0, to: 20_000, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: Array("f\($0 % 40)/file-\($0)".utf8), value: [1, 2, 3]) })
        }
        try tree.put(Array("p/0".utf8), [0])
        let writing = Atomic<Bool>(true)
        let empty = Atomic<Int>(0), reads = Atomic<Int>(0)
        let readers = (0..<2).map { _ in PlainThread {
            while writing.load(ordering: .acquiring) {
                if (try? tree.hasKeys(withPrefix: Array("p/".utf8))) != true { empty.add(1, ordering: .relaxed) }
                reads.add(1, ordering: .relaxed)
            }
        } }
        for n in 1...20_000 {
            try tree.apply([.delete(key: Array("p/\(n - 1)".utf8)), .put(key: Array("p/\(n)".utf8), value: [1])]
                + (0..<8).map { .put(key: Array("f\(($0 + n) % 40)/x".utf8), value: [UInt8(n % 250)]) })
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(empty.load(ordering: .relaxed) == 0, "p/ looked empty \(empty.load(ordering: .relaxed)) times")
        #expect(reads.load(ordering: .relaxed) > 1_000, "the readers hardly ran")
        #expect(try tree.range(prefix: Array("p/".utf8)).map(\.position) == [Array("p/20000".utf8)])
    }
}

extension LockFreeReadTests {
    /// `range` reads without a lock when it can, yet never sees half a batch: each batch moves
    /// one unit from one account to another (two puts), so the accounts under `p/acct/` always
    /// sum to the same total; filler keys churn beside them in the same blobs (node growth,
    /// splits) and elsewhere.
    @Test func rangeNeverSeesHalfABatch() throws {
        let dir = try TemporaryDirectory("lock-free-range")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        let accounts = 12
        @Sendable func account(_ i: Int) -> [UInt8] { Array("p/acct/\(i)".utf8) }
        @Sendable func amount(_ bytes: [UInt8]) -> Int { Int(String(decoding: bytes, as: UTF8.self)) ?? -1_000_000 }
        try tree.apply((0..<accounts).map { .put(key: account($0), value: Array("100".utf8)) })
        for start in stride(from: 0, to: 20_000, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: Array("f\($0 % 40)/file-\($0)".utf8), value: [1, 2, 3]) })
        }
        let writing = Atomic<Bool>(true)
        let torn = Atomic<Int>(0), reads = Atomic<Int>(0)
        let readers = (0..<2).map { _ in PlainThread {
            while writing.load(ordering: .acquiring) {
                guard let items = try? tree.range(prefix: Array("p/acct/".utf8)) else { torn.add(1, ordering: .relaxed); continue }
                var sum = 0
                for item in items { if case .entry(_, let value) = item { sum += amount(value) } }
                if items.count != accounts || sum != 100 * accounts { torn.add(1, ordering: .relaxed) }
                reads.add(1, ordering: .relaxed)
            }
        } }
        var balances = [Int](repeating: 100, count: accounts)
        var random = SeededGenerator(seed: 3)
        for n in 0..<15_000 {
            let from = Int(random.next() % UInt64(accounts)), to = (from + 1 + Int(random.next() % UInt64(accounts - 1))) % accounts
            balances[from] -= 1
            balances[to] += 1
            var ops: [TxnOp] = [.put(key: account(from), value: Array("\(balances[from])".utf8)),
                                .put(key: account(to), value: Array("\(balances[to])".utf8))]
            ops.append(n % 2 == 0 ? .put(key: Array("p/zfill/\(n % 3_000)".utf8), value: [UInt8](repeating: 7, count: n % 300))
                                  : .delete(key: Array("p/zfill/\((n * 7) % 3_000)".utf8)))
            ops.append(.put(key: Array("f\(n % 40)/file-\(n)".utf8), value: [UInt8](repeating: 1, count: n % 100)))
            try tree.apply(ops)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(torn.load(ordering: .relaxed) == 0, "a listing saw half a batch \(torn.load(ordering: .relaxed)) times")
        #expect(reads.load(ordering: .relaxed) > 1_000, "the readers hardly ran")
        let stats = try tree.statistics()
        #expect(stats.rangesUnderLock < reads.load(ordering: .relaxed), "no listing ever read without the lock")
        for i in 0..<accounts { #expect(try tree.get(account(i)) == Array("\(balances[i])".utf8)) }
    }
}

/// Protects lock-free holds of cached blobs (`FrameDirectory`): in a cache of a few frames,
/// frames go from blob to blob under readers that hold nothing; a reader must never keep bytes
/// of a frame that went to another blob meanwhile.
@Suite struct FrameDirectoryTests {
    /// The value of key `i`: its own number, so a value read from another blob shows.
    static func key(_ i: Int) -> [UInt8] { Array("dir\(i % 64)/entry-\(i)".utf8) }
    static func value(_ i: Int) -> [UInt8] { Array("value of \(i) ".utf8) + [UInt8](repeating: UInt8(i & 0xFF), count: 40 + i % 60) }

    @Test func lockFreeGetsBesideFramesThatChangeBlobs() throws {
        let dir = try TemporaryDirectory("frame-directory")
        // 3 MiB: six frames for a tree of dozens of blobs; every few gets evict one (mapped
        // reads off: they would read uncached blobs without taking frames; MappedReadTests).
        var options = Options(cacheBytes: 3 << 20, sync: .none, checkpointLogBytes: 1 << 20)
        options.mappedReads = false
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        let keys = 40_000
        for start in stride(from: 0, to: keys, by: 2_000) {
            try tree.apply((start..<start + 2_000).map { .put(key: Self.key($0), value: Self.value($0)) })
        }
        let problems = Locked<[String]>([])
        let reading = Atomic<Bool>(true)
        let gets = Atomic<Int>(0)
        let readers = (0..<2).map { seed in PlainThread {
            var random = SeededGenerator(seed: UInt64(seed + 11))
            while reading.load(ordering: .acquiring) {
                let i = Int(random.next() % UInt64(keys))
                do {
                    let found = try tree.get(Self.key(i))
                    if found != Self.value(i) {
                        problems.withLock { if $0.count < 5 { $0.append("key \(i): \(found.map { String(decoding: $0.prefix(16), as: UTF8.self) } ?? "nil")") } }
                    }
                } catch {
                    problems.withLock { $0.append("get: \(error)") }
                    return
                }
                gets.add(1, ordering: .relaxed)
            }
        } }
        // A writer beside them: new keys in other directories (dirty frames, write-outs, splits).
        for round in 0..<40 {
            try tree.apply((0..<200).map { .put(key: Array("new\(round % 8)/k-\(round)-\($0)".utf8), value: [UInt8](repeating: 3, count: 50)) })
        }
        while gets.load(ordering: .relaxed) < 20_000 && problems.withLock({ $0.isEmpty }) {
            try tree.apply([.put(key: Array("tick".utf8), value: [1])])
        }
        reading.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.withLock { $0 } == [])
        let stats = try tree.statistics()
        #expect(stats.cacheMisses > 1_000, "the cache held the tree: no frame changed blobs under the readers")
        #expect(try tree.verify().isEmpty)
    }
}

/// Protects the latch's optimistic mode: a version that is odd while a writer holds it, and a
/// check that fails once a writer ran.
@Suite struct BlobLatchTests {
    @Test func aWriterInvalidatesAnOptimisticRead() {
        let latch = BlobLatch()
        guard let seen = latch.optimisticVersion() else {
            Issue.record("a free latch gave no version")
            return
        }
        #expect(latch.isUnchanged(since: seen))
        latch.withExclusive {
            // Held by a writer: no version to read against (this thread spins, then gives up).
            #expect(latch.optimisticVersion() == nil)
        }
        #expect(!latch.isUnchanged(since: seen))
        let again = latch.optimisticVersion()
        #expect(again != nil && again != seen)
        latch.withShared { #expect(latch.isUnchanged(since: again!)) }
    }
}

extension LockFreeReadTests {
    /// Regression (the mount's `eight_threads_mixed_ops` EIO with an optimistic `range`): a
    /// removal that empties a subtree in a child blob changes two blobs, one after the other,
    /// and a reader that takes no lock can walk the tree between the two: the parent blob's Blob
    /// node still refers to the child's subtree root, which is freed already. Each blob it reads
    /// is whole (its version holds), so the walk throws `.corrupted` ("slot N has bad type 0",
    /// or the blob is no longer in the map), and `get`/`hasKeys` used to hand that error to the
    /// caller: a batch in flight made a sound tree look damaged. The writer is stopped between
    /// the two changes (failpoint `index.unlinkBetweenBlobs`), in a child process; each
    /// lock-free read must answer (as before or after the batch), never throw.
    @Test func readsBesideARemovalThatEmptiesAChildBlobDoNotThrow() async throws {
        let dir = try TemporaryDirectory("lock-free-unlink")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let tree = try Tree.open(path: path, options: Options(sync: .none))
            // One key with a value too big to move by copy: its prefix move puts it in a
            // holding blob of its own, under a Blob node of the root blob, as a subtree root.
            let big = [UInt8](repeating: 7, count: Tree.maxValueLength)
            try tree.apply([.put(key: Array("a/x".utf8), value: big), .put(key: Array("c/1".utf8), value: [1])])
            try tree.renamePrefix(from: Array("a".utf8), to: Array("b".utf8))
            guard try tree.statistics().blobs == 2 else { exit(10) }
            Failpoints.arm("index.unlinkBetweenBlobs", .block)
            let writer = Thread { try? tree.delete(Array("b/x".utf8)) }
            writer.start()
            guard Failpoints.waitUntilBlocked("index.unlinkBetweenBlobs") else { exit(11) }
            // Readers beside the stopped batch: each answers (before or after it) or waits for
            // it under the lock; none may throw.
            let failures = Atomic<Int>(0), done = Atomic<Int>(0)
            @Sendable func note(_ read: String, _ error: any Error) {
                _ = FileManager.default.createFile(atPath: path + "/thrown-" + read, contents: Data("\(read) threw \(error); ".utf8))
            }
            let readers = [
                Thread {
                    do { _ = try tree.hasKeys(withPrefix: Array("b/".utf8)) } catch { note("hasKeys", error); failures.add(1, ordering: .relaxed) }
                    done.add(1, ordering: .relaxed)
                },
                Thread {
                    do {
                        let value = try tree.get(Array("b/x".utf8))
                        if value != nil && value != big { failures.add(1, ordering: .relaxed) }
                    } catch { note("get", error); failures.add(1, ordering: .relaxed) }
                    done.add(1, ordering: .relaxed)
                },
                Thread {
                    do { _ = try tree.range(prefix: Array("b/".utf8)) } catch { note("range", error); failures.add(1, ordering: .relaxed) }
                    done.add(1, ordering: .relaxed)
                },
            ]
            for reader in readers { reader.start() }
            // A broken build throws at once; a sound one answers or waits for the batch.
            let deadline = Date().addingTimeInterval(0.5)
            while done.load(ordering: .relaxed) < readers.count, Date() < deadline { usleep(1_000) }
            Failpoints.resume("index.unlinkBetweenBlobs")
            let end = Date().addingTimeInterval(20)
            while done.load(ordering: .relaxed) < readers.count || writer.isExecuting {
                guard Date() < end else { exit(12) }
                usleep(1_000)
            }
            guard failures.load(ordering: .relaxed) == 0 else { exit(13) }
            guard try tree.get(Array("b/x".utf8)) == nil, try !tree.hasKeys(withPrefix: Array("b/".utf8)),
                  try tree.verify().isEmpty else { exit(14) }
            try tree.close()
        }
        // What the readers threw, if anything (the child writes it down for this message).
        let thrown = ["hasKeys", "get", "range"].compactMap { try? String(contentsOfFile: dir.path + "/thrown-" + $0, encoding: .utf8) }.joined()
        #expect(thrown.isEmpty, "lock-free reads beside the batch: \(thrown)")
    }
}

extension LockFreeReadTests {
    /// Protects the pointer swap of `BufferManager.writeAside`: a split or compaction changes a
    /// copy of the blob in spare frame memory, and the copy becomes the frame's bytes; the old
    /// bytes become the spare, which the next split or compaction overwrites. A reader that was
    /// still in the old bytes must fail its check (the swap moves the latch's version), and a
    /// reader under the shared latch must read the bytes the latch guards now. Here the writer
    /// fills new directories in key order (most inserts land in the root blob, which compacts
    /// and splits again and again) in a cache of a few frames (frames change blobs too), and
    /// every get is checked against what was written (an oracle by key number).
    @Test func getsBesideWriteAsideSwapsInASmallCache() throws {
        let dir = try TemporaryDirectory("write-aside-swap")
        // 4 MiB: eight frames for a tree of dozens of blobs (mapped reads off: gets take frames).
        var options = Options(cacheBytes: 4 << 20, sync: .none, checkpointLogBytes: 2 << 20)
        options.mappedReads = false
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        @Sendable func filler(_ i: Int) -> [UInt8] { Array("f\(i % 40)/file-\(i)".utf8) }
        @Sendable func fillerValue(_ i: Int) -> [UInt8] { Array("filler \(i) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: 20 + i % 60) }
        @Sendable func written(_ i: Int) -> [UInt8] { Array("w/d\(i / 300)/name-\(i)".utf8) }
        @Sendable func writtenValue(_ i: Int) -> [UInt8] { Array("written \(i) ".utf8) + [UInt8](repeating: UInt8(i % 241), count: 200 + i % 300) }
        for start in stride(from: 0, to: 20_000, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: filler($0), value: fillerValue($0)) })
        }
        let total = 40_000
        let writtenSoFar = Atomic<Int>(0)
        let problems = ProblemLog()
        let writing = Atomic<Bool>(true)
        let gets = Atomic<Int>(0)
        let readers = (0..<2).map { r in PlainThread {
            var random = SeededGenerator(seed: UInt64(21 + r))
            while writing.load(ordering: .acquiring) {
                let f = Int(random.next() % 20_000)
                let done = writtenSoFar.load(ordering: .acquiring)
                let w = done > 0 ? max(0, done - 1 - Int(random.next() % (random.next() % 4 == 0 ? UInt64(done) : 200))) : 0
                do {
                    let found = try tree.get(filler(f))
                    if found != fillerValue(f) { problems.report("filler \(f): \(found.map { String(decoding: $0.prefix(16), as: UTF8.self) } ?? "nil")") }
                    if done > 0 {
                        let got = try tree.get(written(w))
                        if got != writtenValue(w) { problems.report("written \(w): \(got.map { String(decoding: $0.prefix(16), as: UTF8.self) } ?? "nil")") }
                    }
                    if try tree.get(Array("w/d0/none-\(f)".utf8)) != nil { problems.report("absent key found") }
                } catch {
                    problems.report("get: \(error)")
                    return
                }
                gets.add(3, ordering: .relaxed)
            }
        } }
        for start in stride(from: 0, to: total, by: 100) {
            try tree.apply((start..<start + 100).map { .put(key: written($0), value: writtenValue($0)) })
            writtenSoFar.store(start + 100, ordering: .releasing)
        }
        writing.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.count == 0, "\(problems.summary)")
        let stats = try tree.statistics()
        #expect(gets.load(ordering: .relaxed) > 1_000, "the readers hardly ran: nothing was checked")
        #expect(stats.cacheMisses > 1_000, "the cache held the tree: no frame changed blobs under the readers")
        for i in stride(from: 0, to: total, by: 997) { #expect(try tree.get(written(i)) == writtenValue(i)) }
        #expect(try tree.verify().isEmpty)
    }
}
