// Protects the engine's behaviour on a full disk: the batch that finds no room gets
// `.io(errno: ENOSPC, ...)` with nothing applied, the tree, the log and the store are not
// poisoned (no `.previousIOFailure`), a large put/delete batch refused by the log is undone
// whole, writes and checkpoints succeed again once there is room,
// and a reopen shows exactly the acknowledged writes with `verify()` clean. Failpoints are armed
// inside a child process (an exit test), so no other test in this process can hit them; the
// real-filesystem test mounts a 4 MiB tmpfs (root only; skipped otherwise).
// Seeded: HOLT_SEED replays the tmpfs test's key order.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import HoltEngine

/// Whether `error` is the ENOSPC the engine reports for a full disk.
private func isENOSPC(_ error: any Error) -> Bool {
    if case .io(let code, _)? = error as? HoltError { return code == ENOSPC }
    return false
}

/// A 4 KiB-ish value that tells its key and version apart.
private func spaceValue(_ index: Int, version: Int = 0, length: Int = 4000) -> [UInt8] {
    (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index &* 7 &+ version) }
}

/// Expects the tree at `path` to hold exactly `oracle`, with `verify()` clean.
private func expectTree(at path: String, holds oracle: [[UInt8]: [UInt8]], options: Options = Options()) throws {
    let tree = try Tree.open(path: path, options: options)
    let items = try tree.range(RangeQuery(prefix: []))
    var found: [[UInt8]: [UInt8]] = [:]
    for item in items { if case .entry(let key, let value) = item { found[key] = value } }
    #expect(found.count == oracle.count, "\(found.count) keys, expected \(oracle.count)")
    #expect(found == oracle)
    #expect(try tree.verify() == [])
    try tree.close()
}

@Suite struct ENOSPCTests {
    // MARK: The log

