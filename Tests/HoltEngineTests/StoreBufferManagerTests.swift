// Protects the buffer manager: blobs written and checkpointed come back after a reopen, a
// database larger than the cache works (eviction, dirty write-out, re-read), and readers on
// several threads see the right bytes.
import Foundation
import Synchronization
import Testing
@testable import HoltEngine

@Suite struct StoreBufferManagerTests {
    @Test func freshDatabaseHasNoRootAndReopens() throws {
        let dir = StoreTemporaryDirectory()
        #expect(throws: HoltError.notADatabase(path: dir.database)) {
            try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        }
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: true)
        #expect(store.anchor.root == nil)
        #expect(store.anchor.checkpointLSN == 0)
        try store.close()
        let again = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        #expect(again.anchor.root == nil)
        #expect(again.verifyBlobs().isEmpty)
        #expect(again.invariantViolations() == [])
        try again.close()
    }

    @Test func checkpointedBlobsComeBackAfterReopen() throws {
        let dir = StoreTemporaryDirectory()
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: true)
        var ids: [BlobID] = []
        for _ in 0..<10 { ids.append(try store.allocate()) }
        for id in ids { try store.put(id, version: 1) }
        #expect(store.dirtyBytes == 10 * BlobGeometry.blobSize)
        let user = Array("tree state".utf8)
        try store.checkpoint(root: ids[0], lsn: 42, user: user)
        #expect(store.dirtyBytes == 0)
        // A second checkpoint that changes some blobs and frees one.
        try store.put(ids[1], version: 2)
        try store.free(ids[2])
        try store.checkpoint(root: ids[1], lsn: 43, user: user)
        try store.close()

        let again = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: false)
        #expect(again.anchor.root == ids[1])
        #expect(again.anchor.checkpointLSN == 43)
        #expect(Array(again.anchor.user.prefix(user.count)) == user)
        #expect(again.anchor.user.count == Anchor.userSize)
        for id in ids where id != ids[2] {
            #expect(try again.version(of: id) == (id == ids[1] ? 2 : 1))
        }
        #expect(throws: HoltError.self) { try again.version(of: ids[2]) }
        #expect(again.verifyBlobs().isEmpty)
        #expect(again.invariantViolations() == [])
        #expect(again.statistics.blobsLive == 9)
        // The freed id comes back, as a new zero blob.
        let reused = try again.allocate()
        #expect(reused == ids[2])
        #expect(try again.read(reused) { $0.loadUnaligned(fromByteOffset: 100, as: UInt64.self) } == 0)
        try again.close()
    }
}

extension StoreBufferManagerTests {
    /// How many blobs the eviction test pushes through a 32 MiB (64-frame) cache.
    static var manyBlobs: Int { ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1" ? 2_000 : 400 }

    @Test func databaseMuchLargerThanTheCacheWorks() throws {
        let dir = StoreTemporaryDirectory()
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 32 << 20, create: true)
        var ids: [BlobID] = []
        for i in 0..<Self.manyBlobs {
            let id = try store.allocate()
            try store.put(id, version: UInt64(i % 3))
            ids.append(id)
        }
        // Dirty frames were written out to make room: the cache stayed at its budget.
        #expect(store.statistics.frames == store.capacity)
        #expect(store.statistics.evictions > 0)
        #expect(store.dirtyBytes <= store.capacity * BlobGeometry.blobSize)
        // Read everything back before the checkpoint (from written-out slots) ...
        for (i, id) in ids.enumerated() { #expect(try store.version(of: id) == UInt64(i % 3)) }
        #expect(store.invariantViolations() == [])
        try store.checkpoint(root: ids[0], lsn: 1, user: [])
        // ... change every other blob, then read all again after a checkpoint.
        for (i, id) in ids.enumerated() where i % 2 == 0 { try store.put(id, version: 7) }
        try store.checkpoint(root: ids[0], lsn: 2, user: [])
        for (i, id) in ids.enumerated() { #expect(try store.version(of: id) == (i % 2 == 0 ? 7 : UInt64(i % 3))) }
        #expect(store.statistics.frames == store.capacity)
        // Shadow paging keeps at most about two copies of each blob.
        #expect(store.statistics.fileBytes <= 2 * (ids.count + store.capacity) * BlobGeometry.blobSize)
        #expect(store.verifyBlobs().isEmpty)
        #expect(store.invariantViolations() == [])
        try store.close()

        let again = try BufferManager.open(directory: dir.database, cacheBytes: 32 << 20, create: false)
        for (i, id) in ids.enumerated() { #expect(try again.version(of: id) == (i % 2 == 0 ? 7 : UInt64(i % 3))) }
        try again.close()
    }

    @Test func concurrentReadersSeeTheirBlobs() throws {
        let dir = StoreTemporaryDirectory()
        // 8 frames for 40 blobs: readers fault blobs in and evict each other all the time.
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 4 << 20, create: true)
        var ids: [BlobID] = []
        for _ in 0..<40 {
            let id = try store.allocate()
            try store.put(id, version: id.rawValue)
            ids.append(id)
        }
        // Half the blobs stay dirty: readers must write them out to make room.
        try store.checkpoint(root: nil, lsn: 1, user: [])
        for id in ids.prefix(20) { try store.put(id, version: id.rawValue + 1000) }
        let seed = StoreRandom().seed
        let threads = 6
        let failures = Mutex(0)
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread.detachNewThread { [ids] in
                defer { group.leave() }
                // Even threads follow one shared sequence (they meet on the same misses and
                // wait for each other's loads), odd threads their own.
                var random = StoreRandom(seed: thread % 2 == 0 ? seed : seed &+ UInt64(thread))
                for _ in 0..<300 {
                    let id = ids[Int(random.next() % UInt64(ids.count))]
                    let want = id.rawValue <= ids[19].rawValue ? id.rawValue + 1000 : id.rawValue
                    if (try? store.version(of: id)) != want { failures.withLock { $0 += 1 } }
                }
            }
        }
        group.wait()
        let bad = failures.withLock { $0 }
        #expect(bad == 0, "seed \(seed)")
        #expect(store.statistics.evictions > 0)
        try store.checkpoint(root: nil, lsn: 2, user: [])
        #expect(store.verifyBlobs().isEmpty)
        #expect(store.invariantViolations() == [])
        try store.close()
    }
}
