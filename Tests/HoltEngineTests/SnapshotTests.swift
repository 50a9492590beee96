// Protects MVCC snapshots (`Tree.snapshot()`): a snapshot reads the tree as of one committed
// batch while writers put, delete, rename and move prefixes, through checkpoints, eviction under
// a small cache and compaction; closing (or dropping) snapshots frees every blob copy they held;
// a snapshot does not survive its tree's close. The oracle remembers the dictionary after every
// batch; each snapshot is checked against the state it was taken at.
import Foundation
import Synchronization
import Testing

@testable import HoltEngine

@Suite struct SnapshotTests {
    static func key(_ d: Int, _ i: Int) -> [UInt8] { Array("d\(d)/f\(i)".utf8) }
    static func value(_ i: Int, _ round: Int) -> [UInt8] {
        Array("v\(i)-r\(round)-".utf8) + [UInt8](repeating: UInt8(truncatingIfNeeded: i &+ round), count: 40 + i % 50)
    }

    /// Every answer of `snapshot` agrees with `state`: the whole listing, a delimited listing of
    /// a few directories, some gets and `hasKeys`.
    static func check(_ snapshot: Snapshot, against state: Oracle, _ rng: inout SeededGenerator, label: String) throws {
        let all = try snapshot.range(RangeQuery())
        let expected = state.range(RangeQuery())
        #expect(all.count == expected.count, "\(label): \(all.count) items, expected \(expected.count) (seed \(rng.seed))")
        let same = all == expected
        #expect(same, "\(label): listing differs (seed \(rng.seed))")
        let top = try snapshot.range(prefix: [], delimiter: UInt8(ascii: "/"))
        let sameTop = top == state.range(RangeQuery(delimiter: UInt8(ascii: "/")))
        #expect(sameTop, "\(label): top listing (seed \(rng.seed))")
        for _ in 0..<20 {
            let k = key(rng.below(30), rng.below(3_000))
            #expect(try snapshot.get(k) == state.entries[k], "\(label): get \(String(decoding: k, as: UTF8.self))")
        }
        let d = Array("d\(rng.below(40))/".utf8)
        #expect(try snapshot.hasKeys(withPrefix: d) == state.entries.keys.contains { $0.starts(with: d) })
        var visited: [RangeItem] = []
        try snapshot.forEach(RangeQuery(prefix: d)) { view in
            visited.append(view.item)
            return true
        }
        let sameVisit = visited == state.range(RangeQuery(prefix: d))
        #expect(sameVisit, "\(label): forEach of \(String(decoding: d, as: UTF8.self))")
    }

    @Test func aSnapshotKeepsItsBatch() throws {
        let dir = try TemporaryDirectory("snapshot-basic")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        try tree.apply([.put(key: bytes("a/1"), value: bytes("one")), .put(key: bytes("a/2"), value: bytes("two")),
                        .put(key: bytes("b/1"), value: bytes("b"))])
        let snapshot = try tree.snapshot()
        try tree.put(bytes("a/1"), bytes("ONE"))
        try tree.delete(bytes("a/2"))
        try tree.rename(from: bytes("b/1"), to: bytes("b/9"))
        try tree.renamePrefix(from: bytes("a"), to: bytes("z"))
        #expect(try snapshot.get(bytes("a/1")) == bytes("one"))
        #expect(try snapshot.get(bytes("a/2")) == bytes("two"))
        #expect(try snapshot.get(bytes("z/1")) == nil)
        #expect(try snapshot.hasKeys(withPrefix: bytes("a/")))
        #expect(try !snapshot.hasKeys(withPrefix: bytes("z/")))
        #expect(try snapshot.range(prefix: bytes("b/")).map(\.position) == [bytes("b/1")])
        #expect(try tree.get(bytes("z/1")) == bytes("ONE"))
        #expect(try tree.get(bytes("a/1")) == nil)
        let stats = try tree.statistics()
        #expect(stats.openSnapshots == 1)
        #expect(stats.snapshotShadowBlobs >= 1)
        #expect(stats.snapshotShadowBytes == stats.snapshotShadowBlobs * BlobGeometry.blobSize)
        snapshot.close()
        #expect(throws: HoltError.closed) { try snapshot.get(bytes("a/1")) }
        let after = try tree.statistics()
        #expect(after.openSnapshots == 0 && after.snapshotShadowBlobs == 0 && after.snapshotShadowBytes == 0)
        snapshot.close()
    }

