// Protects the blob file: whole blobs land at their slot offsets and come back, through
// pread/pwrite and through io_uring batches, with O_DIRECT or the buffered fallback; and it
// prints what both write paths cost on this machine.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct StoreBlobFileTests {
    /// Writes `count` blobs with distinct bytes through `file` (batched or one by one) and reads
    /// them back.
    func roundTrip(_ file: BlobFile, count: Int, batched: Bool) throws -> Duration {
        let buffers = (0..<count).map { _ in AlignedBuffer(count: BlobGeometry.blobSize) }
        for (i, buffer) in buffers.enumerated() { memset(buffer.pointer, Int32(i + 1), buffer.count) }
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            if batched {
                try file.write(batch: buffers.enumerated().map { BlobWrite(slot: PhysicalSlot(UInt64($0.offset)), buffer: $0.element.pointer, gap: 0..<0) })
            } else {
                for (i, buffer) in buffers.enumerated() { try file.write(BlobWrite(slot: PhysicalSlot(UInt64(i)), buffer: buffer.pointer, gap: 0..<0)) }
            }
            try file.sync()
        }
        let scratch = AlignedBuffer(count: BlobGeometry.blobSize)
        for i in stride(from: count - 1, through: 0, by: -1) {
            #expect(try file.read(PhysicalSlot(UInt64(i)), into: scratch.pointer))
            #expect(memcmp(scratch.pointer, buffers[i].pointer, scratch.count) == 0, "slot \(i)")
        }
        #expect(try file.read(PhysicalSlot(UInt64(count)), into: scratch.pointer) == false)
        #expect(try file.size() == count * BlobGeometry.blobSize)
        return elapsed
    }

    @Test func pwriteAndIOUringWriteTheSameBytes() throws {
        let dir = StoreTemporaryDirectory()
        let count = 64
        let plain = try BlobFile.open(path: dir.path + "/plain", create: true, useIOUring: false)
        #expect(!plain.usesIOUring)
        let pwriteOneByOne = try roundTrip(plain, count: count, batched: false)
        try plain.close()
        let plainBatch = try BlobFile.open(path: dir.path + "/plain-batch", create: true, useIOUring: false)
        let pwriteBatch = try roundTrip(plainBatch, count: count, batched: true)
        try plainBatch.close()
        let ring = try BlobFile.open(path: dir.path + "/ring", create: true)
        let uringBatch = try roundTrip(ring, count: count, batched: true)
        print(
            "blob file (\(ring.isDirect ? "O_DIRECT" : "buffered"), io_uring \(ring.usesIOUring ? "on" : "unavailable")):",
            "\(count) × 512 KiB + fdatasync: pwrite one by one \(pwriteOneByOne), pwrite batch \(pwriteBatch),",
            "io_uring batch \(uringBatch)")
        try ring.close()
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1"))
    func measureWritePaths() throws {
        // Interleaved repetitions, best of each: the disk is shared with other work.
        let dir = StoreTemporaryDirectory()
        var best: [String: Duration] = [:]
        for round in 0..<5 {
            for (name, ring, batched) in [("pwrite", false, false), ("io_uring", true, true)] {
                let path = dir.path + "/\(name)-\(round)"
                let file = try BlobFile.open(path: path, create: true, useIOUring: ring)
                let elapsed = try roundTrip(file, count: 256, batched: batched)
                try file.close()
                unlink(path)
                best[name] = min(best[name] ?? elapsed, elapsed)
            }
        }
        print("blob file, 256 × 512 KiB + fdatasync, best of 5:", best.sorted { $0.key < $1.key })
    }

    @Test func fileSystemWithoutODirectStillWorks() throws {
        // /dev/shm is tmpfs: older kernels refuse O_DIRECT there (EINVAL), newer ones take it.
        let path = "/dev/shm/holt-store-\(getpid())-blobs"
        defer { unlink(path) }
        let file = try BlobFile.open(path: path, create: true)
        _ = try roundTrip(file, count: 4, batched: true)
        try file.close()
    }

    @Test func ourBugsTrapAndTheWorldThrows() async throws {
        // EBADF from pread can only be a holt bug: a trap, not an error to handle.
        await #expect(processExitsWith: .failure) {
            let buffer = AlignedBuffer(count: 4096)
            _ = try Syscall.pread(-1, buffer.pointer, count: 4096, offset: 0, "a closed descriptor")
        }
        // A missing file is the world: a typed error.
        #expect(throws: HoltError.io(errno: ENOENT, operation: "open /nonexistent/holt/blobs")) {
            try BlobFile.open(path: "/nonexistent/holt/blobs", create: false)
        }
    }
}