    @Test(arguments: ["wal.afterSegmentCreate", "wal.beforeAllocate"])
    func aFullDiskAtSegmentCreationRefusesOneRecordAndTheLogGoesOn(failpoint: String) async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .success) { [path = dir.path as String, failpoint = failpoint as String] in
            let wal = path + "/wal"
            // 8 KiB segments: the 40th record or so needs a new one.
            let log = try WriteAheadLog.open(directory: wal, sync: .always, segmentBytes: 8192)
            _ = try log.replay(after: 0) { (_, _) throws(HoltError) in }
            let payload = [UInt8](repeating: 7, count: 200)
            var acknowledged: [UInt64] = []
            var refused = 0
            Failpoints.arm(failpoint, .fail(errno: ENOSPC))
            for _ in 0..<120 {
                do throws(HoltError) {
                    let lsn = try log.append(payload)
                    try log.waitDurable(lsn)
                    acknowledged.append(lsn)
                } catch {
                    #expect(isENOSPC(error), "\(error)")
                    refused += 1
                }
            }
            #expect(refused == 1)
            #expect(log.statistics.spaceRefusals == 1)
            #expect(acknowledged == Array(1...119))
            try log.close()
            #expect(WriteAheadLog.verify(directory: wal, after: 0) == [])
            let again = try WriteAheadLog.open(directory: wal, sync: .always, segmentBytes: 8192)
            var replayed: [UInt64] = []
            _ = try again.replay(after: 0) { (lsn, bytes) throws(HoltError) in
                #expect(bytes == payload)
                replayed.append(lsn)
            }
            #expect(replayed == acknowledged)
            try again.close()
        }
    }

    // MARK: The store

    @Test(arguments: ["store.beforeBlobWrite", "store.afterBlobWrite"])
    func aFullDiskDuringEvictionOverflowsTheCacheInsteadOfFailing(failpoint: String) async throws {
        let dir = StoreTemporaryDirectory()
        await #expect(processExitsWith: .success) { [directory = dir.database as String, failpoint = failpoint as String] in
            // 8 frames for 20 blobs: writing them all needs eviction write-outs.
            let store = try BufferManager.open(directory: directory, cacheBytes: 4 << 20, create: true)
            var ids: [BlobID] = []
            Failpoints.arm(failpoint, .fail(errno: ENOSPC))
            for _ in 0..<20 {
                let id = try store.allocate()
                try store.put(id, version: 1)
                ids.append(id)
            }
            for id in ids { try store.put(id, version: 2) }
            // The first write-out met the full disk: nothing was evicted after it, the cache grew.
            #expect(store.statistics.frames > store.capacity)
            #expect(store.invariantViolations() == [])
            #expect(store.verifyBlobs() == [])
            try store.checkpoint(root: ids[0], lsn: 1, user: [])
            #expect(store.invariantViolations() == [])
            try store.close()
            let again = try BufferManager.open(directory: directory, cacheBytes: 4 << 20, create: false)
            for id in ids { #expect(try again.version(of: id) == 2, "\(id)") }
            #expect(again.verifyBlobs() == [])
            try again.close()
        }
    }

    // MARK: The tree

    @Test func aFullDiskForTheLogRefusesTheBatchAndTheTreeGoesOn() async throws {
        let dir = try TemporaryDirectory("holt-enospc")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            var oracle: [[UInt8]: [UInt8]] = [:]
            let tree = try Tree.open(path: path)
            Failpoints.arm("wal.beforeAllocate", .fail(errno: ENOSPC))
            var refused = 0
            // ~4 KiB per record: the first 1 MiB chunk runs out after ~250 records.
            for i in 0..<400 {
                let key = Array("k/\(i)".utf8)
                do throws(HoltError) {
                    try tree.put(key, spaceValue(i))
                    oracle[key] = spaceValue(i)
                } catch {
                    #expect(isENOSPC(error), "\(error)")
                    refused += 1
                    #expect(try tree.get(key) == nil, "a refused batch is not applied")
                }
            }
            #expect(refused == 1)
            try tree.delete(Array("k/3".utf8))
            oracle[Array("k/3".utf8)] = nil
            try tree.checkpoint()
            #expect(try tree.verify() == [])
            try tree.close()
            try expectTree(at: path, holds: oracle)
        }
    }

    @Test func aFullDiskForTheLogRefusesALargeBatchWhole() async throws {
        let dir = try TemporaryDirectory("holt-enospc")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            var oracle: [[UInt8]: [UInt8]] = [:]
            let tree = try Tree.open(path: path)
            for i in 0..<100 {
                try tree.put(Array("k/\(i)".utf8), spaceValue(i, length: 100))
                oracle[Array("k/\(i)".utf8)] = spaceValue(i, length: 100)
            }
            // ~1.2 MiB of puts (new keys, overwrites, a key put twice) and deletes: more than the
            // log's first chunk, so the record needs an allocation, which finds the disk full.
            var ops: [TxnOp] = []
            for i in stride(from: 0, to: 300, by: 1) {
                let key = Array("k/\(i % 150)".utf8)
                ops.append(i % 7 == 3 ? .delete(key: key) : .put(key: key, value: spaceValue(i, version: 1)))
            }
            Failpoints.arm("wal.beforeAllocate", .fail(errno: ENOSPC))
            do throws(HoltError) {
                try tree.apply(ops)
                Issue.record("the batch was not refused")
            } catch {
                #expect(isENOSPC(error), "\(error)")
            }
            #expect(try tree.verify() == [])
            var found: [[UInt8]: [UInt8]] = [:]
            for item in try tree.range(RangeQuery(prefix: [])) {
                if case .entry(let key, let value) = item { found[key] = value }
            }
            #expect(found == oracle, "a refused batch leaves nothing applied")
            // Once there is room the same batch applies, as in batch order.
            try tree.apply(ops)
            for op in ops {
                switch op {
                case .put(let key, let value): oracle[key] = value
                case .delete(let key): oracle[key] = nil
                default: break
                }
            }
            try tree.close()
            try expectTree(at: path, holds: oracle)
        }
    }

    @Test(arguments: ["store.beforeBlobWrite", "checkpoint.beforeMapWrite"])
    func aFullDiskDuringACheckpointLeavesTheTreeUsable(failpoint: String) async throws {
        let dir = try TemporaryDirectory("holt-enospc")
        await #expect(processExitsWith: .success) { [path = dir.path as String, failpoint = failpoint as String] in
            var oracle: [[UInt8]: [UInt8]] = [:]
            let tree = try Tree.open(path: path)
            for i in 0..<300 {
                try tree.put(Array("a/\(i)".utf8), spaceValue(i, length: 500))
                oracle[Array("a/\(i)".utf8)] = spaceValue(i, length: 500)
            }
            try tree.checkpoint()
            for i in 0..<300 where i % 3 == 0 {
                try tree.put(Array("a/\(i)".utf8), spaceValue(i, version: 1, length: 500))
                oracle[Array("a/\(i)".utf8)] = spaceValue(i, version: 1, length: 500)
            }
            Failpoints.arm(failpoint, .fail(errno: ENOSPC))
            #expect { try tree.checkpoint() } throws: { isENOSPC($0) }
            // Not poisoned: writes and the next checkpoint succeed.
            for i in 300..<400 {
                try tree.put(Array("a/\(i)".utf8), spaceValue(i, length: 500))
                oracle[Array("a/\(i)".utf8)] = spaceValue(i, length: 500)
            }
            try tree.delete(Array("a/1".utf8))
            oracle[Array("a/1".utf8)] = nil
            #expect(try tree.verify() == [])
            try tree.checkpoint()
            try tree.put(Array("b".utf8), [1])
            oracle[Array("b".utf8)] = [1]
            try tree.close()
            let maps = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasPrefix("MAP.") }
            #expect(maps.count == 1, "\(maps)")
            try expectTree(at: path, holds: oracle)
        }
    }

    @Test func aFullDiskDuringAnAutomaticCheckpointDoesNotFailTheBatch() async throws {
        let dir = try TemporaryDirectory("holt-enospc")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            var oracle: [[UInt8]: [UInt8]] = [:]
            let options = Options(checkpointLogBytes: 256 << 10)
            let tree = try Tree.open(path: path, options: options)
            Failpoints.arm("store.beforeBlobWrite", .fail(errno: ENOSPC))
            for i in 0..<600 {
                try tree.put(Array("c/\(i)".utf8), spaceValue(i, length: 2000))
                oracle[Array("c/\(i)".utf8)] = spaceValue(i, length: 2000)
            }
            try tree.close()
            try expectTree(at: path, holds: oracle, options: options)
        }
    }

    /// Runs `body` with the disk full: the log's next allocation fails with ENOSPC (disarmed after).
    private static func whileFull<T>(_ body: () throws -> T) rethrows -> T {
        Failpoints.arm("wal.beforeAllocate", .fail(errno: ENOSPC))
        defer { Failpoints.disarmAll() }
        return try body()
    }

    @Test func batchesThatRemoveKeysAndShrinkUseTheReserveOthersDoNot() async throws {
        let dir = try TemporaryDirectory("holt-enospc")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            var oracle = Oracle()
            let tree = try Tree.open(path: path)
            func put(_ key: String, _ value: [UInt8]) throws {
                try tree.put(Array(key.utf8), value)
                oracle.entries[Array(key.utf8)] = value
            }
            for i in 0..<20 { try put("d/\(i)", spaceValue(i, length: 100)) }
            try put("parent", spaceValue(99, length: 100))
            // Fill the log's room up to its reserve, with smaller and smaller puts until even a
            // 1-byte one is refused: now only the reserve is left.
            var i = 0
            for length in [4000, 1000, 200, 50, 1] {
                var filled = false
                while !filled && i < 10_000 {
                    do {
                        try Self.whileFull { try put("k/\(i)", spaceValue(i, length: length)) }
                    } catch {
                        #expect(isENOSPC(error), "\(error)")
                        filled = true
                    }
                    i += 1
                }
                #expect(filled)
            }
            func refused(_ ops: [TxnOp], _ what: String) throws {
                do {
                    try Self.whileFull { try tree.apply(ops) }
                    Issue.record("\(what) used the reserve")
                } catch {
                    #expect(isENOSPC(error), "\(what): \(error)")
                }
                #expect(try tree.verify() == [])
            }
            func passes(_ ops: [TxnOp], _ what: String) {
                do {
                    try Self.whileFull { try tree.apply(ops) }
                    let applied = oracle.apply(ops)
                    #expect(applied)
                } catch {
                    Issue.record("\(what) was refused: \(error)")
                }
            }
            // What a filesystem's unlink does: drop a name, rewrite the parent's record (same length).
            passes([.expect(key: Array("d/1".utf8), .exists), .delete(key: Array("d/1".utf8)),
                    .put(key: Array("parent".utf8), value: spaceValue(98, length: 100))], "an unlink")
            passes([.rename(from: Array("d/2".utf8), to: Array("d/3".utf8))], "a rename over an existing key")
            passes([.delete(key: Array("d/4".utf8))], "a delete")
            // Ordinary writes stay out of the reserve, also when they delete something on the way.
            try refused([.put(key: Array("new".utf8), value: spaceValue(1))], "a new key")
            try refused([.put(key: Array("parent".utf8), value: spaceValue(1))], "a value that grows")
            try refused([.delete(key: Array("d/5".utf8)), .put(key: Array("parent".utf8), value: spaceValue(2))],
                    "a delete with a value that grows more")
            try refused([.delete(key: Array("d/6".utf8)), .put(key: Array("other".utf8), value: spaceValue(3))],
                    "a delete with a new key")
            try refused([.renamePrefix(from: Array("d".utf8), to: Array("e".utf8)), .put(key: Array("x".utf8), value: spaceValue(4))],
                    "a prefix move with a new key")
            #expect(try tree.verify() == [])
            try tree.close()
            try expectTree(at: path, holds: oracle.entries)
        }
    }

    // MARK: A real full disk

    @Test func aRealTmpfsFillsUpEmptiesAndGrows() throws {
        guard geteuid() == 0 else { return }  // mounting needs root
        let dir = try TemporaryDirectory("holt-enospc-tmpfs")
        let mountPoint = dir.appending("mnt")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard mount("tmpfs", mountPoint, "tmpfs", 0, "size=4m") == 0 else { return }  // no mounting here
        defer { umount2(mountPoint, Int32(MNT_DETACH)) }
        let seed = ProcessInfo.processInfo.environment["HOLT_SEED"].flatMap { UInt64($0) } ?? 20261125
        var random = SeededGenerator(seed: seed)
        let path = mountPoint + "/db"
        let options = Options(cacheBytes: 4 << 20, checkpointLogBytes: 1 << 20)
        var oracle: [[UInt8]: [UInt8]] = [:]
        var refusals = 0
        do {
            let tree = try Tree.open(path: path, options: options)
            // Fill until the disk says no a few times.
            var i = 0
            while refusals < 20 && i < 20_000 {
                let key = Array("f/\(random.next() % 1_000_000)".utf8)
                do throws(HoltError) {
                    try tree.put(key, spaceValue(i, length: 3000))
                    oracle[key] = spaceValue(i, length: 3000)
                } catch {
                    #expect(isENOSPC(error), "seed \(seed): \(error)")
                    if !isENOSPC(error) { return }
                    refusals += 1
                }
                i += 1
            }
            #expect(refusals > 0, "seed \(seed): the 4 MiB disk never filled")
            // Deletes may use the room the log keeps for them.
            var deleted = 0
            for key in oracle.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }).prefix(50) {
                do throws(HoltError) {
                    try tree.delete(key)
                    oracle[key] = nil
                    deleted += 1
                } catch {
                    #expect(isENOSPC(error), "seed \(seed): \(error)")
                }
            }
            #expect(deleted > 0, "seed \(seed): no delete passed on the full disk")
            if ProcessInfo.processInfo.environment["HOLT_VERBOSE"] != nil {
                print("tmpfs: \(i) puts, \(refusals) refused, \(oracle.count) keys, \(deleted) deletes passed")
            }
            // The disk grows: writes and checkpoints work again without a reopen.
            #expect(mount("tmpfs", mountPoint, "tmpfs", UInt(MS_REMOUNT), "size=64m") == 0)
            for j in 0..<300 {
                let key = Array("g/\(j)".utf8)
                try tree.put(key, spaceValue(j, length: 3000))
                oracle[key] = spaceValue(j, length: 3000)
            }
            try tree.checkpoint()
            #expect(try tree.verify() == [], "seed \(seed)")
            try tree.close()
        }
        try expectTree(at: path, holds: oracle, options: options)
    }
}
