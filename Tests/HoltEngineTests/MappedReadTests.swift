// Protects mapped reads (`Options.mappedReads`, docs/DESIGN.md "Mapped reads"): once the cache
// is full, lookups of blobs it does not hold read the mapped blob file, and still answer exactly
// what the tree holds: after a reopen (slots checked first through the cache), with mapped reads
// off (the control), and beside a writer, background checkpoints and a compaction that cuts the
// file under them.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct MappedReadTests {
    static func key(_ i: Int) -> [UInt8] { Array("m\(i * 7919 % 89)/key\(i * 104_729 % 1_000_003)".utf8) }
    /// A value that names its key and a version, so a read of the wrong bytes cannot pass.
    static func value(_ i: Int, version: Int = 0) -> [UInt8] {
        key(i) + Array(":\(version):".utf8) + [UInt8](repeating: UInt8(i % 251), count: 40 + i % 60)
    }

    /// A tree about four times its 3 MiB blob cache.
    static func options() -> Options {
        var options = Options(cacheBytes: 3 << 20, sync: .none)
        options.writeBufferBytes = 0
        return options
    }

    static let count = 80_000

    /// A tree in `dir` with `options()` changed by `adjust`, loaded (`load`).
    static func openLoaded(_ dir: TemporaryDirectory, _ adjust: (inout Options) -> Void = { _ in }) throws -> Tree {
        var options = options()
        adjust(&options)
        let tree = try Tree.open(path: dir.path, options: options)
        try load(tree)
        return tree
    }

    static func load(_ tree: Tree) throws {
        for start in stride(from: 0, to: count, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .put(key: key($0), value: value($0)) })
        }
        try tree.checkpoint()
    }

    /// Random lookups of present and absent keys, checked against what `load` put.
    static func lookUp(_ tree: Tree, seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<6_000 {
            let i = rng.below(count)
            #expect(try tree.get(key(i)) == value(i))
            #expect(try tree.get(key(i) + [UInt8(ascii: "x")]) == nil)
        }
        #expect(try tree.hasKeys(withPrefix: Array("m7/".utf8)))
        #expect(try !tree.hasKeys(withPrefix: Array("m7/nokey".utf8)))
    }

    @Test func lookupsBeyondTheCacheReadMappedPagesAndAgree() throws {
        let dir = try TemporaryDirectory("mapped")
        do {
            let tree = try Self.openLoaded(dir)
            let loaded = try tree.statistics()
            #expect(loaded.dataFileBytes > 3 * Self.options().cacheBytes, "the tree must outgrow its cache: \(loaded)")
            try Self.lookUp(tree, seed: 1)
            let stats = try tree.statistics()
            #expect(stats.mappedReads > 1_000, "lookups did not read the mapped file: \(stats.mappedReads)")
            #expect(stats.cachedFrames <= 8, "mapped reads must not grow the cache: \(stats.cachedFrames) frames")
            try tree.close()
        }
        // A new process checks each slot once through the cache before reading it mapped.
        let reopened = try Tree.open(path: dir.path, options: Self.options())
        defer { try? reopened.close() }
        try Self.lookUp(reopened, seed: 2)
        let stats = try reopened.statistics()
        #expect(stats.mappedReads > 1_000, "lookups after a reopen did not read the mapped file: \(stats.mappedReads)")
        #expect(stats.cacheMisses >= 4, "slots must be checked through the cache first")
        #expect(try reopened.verify().isEmpty)
    }

    @Test func offEveryReadGoesThroughTheCache() throws {
        let dir = try TemporaryDirectory("mapped-off")
        let tree = try Self.openLoaded(dir) { $0.mappedReads = false }
        defer { try? tree.close() }
        try Self.lookUp(tree, seed: 3)
        #expect(try tree.statistics().mappedReads == 0)
    }

    /// Two readers look keys up while a writer rewrites them (each value names its key and
    /// version), checkpoints run in the background, and compactions move blobs and cut the file:
    /// every answer is a whole value of its own key, never absent, never another blob's bytes,
    /// and never older than a version the writer finished before the read began.
    @Test func lookupsBesideWritesCheckpointsAndCuts() throws {
        let dir = try TemporaryDirectory("mapped-race")
        let tree = try Self.openLoaded(dir) { $0.checkpointLogBytes = 1 << 20 }
        defer { try? tree.close() }
        let keys = 4_000  // the writer rewrites keys 0..<keys; readers read those
        let finished = (0..<keys).map { _ in Locked(0) }  // the last version written of each key
        let stop = Locked(false)
        let problems = Locked<[String]>([])
        let readers = (0..<2).map { r in
            PlainThread {
                var rng = SeededGenerator(seed: UInt64(10 + r))
                while !stop.withLock({ $0 }) {
                    let i = rng.below(keys)
                    let floor = finished[i].withLock { $0 }
                    do {
                        guard let found = try tree.get(Self.key(i)) else {
                            problems.withLock { $0.append("key \(i) absent") }
                            continue
                        }
                        let prefix = Self.key(i) + Array(":".utf8)
                        let version = String(decoding: found.dropFirst(prefix.count).prefix { $0 != UInt8(ascii: ":") }, as: UTF8.self)
                        guard found.starts(with: prefix), let v = Int(version), found == Self.value(i, version: v), v >= floor else {
                            problems.withLock { $0.append("key \(i): \(String(decoding: found.prefix(60), as: UTF8.self)) (floor \(floor))") }
                            continue
                        }
                    } catch {
                        problems.withLock { $0.append("key \(i): \(error)") }
                    }
                }
            }
        }
        var rng = SeededGenerator(seed: 99)
        var version = 0
        let deadline = Date().addingTimeInterval(2.5)
        while Date() < deadline {
            version += 1
            let batch = (0..<200).map { _ in rng.below(keys) }
            try tree.apply(batch.map { .put(key: Self.key($0), value: Self.value($0, version: version)) })
            for i in batch { finished[i].withLock { $0 = max($0, version) } }
            if version % 40 == 0 { _ = try tree.compact() }
        }
        stop.withLock { $0 = true }
        for reader in readers { reader.join() }
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { Array($0.prefix(5)) })")
        #expect(try tree.statistics().mappedReads > 0)
        #expect(try tree.verify().isEmpty)
    }

    /// A create through the write buffer checks that its name is absent in the index: read
    /// mapped too, and still exact (a name that exists fails the batch).
    @Test func theBuffersConditionChecksReadMappedPages() throws {
        let dir = try TemporaryDirectory("mapped-conditions")
        let tree = try Self.openLoaded(dir) { $0.writeBufferBytes = 1 << 20 }
        defer { try? tree.close() }
        func created(_ i: Int) -> [UInt8] { Self.key(i) + Array("-new".utf8) }
        let before = try tree.statistics()
        var rng = SeededGenerator(seed: 5)
        let picks = (0..<2_000).map { _ in rng.below(Self.count) }
        for i in Set(picks) {
            try tree.apply([.expect(key: created(i), .absent), .put(key: created(i), value: Self.value(i))])
        }
        let after = try tree.statistics()
        #expect(after.writeBufferedOps > before.writeBufferedOps, "the creates were not buffered")
        #expect(after.mappedReads - before.mappedReads > 500, "the absence checks did not read mapped: \(after.mappedReads - before.mappedReads)")
        #expect(throws: HoltError.self) {
            try tree.apply([.expect(key: Self.key(picks[0]), .absent), .put(key: Self.key(picks[0]), value: [1])])
        }
        #expect(try tree.get(Self.key(picks[0])) == Self.value(picks[0]))
        for i in picks.prefix(200) { #expect(try tree.get(created(i)) == Self.value(i)) }
    }

    /// The store's side: a mapped hold reads the slot's bytes, fails its check once the blob
    /// takes a frame (the only way it can change), and is not offered for a slot this process
    /// never checked (after a reopen) or with mapped reads off.
    @Test func aMappedHoldFailsItsCheckOnceItsBlobTakesAFrame() throws {
        let dir = StoreTemporaryDirectory()
        let frames = 4
        do {
            let store = try BufferManager.open(
                directory: dir.database, cacheBytes: frames * BlobGeometry.blobSize, create: true, shards: 1)
            defer { try? store.close() }
            let ids = try (0..<12).map { _ in try store.allocate() }
            for id in ids { try store.put(id, version: 1) }
            try store.checkpoint(root: ids[0], lsn: 1, user: [])
            let holds = try ids.compactMap { try store.holdOptimistic($0) }
            let mapped = holds.filter(\.mapped)
            #expect(mapped.count >= ids.count - frames - 2, "blobs outside a full cache must be held mapped")
            for held in holds { #expect(StorePattern.version(held.bytes, held.id) == 1) }
            guard let held = mapped.first else { return }
            let unchangedBefore = store.isUnchanged(held)
            #expect(unchangedBefore)
            try store.put(held.id, version: 2)
            let unchangedAfter = store.isUnchanged(held)
            #expect(!unchangedAfter, "a mapped hold survived its blob changing in a frame")
            for held in holds { store.release(held) }
            #expect(try store.version(of: held.id) == 2)
            try store.checkpoint(root: ids[0], lsn: 2, user: [])
            // Written out, pushed out by the others, and read mapped again: the new bytes.
            for id in ids where id != held.id { _ = try store.version(of: id) }
            let again = try #require(try store.holdOptimistic(held.id))
            #expect(StorePattern.version(again.bytes, held.id) == 2)
            store.release(again)
            #expect(store.statistics.mappedReads >= mapped.count)
        }
        // A new process has checked no slot: the first hold of each blob pins and checks it.
        let reopened = try BufferManager.open(
            directory: dir.database, cacheBytes: frames * BlobGeometry.blobSize, create: false, shards: 1)
        defer { try? reopened.close() }
        let ids = (1...12).map { BlobID(rawValue: UInt64($0)) }
        for id in ids {
            let held = try #require(try reopened.holdOptimistic(id))
            let mapped = held.mapped
            #expect(!mapped)
            reopened.release(held)
        }
        let off = try BufferManager.open(
            directory: dir.path + "/off", cacheBytes: frames * BlobGeometry.blobSize, create: true, shards: 1, mappedReads: false)
        defer { try? off.close() }
        let offIDs = try (0..<12).map { _ in try off.allocate() }
        for id in offIDs { try off.put(id, version: 1) }
        try off.checkpoint(root: offIDs[0], lsn: 1, user: [])
        for id in offIDs {
            let held = try #require(try off.holdOptimistic(id))
            let mapped = held.mapped
            #expect(!mapped)
            off.release(held)
        }
    }
}
