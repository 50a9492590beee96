// Protects column families: several keyspaces in one database, each with its own tree, one log.
// Random ops across families agree with a dictionary per family (with reopens); a batch spanning
// families is all or nothing (a failed condition, a kill mid-write); creation and drop survive
// a restart; a drop frees the family's blobs and runs beside a writer and readers of other
// families; ranges stay in their family; bad input is a typed error; a database that never had
// a family keeps its old manifest format.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct FamilyTests {
    @Test("Families are separate keyspaces; ranges stay in their family")
    func separateKeyspaces() throws {
        let dir = try TemporaryDirectory("fam")
        let tree = try Tree.open(path: dir.appending("db"))
        defer { try? tree.close() }
        let a = try tree.createFamily(named: "a")
        let b = try tree.family(named: "b", createIfMissing: true)
        try tree.put(bytes("k/1"), bytes("default"))
        try a.put(bytes("k/1"), bytes("in a"))
        try a.put(bytes("k/2"), bytes("in a 2"))
        try b.put(bytes("k/3"), bytes("in b"))
        #expect(try tree.get(bytes("k/1")) == bytes("default"))
        #expect(try a.get(bytes("k/1")) == bytes("in a"))
        #expect(try b.get(bytes("k/1")) == nil)
        #expect(try tree.range(prefix: bytes("k/")).count == 1)
        #expect(try a.range(prefix: bytes("k/")) == [.entry(key: bytes("k/1"), value: bytes("in a")), .entry(key: bytes("k/2"), value: bytes("in a 2"))])
        #expect(try b.range() == [.entry(key: bytes("k/3"), value: bytes("in b"))])
        #expect(try b.range(prefix: bytes("k"), delimiter: 0x2F) == [.commonPrefix(bytes("k/"))])
        #expect(try a.hasKeys(withPrefix: bytes("k/2")))
        #expect(try !b.hasKeys(withPrefix: bytes("k/2")))
        var seen = 0
        try a.forEach(RangeQuery()) { _ in seen += 1; return true }
        #expect(seen == 2)
        try a.renamePrefix(from: bytes("k"), to: bytes("m"))
        #expect(try a.range(prefix: bytes("m/")).count == 2)
        #expect(try tree.get(bytes("k/1")) == bytes("default"))
        #expect(try tree.familyNames() == ["a", "b", "default"])
        #expect(try tree.family(named: "default").isDefault)
        #expect(try tree.defaultFamily.get(bytes("k/1")) == bytes("default"))
        #expect(try tree.verify().isEmpty)
    }

    @Test("Bad input is a typed error")
    func badInput() throws {
        let dir = try TemporaryDirectory("fam")
        let tree = try Tree.open(path: dir.appending("db"))
        defer { try? tree.close() }
        #expect(throws: HoltError.noSuchFamily(name: "nope")) { try tree.family(named: "nope") }
        #expect(throws: HoltError.noSuchFamily(name: "nope")) { try tree.dropFamily(named: "nope") }
        #expect(throws: HoltError.cannotDropDefaultFamily) { try tree.dropFamily(named: "default") }
        #expect(throws: HoltError.familyExists(name: "default")) { try tree.createFamily(named: "default") }
        #expect { try tree.createFamily(named: "") } throws: { if case HoltError.invalidFamilyName = $0 { true } else { false } }
        #expect { try tree.createFamily(named: String(repeating: "x", count: 256)) } throws: { if case HoltError.invalidFamilyName = $0 { true } else { false } }
        #expect { try tree.createFamily(named: "a\0b") } throws: { if case HoltError.invalidFamilyName = $0 { true } else { false } }
        try tree.createFamily(named: String(repeating: "x", count: 255))
        let f = try tree.createFamily(named: "f")
        #expect(throws: HoltError.familyExists(name: "f")) { try tree.createFamily(named: "f") }
        try f.put(bytes("x"), bytes("1"))
        try tree.dropFamily(named: "f")
        #expect(throws: HoltError.familyDropped(name: "f")) { try f.get(bytes("x")) }
        #expect(throws: HoltError.familyDropped(name: "f")) { try f.put(bytes("x"), bytes("2")) }
        #expect(throws: HoltError.familyDropped(name: "f")) { try f.range() }
        // A family of the same name made again is another family: the old handle stays dropped.
        let again = try tree.createFamily(named: "f")
        #expect(try again.get(bytes("x")) == nil)
        #expect(throws: HoltError.familyDropped(name: "f")) { try f.get(bytes("x")) }
        #expect(throws: HoltError.familyDropped(name: "f")) {
            try tree.apply([FamilyOp(tree.defaultFamily, .put(key: bytes("d"), value: bytes("1"))), FamilyOp(f, .delete(key: bytes("x")))])
        }
        #expect(try tree.get(bytes("d")) == nil, "a batch naming a dropped family applies nothing")
        let other = try Tree.open(path: dir.appending("db2"))
        defer { try? other.close() }
        let foreign = try other.createFamily(named: "g")
        #expect(throws: HoltError.noSuchFamily(name: "g")) { try tree.apply([FamilyOp(foreign, .put(key: bytes("a"), value: []))]) }
        #expect(try tree.verify().isEmpty)
    }

    @Test("A batch spanning families whose condition fails applies nothing in any family")
    func spanningBatchIsAtomic() throws {
        let dir = try TemporaryDirectory("fam")
        let tree = try Tree.open(path: dir.appending("db"))
        defer { try? tree.close() }
        let a = try tree.createFamily(named: "a"), b = try tree.createFamily(named: "b")
        try a.put(bytes("x"), bytes("old"))
        #expect(throws: HoltError.self) {
            try tree.apply([
                FamilyOp(a, .put(key: bytes("x"), value: bytes("new"))),
                FamilyOp(tree.defaultFamily, .put(key: bytes("y"), value: bytes("new"))),
                FamilyOp(b, .put(key: bytes("z"), value: bytes("new"))),
                FamilyOp(b, .expect(key: bytes("x"), .exists)),  // x is in a, not in b
            ])
        }
        #expect(try a.get(bytes("x")) == bytes("old"))
        #expect(try tree.get(bytes("y")) == nil)
        #expect(try b.get(bytes("z")) == nil)
        try tree.apply([FamilyOp(a, .expect(key: bytes("x"), .exists)), FamilyOp(b, .put(key: bytes("z"), value: bytes("1")))])
        #expect(try b.get(bytes("z")) == bytes("1"))
    }

    @Test("Creation and drop survive a restart: replayed from the log after a kill, or read from a checkpoint", arguments: [false, true])
    func createAndDropSurviveRestart(checkpoint: Bool) async throws {
        let dir = try TemporaryDirectory("fam")
        let path = dir.appending("db")
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, checkpoint = checkpoint as Bool] in
            let tree = try Tree.open(path: path, options: Options(sync: .always))
            let a = try tree.createFamily(named: "a")
            let b = try tree.createFamily(named: "b")
            try a.put(bytes("k"), bytes("a"))
            try b.put(bytes("k"), bytes("b"))
            try tree.dropFamily(named: "b")
            try tree.createFamily(named: "c").put(bytes("k"), bytes("c"))
            if checkpoint { try tree.checkpoint() }
            kill(getpid(), SIGKILL)
        }
        let tree = try Tree.open(path: path)
        defer { try? tree.close() }
        #expect(tree.recovery.replayedBatches == (checkpoint ? 0 : 7))
        #expect(try tree.familyNames() == ["a", "c", "default"])
        #expect(try tree.family(named: "a").get(bytes("k")) == bytes("a"))
        #expect(try tree.family(named: "c").get(bytes("k")) == bytes("c"))
        #expect(throws: HoltError.noSuchFamily(name: "b")) { try tree.family(named: "b") }
        #expect(try tree.verify().isEmpty)
        // Numbers are not reused across a restart either.
        let d = try tree.createFamily(named: "d")
        #expect(d.id.rawValue == 4)
    }

    @Test("A database without families keeps manifest version 1; the first family makes it 2")
    func manifestVersion() throws {
        let dir = try TemporaryDirectory("fam")
        let path = dir.appending("db")
        func version() throws -> [UInt32] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path + "/MANIFEST"))
            return [0, 4096].map { slot in data[slot + 4..<slot + 8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        }
        do {
            let tree = try Tree.open(path: path)
            try tree.put(bytes("a"), bytes("1"))
            try tree.close()
        }
        #expect(try version().max() == 1)
        do {
            let tree = try Tree.open(path: path)
            #expect(try tree.get(bytes("a")) == bytes("1"))
            try tree.createFamily(named: "f").put(bytes("b"), bytes("2"))
            try tree.close()
        }
        #expect(try version().contains(2))
        let tree = try Tree.open(path: path)
        defer { try? tree.close() }
        #expect(try tree.family(named: "f").get(bytes("b")) == bytes("2"))
        #expect(try tree.get(bytes("a")) == bytes("1"))
    }

    @Test("verify() reports a blob that belongs to no tree (what a drop that forgot a blob would leave)")
    func verifyFindsLeakedBlobs() throws {
        let dir = try TemporaryDirectory("fam")
        let tree = try Tree.open(path: dir.appending("db"))
        defer { try? tree.close() }
        try tree.createFamily(named: "a").put(bytes("k"), bytes("v"))
        #expect(try tree.verify().isEmpty)
        let stray = try tree.writer.withLock { () throws(HoltError) in try tree.store.allocate() }
        #expect(try tree.verify() == ["\(stray) belongs to no tree (leaked)"])
        try tree.writer.withLock { () throws(HoltError) in try tree.store.free(stray) }
        #expect(try tree.verify().isEmpty)
    }

    @Test("A drop frees the family's blobs")
    func dropFreesBlobs() throws {
        let dir = try TemporaryDirectory("fam")
        let tree = try Tree.open(path: dir.appending("db"))
        defer { try? tree.close() }
        let big = try tree.createFamily(named: "big")
        let value = [UInt8](repeating: 0x61, count: 1000)
        for chunk in 0..<20 {
            try big.apply((0..<100).map { .put(key: bytes("d\(chunk % 7)/file-\(chunk)-\($0)"), value: value) })
        }
        try tree.checkpoint()
        let before = try tree.spaceStatistics().blobs
        #expect(before >= 4, "the family spans several blobs")
        try tree.dropFamily(named: "big")
        try tree.checkpoint()
        let after = try tree.spaceStatistics().blobs
        #expect(after <= before - 3, "\(before) blobs before the drop, \(after) after")
        #expect(try tree.verify().isEmpty)
    }

    /// One random op of a family's batch (a subset of `TreePropertyTests.randomBatch`).
    static func randomOps(_ keys: inout PathKeys, known: [[UInt8]]) -> [TxnOp] {
        TreePropertyTests.randomBatch(&keys, known: known)
    }

    @Test("Random batches across families agree with a dictionary per family, across reopens", arguments: SeededGenerator.seeds(SeededGenerator.longTests ? 40 : 6))
    func oracleAcrossFamilies(seed: UInt64) throws {
        let dir = try TemporaryDirectory("fam-prop")
        let path = dir.appending("db")
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        let names = ["default", "one", "two", "three"]
        var oracles: [String: Oracle] = Dictionary(uniqueKeysWithValues: names.map { ($0, Oracle()) })
        var known: [String: [[UInt8]]] = [:]
        var tree = try Tree.open(path: path, options: Options(cacheBytes: 8 << 20, sync: .none))
        defer { try? tree.close() }
        for name in names.dropFirst() { try tree.createFamily(named: name) }
        for step in 0..<600 {
            let roll = Int.random(in: 0..<100, using: &keys.random)
            if roll < 2 {
                // Drop a family and make it again, empty.
                let name = names[1 + Int.random(in: 0..<3, using: &keys.random)]
                try tree.dropFamily(named: name)
                try tree.createFamily(named: name)
                oracles[name] = Oracle()
                known[name] = []
            } else if roll < 4 {
                try tree.close()
                tree = try Tree.open(path: path, options: Options(cacheBytes: 8 << 20, sync: .none))
            } else {
                // A batch spanning up to three families; the oracles apply it all or not at all.
                var ops: [FamilyOp] = []
                var perFamily: [String: [TxnOp]] = [:]
                for _ in 0..<(1 + Int.random(in: 0..<3, using: &keys.random)) {
                    let name = names[Int.random(in: 0..<names.count, using: &keys.random)]
                    let family = try tree.family(named: name)
                    let batch = Self.randomOps(&keys, known: known[name, default: []])
                    ops += batch.map { FamilyOp(family, $0) }
                    perFamily[name, default: []] += batch
                    for case .put(let key, _) in batch where known[name, default: []].count < 64 { known[name, default: []].append(key) }
                }
                var next = oracles
                var holds = true
                for (name, batch) in perFamily where holds { holds = next[name]!.apply(batch) }
                do throws(HoltError) {
                    try tree.apply(ops)
                    #expect(holds, "seed \(seed) step \(step): the tree applied a batch the oracle refuses")
                    if holds { oracles = next }
                } catch {
                    switch error {
                    case .conditionFailed, .invalidKey: #expect(!holds, "seed \(seed) step \(step): \(error)")
                    default: throw error
                    }
                }
            }
            if step % 50 == 49 || roll < 4 {
                for name in names {
                    let family = try tree.family(named: name)
                    #expect(try family.range() == oracles[name]!.range(RangeQuery()), "seed \(seed) step \(step) family \(name)")
                }
                let query = TreePropertyTests.randomQuery(&keys, known: known["one", default: []])
                #expect(try tree.family(named: "one").range(query) == oracles["one"]!.range(query), "seed \(seed) step \(step)")
            }
        }
        #expect(try tree.verify().isEmpty, "seed \(seed)")
    }

    @Test("A drop runs beside a writer of another family and readers")
    func dropUnderLoad() throws {
        let dir = try TemporaryDirectory("fam-load")
        let tree = try Tree.open(path: dir.appending("db"), options: Options(sync: .none))
        defer { try? tree.close() }
        let kept = try tree.createFamily(named: "kept")
        let doomed = try tree.createFamily(named: "doomed")
        let value = [UInt8](repeating: 0x62, count: 300)
        for chunk in 0..<20 {
            try doomed.apply((0..<200).map { .put(key: bytes("d/\(chunk)/\($0)"), value: value) })
        }
        let stop = Locked(false)
        let problems = Locked<[String]>([])
        let written = Locked(0)
        let writerThread = PlainThread {
            var n = 0
            while !stop.withLock({ $0 }) {
                do { try kept.put(bytes("w/\(n)"), bytes("\(n)")) } catch { problems.withLock { $0.append("writer: \(error)") }; return }
                n += 1
                written.withLock { $0 = n }
            }
        }
        let readerThread = PlainThread {
            var dropped = false
            while !stop.withLock({ $0 }) {
                do {
                    let items = try doomed.range(prefix: bytes("d/3/"))
                    if dropped || items.count != 200 { problems.withLock { $0.append("reader saw \(items.count) keys, dropped \(dropped)") } }
                    _ = try doomed.get(bytes("d/5/7"))
                } catch HoltError.familyDropped {
                    dropped = true
                } catch {
                    problems.withLock { $0.append("reader: \(error)") }
                    return
                }
                do { _ = try kept.get(bytes("w/0")); _ = try tree.get(bytes("nothing")) } catch { problems.withLock { $0.append("reader of kept: \(error)") } }
            }
        }
        /// Waits until the writer has written `count` keys, or a thread failed, or 60 s passed.
        func waitForWrites(_ count: Int) {
            let deadline = Date().addingTimeInterval(60)
            while written.withLock({ $0 }) < count, problems.withLock({ $0.isEmpty }), Date() < deadline { usleep(1000) }
            #expect(written.withLock { $0 } >= count || !problems.withLock { $0 }.isEmpty, "the writer stalled below \(count) keys")
        }
        waitForWrites(200)
        try tree.dropFamily(named: "doomed")
        waitForWrites(written.withLock { $0 } + 200)
        stop.withLock { $0 = true }
        writerThread.join()
        readerThread.join()
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 })")
        #expect(try tree.verify().isEmpty)
        let n = written.withLock { $0 }
        #expect(try kept.range(prefix: bytes("w/")).count == n)
        #expect(try tree.familyNames() == ["default", "kept"])
    }
}
