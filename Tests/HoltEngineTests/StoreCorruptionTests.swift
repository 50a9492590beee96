// Protects against reading bad bytes as good ones: a flipped byte in a blob, the manifest or the
// blob map is reported as `.corrupted` (at open or at read, and by `verifyBlobs`), never
// returned as a value.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct StoreCorruptionTests {
    /// A database with `count` checkpointed pattern blobs (twice checkpointed, so the manifest
    /// has two valid slots); returns the ids.
    func makeDatabase(_ dir: StoreTemporaryDirectory, count: Int = 6) throws -> [BlobID] {
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: true)
        var ids: [BlobID] = []
        for _ in 0..<count { ids.append(try store.allocate()) }
        for id in ids { try store.put(id, version: 1) }
        try store.checkpoint(root: ids[0], lsn: 1, user: [])
        try store.put(ids[0], version: 2)
        try store.checkpoint(root: ids[0], lsn: 2, user: [])
        try store.close()
        return ids
    }

    /// The slot of `id` in the current checkpoint's map, read straight from the files.
    func slot(of id: BlobID, in dir: StoreTemporaryDirectory) throws -> PhysicalSlot {
        let manifest = try Manifest.open(directory: dir.database)
        defer { try? manifest.close() }
        let entries = try BlobMap.read(directory: dir.database, anchor: manifest.current)
        return try #require(entries[id]).slot
    }

    @Test(arguments: [0, 9, 16, 70, 4096, BlobGeometry.blobSize - 1])
    func flippedByteInABlobIsReportedAtRead(offset: Int) throws {
        let dir = StoreTemporaryDirectory()
        let ids = try makeDatabase(dir)
        let victim = ids[3]
        let slot = try slot(of: victim, in: dir)
        try storeFlipByte(path: dir.database + "/blobs", offset: slot.offset + offset)

        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        do {
            _ = try store.version(of: victim)
            Issue.record("read a corrupted blob without error")
        } catch {
            guard case .corrupted(let what, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(what == "blob \(victim.rawValue)")
        }
        // The others are fine; verify names exactly the bad one.
        for id in ids where id != victim { #expect(try store.version(of: id) != nil) }
        let problems = store.verifyBlobs()
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("blob \(victim.rawValue) ") == true)
        try store.close()
    }

    @Test func blobInTheWrongSlotIsReported() throws {
        // A map that points at a slot holding another blob (a misdirected write).
        let dir = StoreTemporaryDirectory()
        let ids = try makeDatabase(dir)
        let a = try slot(of: ids[1], in: dir), b = try slot(of: ids[2], in: dir)
        let handle = try #require(FileHandle(forUpdatingAtPath: dir.database + "/blobs"))
        try handle.seek(toOffset: UInt64(b.offset))
        let other = try #require(try handle.read(upToCount: BlobGeometry.blobSize))
        try handle.seek(toOffset: UInt64(a.offset))
        try handle.write(contentsOf: other)
        try handle.close()
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        #expect(throws: HoltError.self) { try store.version(of: ids[1]) }
        #expect(try store.version(of: ids[2]) == 1)
        try store.close()
    }

    @Test(arguments: [0, 8, 24, 64, 200, 4092])
    func flippedByteInTheCurrentManifestSlotFailsOpen(offset: Int) throws {
        let dir = StoreTemporaryDirectory()
        _ = try makeDatabase(dir)
        // Generation 2 sits in slot 0. The fallback (generation 1) has lost its map: corrupted.
        try storeFlipByte(path: dir.database + "/MANIFEST", offset: offset)
        #expect {
            try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        } throws: { error in
            guard case HoltError.corrupted = error else { return false }
            return true
        }
    }

    @Test func flippedByteInTheOlderManifestSlotIsHarmless() throws {
        let dir = StoreTemporaryDirectory()
        let ids = try makeDatabase(dir)
        try storeFlipByte(path: dir.database + "/MANIFEST", offset: Manifest.slotSize + 30)
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        #expect(store.anchor.checkpointLSN == 2)
        #expect(try store.version(of: ids[0]) == 2)
        try store.close()
    }

    @Test func bothManifestSlotsBadIsCorrupted() throws {
        let dir = StoreTemporaryDirectory()
        _ = try makeDatabase(dir)
        try storeFlipByte(path: dir.database + "/MANIFEST", offset: 12)
        try storeFlipByte(path: dir.database + "/MANIFEST", offset: Manifest.slotSize + 12)
        #expect(throws: HoltError.corrupted(what: "manifest", reason: "no valid anchor slot (bad checksum, bad checksum)")) {
            try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        }
    }

    @Test(arguments: [0, 10, 20, 33, 50, 70])
    func flippedByteInTheMapFailsOpen(offset: Int) throws {
        let dir = StoreTemporaryDirectory()
        _ = try makeDatabase(dir)
        try storeFlipByte(path: dir.database + "/MAP.2", offset: offset)
        #expect {
            try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        } throws: { error in
            guard case HoltError.corrupted(let what, _) = error else { return false }
            return what == "map MAP.2"
        }
    }

    @Test func missingMapFailsOpen() throws {
        let dir = StoreTemporaryDirectory()
        _ = try makeDatabase(dir)
        unlink(dir.database + "/MAP.2")
        #expect(throws: HoltError.corrupted(what: "map MAP.2", reason: "missing")) {
            try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        }
    }
}