    @Test func droppingSnapshotsFreesTheirCopies() throws {
        let dir = try TemporaryDirectory("snapshot-drop")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        for d in 0..<20 { try tree.apply((0..<500).map { .put(key: Self.key(d, $0), value: Self.value($0, 0)) }) }
        do {
            // Several snapshots, some taken with no change between them (they share copies).
            var snapshots: [Snapshot] = []
            for round in 1...4 {
                snapshots.append(try tree.snapshot())
                snapshots.append(try tree.snapshot())
                for d in 0..<20 { try tree.apply((0..<50).map { .put(key: Self.key(d, $0), value: Self.value($0, round)) }) }
            }
            let held = try tree.statistics()
            #expect(held.openSnapshots == 8)
            #expect(held.snapshotShadowBlobs > 0)
            for (n, snapshot) in snapshots.enumerated() {
                #expect(try snapshot.get(Self.key(3, 7)) == Self.value(7, n / 2))
            }
            // Closing the older ones frees only what nobody else needs.
            snapshots[0].close()
            snapshots[1].close()
            #expect(try snapshots[7].get(Self.key(5, 1)) == Self.value(1, 3))
        }
        let after = try tree.statistics()
        #expect(after.openSnapshots == 0)
        #expect(after.snapshotShadowBlobs == 0)
        #expect(after.snapshotShadowBytes == 0)
        #expect(after.snapshotShadowPeakBytes > 0)
        // With no snapshot open, writes keep nothing.
        try tree.put(Self.key(1, 1), [1])
        #expect(try tree.statistics().snapshotShadowsMade == after.snapshotShadowsMade)
    }

