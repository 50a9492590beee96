// Protects the shadow-paged checkpoint: a checkpoint that fails (EIO) or is killed at any of
// its failpoints leaves exactly the previous checkpoint on disk (or, past the manifest's fsync,
// exactly the new one), and a store that saw a failed write refuses every later write.
// The failing part runs in a child process (exit test): failpoints are process-wide, and a
// kill must not take the test runner with it.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct StoreCrashTests {
    static let failpoints = [
        "store.beforeBlobWrite", "store.afterBlobWrite", "checkpoint.beforeMapWrite",
        "checkpoint.beforeManifestWrite", "checkpoint.afterManifestWrite",
    ]
    /// 8 frames for 20 blobs: the second round of writes also goes out through eviction.
    static let cacheBytes = 4 << 20
    /// Cache sizes for the child: the small one evicts (the store failpoints are hit by eviction
    /// write-outs), the big one does not (they are hit inside the checkpoint's batch).
    static let childCaches = [4 << 20, 64 << 20]
    static let blobCount = 20

    /// Checkpoint 1: blobs 1...20 at version 1, root blob 1, LSN 1.
    func makeFirstCheckpoint(_ dir: StoreTemporaryDirectory) throws {
        let store = try BufferManager.open(directory: dir.database, cacheBytes: Self.cacheBytes, create: true)
        for _ in 0..<Self.blobCount {
            let id = try store.allocate()
            try store.put(id, version: 1)
        }
        try store.checkpoint(root: BlobID(rawValue: 1), lsn: 1, user: [1])
        try store.close()
    }

    /// In the child: version 2 of every blob, blob 3 freed, two new blobs, then checkpoint 2.
    static func writeSecondCheckpoint(directory: String, cacheBytes: Int = cacheBytes) throws(HoltError) {
        let store = try BufferManager.open(directory: directory, cacheBytes: cacheBytes, create: false)
        for raw in 1...UInt64(blobCount) where raw != 3 { try store.put(BlobID(rawValue: raw), version: 2) }
        try store.free(BlobID(rawValue: 3))
        for _ in 0..<2 {
            let id = try store.allocate()
            try store.put(id, version: 2)
        }
        try store.checkpoint(root: BlobID(rawValue: 2), lsn: 2, user: [2])
    }

    /// Checks the reopened database holds exactly checkpoint `lsn` (1 or 2).
    func expectCheckpoint(_ lsn: UInt64, in dir: StoreTemporaryDirectory) throws {
        let store = try BufferManager.open(directory: dir.database, cacheBytes: Self.cacheBytes, create: false)
        defer { try? store.close() }
        #expect(store.anchor.checkpointLSN == lsn)
        #expect(store.anchor.root == BlobID(rawValue: lsn))
        #expect(store.anchor.user.first == UInt8(lsn))
        for raw in 1...UInt64(Self.blobCount) {
            let id = BlobID(rawValue: raw)
            if lsn == 2 && raw == 3 {
                #expect(throws: HoltError.self) { try store.version(of: id) }
            } else {
                #expect(try store.version(of: id) == lsn, "blob \(raw)")
            }
        }
        // The two blobs of checkpoint 2: 3 (freed before) is only reused after a checkpoint.
        for raw in UInt64(Self.blobCount + 1)...UInt64(Self.blobCount + 2) {
            if lsn == 2 {
                #expect(try store.version(of: BlobID(rawValue: raw)) == 2)
            } else {
                #expect(throws: HoltError.self) { try store.version(of: BlobID(rawValue: raw)) }
            }
        }
        #expect(store.verifyBlobs().isEmpty)
        #expect(store.invariantViolations() == [])
        // And the database goes on: a third checkpoint on top works.
        try store.put(BlobID(rawValue: 1), version: 9)
        try store.checkpoint(root: BlobID(rawValue: 1), lsn: 3, user: [])
        #expect(try store.version(of: BlobID(rawValue: 1)) == 9)
    }

    @Test func uninterruptedSecondCheckpoint() throws {
        let dir = StoreTemporaryDirectory()
        try makeFirstCheckpoint(dir)
        try Self.writeSecondCheckpoint(directory: dir.database)
        try expectCheckpoint(2, in: dir)
    }

    @Test(arguments: failpoints, childCaches)
    func failedCheckpointLeavesThePreviousOne(failpoint: String, childCache: Int) async throws {
        let dir = StoreTemporaryDirectory()
        try makeFirstCheckpoint(dir)
        await #expect(processExitsWith: .success) { [directory = dir.database as String, failpoint = failpoint as String, childCache = childCache as Int] in
            Failpoints.arm(failpoint, .fail(errno: EIO))
            do throws(HoltError) {
                try StoreCrashTests.writeSecondCheckpoint(directory: directory, cacheBytes: childCache)
                exit(10)  // the failpoint was not hit
            } catch .io(errno: EIO, _) {
            } catch {
                exit(11)
            }
        }
        try expectCheckpoint(failpoint == "checkpoint.afterManifestWrite" ? 2 : 1, in: dir)
    }

    @Test(arguments: failpoints, childCaches)
    func killedCheckpointLeavesThePreviousOne(failpoint: String, childCache: Int) async throws {
        let dir = StoreTemporaryDirectory()
        try makeFirstCheckpoint(dir)
        await #expect(processExitsWith: .signal(SIGKILL)) { [directory = dir.database as String, failpoint = failpoint as String, childCache = childCache as Int] in
            Failpoints.arm(failpoint, .kill)
            try StoreCrashTests.writeSecondCheckpoint(directory: directory, cacheBytes: childCache)
        }
        try expectCheckpoint(failpoint == "checkpoint.afterManifestWrite" ? 2 : 1, in: dir)
    }

    @Test func afterAFailedWriteEveryWriteIsRefused() async throws {
        let dir = StoreTemporaryDirectory()
        try makeFirstCheckpoint(dir)
        await #expect(processExitsWith: .success) { [directory = dir.database as String] in
            let store = try BufferManager.open(directory: directory, cacheBytes: StoreCrashTests.cacheBytes, create: false)
            try store.put(BlobID(rawValue: 1), version: 5)
            // EIO: a full disk (ENOSPC) is survived instead, see ENOSPCTests.
            Failpoints.arm("store.afterBlobWrite", .fail(errno: EIO))
            do throws(HoltError) {
                try store.checkpoint(root: nil, lsn: 2, user: [])
                exit(10)
            } catch .io(errno: EIO, _) {
            } catch {
                exit(13)
            }
            func refused(_ body: () throws(HoltError) -> Void) -> Bool {
                do { try body() } catch .previousIOFailure { return true } catch { return false }
                return false
            }
            guard refused({ () throws(HoltError) in try store.checkpoint(root: nil, lsn: 2, user: []) }),
                refused({ () throws(HoltError) in try store.put(BlobID(rawValue: 2), version: 5) }),
                refused({ () throws(HoltError) in _ = try store.allocate() }),
                refused({ () throws(HoltError) in try store.free(BlobID(rawValue: 2)) })
            else { exit(11) }
            // Reads still work, from the cache and from disk.
            guard try store.version(of: BlobID(rawValue: 1)) == 5, try store.version(of: BlobID(rawValue: 7)) == 1 else {
                exit(12)
            }
        }
        try expectCheckpoint(1, in: dir)
    }
}