    /// Past `Options.snapshotMemoryBytes` the copies go to the spill file: memory stays within
    /// the bound, the snapshots read the same, and closing them gives everything back.
    @Test func copiesPastTheMemoryBoundGoToTheSpillFile() throws {
        let dir = try TemporaryDirectory("snapshot-spill")
        var options = Options(cacheBytes: 4 << 20, sync: .none)
        options.snapshotMemoryBytes = 1 << 20  // two copies in memory
        // A spill file a crash left between making and unlinking it goes at open.
        #expect(FileManager.default.createFile(atPath: dir.path + "/snapshot-spill.left", contents: Data([1])))
        let tree = try Tree.open(path: dir.path, options: options)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/snapshot-spill.left"))
        defer { try? tree.close() }
        for d in 0..<40 { try tree.apply((0..<500).map { .put(key: Self.key(d, $0), value: Self.value($0, 0)) }) }
        var snapshots: [Snapshot] = []
        for round in 1...3 {
            snapshots.append(try tree.snapshot())
            for d in 0..<40 { try tree.apply((0..<500).map { .put(key: Self.key(d, $0), value: Self.value($0, round)) }) }
        }
        let held = try tree.statistics()
        #expect(held.snapshotShadowBlobsSpilled > 0, "nothing spilled: \(held.snapshotShadowBlobs) copies")
        #expect(held.snapshotShadowBytes <= 1 << 20)
        for (n, snapshot) in snapshots.enumerated() {
            for d in stride(from: 0, to: 40, by: 3) {
                for i in stride(from: 0, to: 500, by: 61) { #expect(try snapshot.get(Self.key(d, i)) == Self.value(i, n)) }
                #expect(try snapshot.range(prefix: Array("d\(d)/".utf8)).count == 500)
            }
            #expect(try snapshot.verify().isEmpty)
        }
        for snapshot in snapshots { snapshot.close() }
        let after = try tree.statistics()
        #expect(after.snapshotShadowBlobs == 0 && after.snapshotShadowBlobsSpilled == 0 && after.snapshotShadowBytes == 0)
        // The spill file is unlinked: nothing of it shows in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix("snapshot-spill") })
    }

    /// Compaction's moves (`BufferManager.touch`: dirty, unchanged) keep no copies for open
    /// snapshots; the snapshot reads the same after the moved blobs are checkpointed elsewhere.
    @Test func movingBlobsKeepsNoCopies() throws {
        let dir = try TemporaryDirectory("snapshot-moves")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        defer { try? tree.close() }
        for d in 0..<20 { try tree.apply((0..<400).map { .put(key: Self.key(d, $0), value: Self.value($0, 0)) }) }
        try tree.checkpoint()
        let snapshot = try tree.snapshot()
        defer { snapshot.close() }
        let before = try snapshot.range(RangeQuery())
        let ids = tree.store.blobUsages().map(\.key)
        #expect(ids.count > 1)
        try tree.writer.withLock { () throws(HoltError) in try tree.store.touch(ids) }
        try tree.checkpoint()
        #expect(try tree.statistics().snapshotShadowsMade == 0)
        try tree.put(Self.key(0, 0), [9])
        #expect(try tree.statistics().snapshotShadowsMade >= 1)
        let after = try snapshot.range(RangeQuery())
        let same = after == before
        #expect(same)
    }

    @Test func aSnapshotReadsEveryFamilyAsOfItsBatch() throws {
        let dir = try TemporaryDirectory("snapshot-families")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 8 << 20, sync: .none))
        defer { try? tree.close() }
        let users = try tree.createFamily(named: "users")
        for i in 0..<2_000 { try users.put(Self.key(i % 20, i), Self.value(i, 0)) }
        try tree.put(Self.key(0, 0), Self.value(0, 0))
        let snapshot = try tree.snapshot()
        defer { snapshot.close() }
        // After the snapshot: the family changes, another is created, then the first is dropped.
        try tree.apply((0..<2_000).map { FamilyOp(users, .put(key: Self.key($0 % 20, $0), value: Self.value($0, 1))) })
        let later = try tree.createFamily(named: "later")
        try later.put(Self.key(1, 1), [1])
        try tree.dropFamily(named: "users")
        for i in stride(from: 0, to: 2_000, by: 97) {
            #expect(try snapshot.get(Self.key(i % 20, i), in: users) == Self.value(i, 0))
        }
        #expect(try snapshot.range(prefix: Array("d3/".utf8), in: users).count == 100)
        #expect(try snapshot.get(Self.key(0, 0)) == Self.value(0, 0))
        #expect(try snapshot.get(Self.key(0, 0), in: users) == Self.value(0, 0))
        #expect(throws: HoltError.noSuchFamily(name: "later")) { try snapshot.get(Self.key(1, 1), in: later) }
        #expect(try snapshot.verify().isEmpty)
    }

    @Test func aSnapshotDoesNotSurviveItsTree() throws {
        let dir = try TemporaryDirectory("snapshot-close")
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none))
        try tree.put(bytes("k"), bytes("v"))
        let snapshot = try tree.snapshot()
        try tree.put(bytes("k"), bytes("w"))
        #expect(try snapshot.get(bytes("k")) == bytes("v"))
        try tree.close()
        #expect(throws: HoltError.closed) { try snapshot.get(bytes("k")) }
        #expect(throws: HoltError.closed) { try snapshot.range(RangeQuery()) }
        #expect(throws: HoltError.closed) { try snapshot.hasKeys(withPrefix: []) }
        #expect(throws: HoltError.closed) { try tree.snapshot() }
        snapshot.close()
        // A reopen finds the last state, whatever snapshots saw.
        let again = try Tree.open(path: dir.path)
        defer { try? again.close() }
        #expect(try again.get(bytes("k")) == bytes("w"))
    }

    /// Random batches on one thread against the oracle, snapshots opened at random points and
    /// checked against the state they were taken at, with checkpoints, compaction and a cache
    /// of 4 frames (the tree is several times larger: eviction runs all along).
    @Test(arguments: SeededGenerator.seeds(2))
    func snapshotsMatchTheirCommittedStates(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let dir = try TemporaryDirectory("snapshot-oracle")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 2 << 20, sync: .none, checkpointLogBytes: 1 << 20))
        defer { try? tree.close() }
        var state = Oracle()
        for d in 0..<30 {
            let ops: [TxnOp] = (0..<200).map { .put(key: Self.key(d, $0 * 13), value: Self.value($0, 0)) }
            try tree.apply(ops)
            _ = state.apply(ops)
        }
        var open: [(Snapshot, Oracle, Int)] = []
        let steps = SeededGenerator.longTests ? 2_000 : 300
        var renamed = 0
        for step in 0..<steps {
            var ops: [TxnOp] = []
            switch rng.below(10) {
            case 0...3:
                ops = (0..<(1 + rng.below(40))).map { _ in
                    let i = rng.below(3_000)
                    return .put(key: Self.key(rng.below(30), i), value: Self.value(i, step))
                }
            case 4, 5:
                let keys = Array(state.entries.keys)
                if keys.isEmpty { continue }
                ops = (0..<(1 + rng.below(30))).map { _ in .delete(key: keys[rng.below(keys.count)]) }
            case 6:
                let keys = Array(state.entries.keys)
                if keys.isEmpty { continue }
                ops = [.rename(from: keys[rng.below(keys.count)], to: Self.key(rng.below(30), 3_000 + rng.below(1_000)))]
            case 7:
                renamed += 1
                let from = rng.below(30)
                ops = [.renamePrefix(from: Array("d\(from)".utf8), to: Array("d\(100 + renamed)".utf8))]
                // Move it back under a d<30 name later: keep names in range for gets.
                let back = Array("d\(100 + renamed)".utf8)
                if state.apply(ops) {
                    try tree.apply(ops)
                    let home: [TxnOp] = [.renamePrefix(from: back, to: Array("d\(from)".utf8))]
                    if rng.below(2) == 0, state.apply(home) { try tree.apply(home) }
                }
                ops = []
            case 8:
                if rng.below(3) == 0 { try tree.checkpoint() } else if rng.below(4) == 0 { try tree.compact() }
            default:
                if open.count < 6 {
                    open.append((try tree.snapshot(), state, step))
                } else {
                    let (snapshot, remembered, taken) = open.remove(at: rng.below(open.count))
                    try Self.check(snapshot, against: remembered, &rng, label: "snapshot of step \(taken), at \(step)")
                    if rng.below(2) == 0 { snapshot.close() }
                }
            }
            if !ops.isEmpty {
                var model = state
                if model.apply(ops) {
                    try tree.apply(ops)
                    state = model
                } else {
                    #expect(throws: HoltError.self) { try tree.apply(ops) }
                }
            }
            if step % 50 == 0, let (snapshot, remembered, taken) = open.randomElement(using: &rng) {
                try Self.check(snapshot, against: remembered, &rng, label: "snapshot of step \(taken), at \(step)")
            }
        }
        for (snapshot, remembered, taken) in open {
            try Self.check(snapshot, against: remembered, &rng, label: "snapshot of step \(taken), at the end")
        }
        let fresh = try tree.snapshot()
        try Self.check(fresh, against: state, &rng, label: "a fresh snapshot")
        fresh.close()
        open.removeAll()
        let stats = try tree.statistics()
        #expect(stats.openSnapshots == 0 && stats.snapshotShadowBytes == 0)
        #expect(try tree.verify().isEmpty)
    }

    /// Readers on snapshots on two threads while a writer puts, deletes and moves prefixes,
    /// with checkpoints and compactions on a third thread and the evictor running (a 4-frame
    /// cache): each snapshot's listing stays the one it
    /// had at its first read, and holds exactly one committed state (a batch moves a whole
    /// directory and stamps a counter key in the same batch).
    @Test func snapshotsStayStillBesideWriters() throws {
        let dir = try TemporaryDirectory("snapshot-threads")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 2 << 20, sync: .none, checkpointLogBytes: 512 << 10))
        defer { try? tree.close() }
        // 20 directories of 300 entries; a batch moves one directory to the spare name and
        // bumps "stamp" in the same batch, so a consistent state has 20 directories, 6,000
        // entries and the stamp equal to the number of batches.
        for d in 0..<20 { try tree.apply((0..<300).map { .put(key: Self.key(d, $0), value: Self.value($0, 0)) }) }
        try tree.put(bytes("stamp"), bytes("0"))
        let writing = Atomic<Bool>(true)
        let problems = Locked<[String]>([])
        let checked = Atomic<Int>(0)
        let writer = PlainThread {
            var names = (0..<20).map { "d\($0)" }
            var batches = 0
            var spare = 20
            var rng = SeededGenerator(seed: 99)
            while writing.load(ordering: .acquiring) {
                let which = rng.below(names.count)
                let to = "d\(spare)"
                batches += 1
                let ops: [TxnOp] = [.renamePrefix(from: Array(names[which].utf8), to: Array(to.utf8)),
                                    .put(key: bytes("stamp"), value: Array("\(batches)".utf8))]
                do {
                    try tree.apply(ops)
                    spare = Int(names[which].dropFirst())!
                    names[which] = to
                    let i = rng.below(300)
                    try tree.put(Array("\(to)/f\(i)".utf8), Self.value(i, batches))
                    try tree.apply([.delete(key: Array("\(to)/f\(i)".utf8)), .put(key: Array("\(to)/f\(i)".utf8), value: Self.value(i, 0))])
                } catch {
                    problems.withLock { $0.append("writer: \(error)") }
                    return
                }
            }
        }
        let readers = (0..<2).map { _ in PlainThread {
            while writing.load(ordering: .acquiring) {
                do {
                    let snapshot = try tree.snapshot()
                    defer { snapshot.close() }
                    let first = try snapshot.range(RangeQuery())
                    let dirs = Set(first.compactMap { item -> [UInt8]? in
                        guard let slash = item.position.firstIndex(of: UInt8(ascii: "/")) else { return nil }
                        return Array(item.position[..<slash])
                    })
                    if first.count != 6_001 || dirs.count != 20 {
                        problems.withLock { $0.append("a torn listing: \(first.count) items in \(dirs.count) directories") }
                    }
                    for _ in 0..<3 {
                        let again = try snapshot.range(RangeQuery())
                        if again != first { problems.withLock { $0.append("a snapshot's listing changed") } }
                    }
                    checked.wrappingAdd(1, ordering: .relaxed)
                } catch {
                    problems.withLock { $0.append("reader: \(error)") }
                    return
                }
            }
        } }
        // Checkpoints and compactions in between (paced, not waited on).
        let maintenance = PlainThread {
            var round = 0
            while writing.load(ordering: .acquiring) {
                round += 1
                do {
                    if round % 3 == 0 { try tree.compact() } else { try tree.checkpoint() }
                } catch {
                    problems.withLock { $0.append("maintenance: \(error)") }
                    return
                }
                usleep(20_000)
            }
        }
        let deadline = Date().addingTimeInterval(SeededGenerator.longTests ? 20 : 3)
        while Date() < deadline, problems.withLock({ $0.isEmpty }) { usleep(20_000) }
        writing.store(false, ordering: .releasing)
        writer.join()
        maintenance.join()
        readers.forEach { $0.join() }
        #expect(problems.withLock { $0 } == [])
        #expect(checked.load(ordering: .relaxed) > 0)
        let stats = try tree.statistics()
        #expect(stats.openSnapshots == 0 && stats.snapshotShadowBytes == 0)
        #expect(try tree.verify().isEmpty)
    }
}
