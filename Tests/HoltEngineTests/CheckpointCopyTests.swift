// Protects the memory a checkpoint costs beyond the cache: writers that change blobs the
// checkpoint being written captured copy them out first, and those copies are bounded (a writer
// past the bound waits for the checkpoint to write a copied blob), whatever the writers touch.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import HoltEngine

@Suite struct CheckpointCopyTests {
    /// A checkpoint stopped before its first blob write while a writer rewrites a key in every
    /// captured blob: the writer makes copies up to the bound, then waits (it does not copy
    /// every blob); once the checkpoint goes on, the writer finishes, and every value, the
    /// checkpoint and a reopen are right.
    @Test func copiesOfCapturedBlobsStayWithinTheirBound() async throws {
        let dir = try TemporaryDirectory("checkpoint-copies")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            // 96 frames: 3 shards of 32, each holding at most 8 copies.
            var options = Options(cacheBytes: 48 << 20, sync: .none, checkpointLogBytes: 1 << 30)
            options.checkpointIntervalSeconds = 3_600
            let bound = 3 * 8
            let tree = try Tree.open(path: path, options: options)
            @Sendable func key(_ index: Int) -> [UInt8] { Array("d\(index % 97)/file-\(index)".utf8) }
            @Sendable func value(_ index: Int, _ round: UInt8) -> [UInt8] { [round] + Array(repeating: UInt8(index % 251), count: 120) }
            let keys = 110_000
            for start in stride(from: 0, to: keys, by: 1_000) {
                try tree.apply((start..<min(start + 1_000, keys)).map { TxnOp.put(key: key($0), value: value($0, 0)) })
            }
            let blobs = try tree.statistics().blobs
            // More captured blobs than the checkpoint's first batch (16) plus the bound.
            guard blobs > 16 + bound, blobs < 90 else { exit(Int32(100 + min(blobs, 150))) }  // exit 100 + blobs

            Failpoints.arm("store.beforeBlobWrite", .block)
            let checkpointed = Atomic<Int>(0)  // 1: done, 2: failed
            let checkpointer = Thread {
                checkpointed.store((try? tree.checkpoint()) != nil ? 1 : 2, ordering: .sequentiallyConsistent)
            }
            checkpointer.start()
            guard Failpoints.waitUntilBlocked("store.beforeBlobWrite") else { exit(3) }

            // Rewrite a key every 500: one or more in each blob.
            let rewritten = Array(stride(from: 0, to: keys, by: 500))
            let finished = Atomic<Int>(0)  // 1: done, 2: failed
            let writer = Thread {
                for index in rewritten {
                    guard (try? tree.put(key(index), value(index, 1))) != nil else {
                        finished.store(2, ordering: .sequentiallyConsistent)
                        return
                    }
                }
                finished.store(1, ordering: .sequentiallyConsistent)
            }
            writer.start()
            let deadline = Date().addingTimeInterval(60)
            while try tree.statistics().checkpointCopyWaits == 0 {
                // Without the bound the writer copies every blob it meets and finishes.
                guard Date() < deadline, finished.load(ordering: .sequentiallyConsistent) == 0 else { exit(4) }
                usleep(1_000)
            }
            let held = try tree.statistics().checkpointCopiesPeak
            guard held > 0, held <= bound else { print("copies: \(held)"); exit(5) }
            guard finished.load(ordering: .sequentiallyConsistent) == 0 else { exit(6) }

            Failpoints.resume("store.beforeBlobWrite")
            while finished.load(ordering: .sequentiallyConsistent) == 0 || checkpointed.load(ordering: .sequentiallyConsistent) == 0 {
                guard Date() < deadline else { exit(7) }
                usleep(1_000)
            }
            guard finished.load(ordering: .sequentiallyConsistent) == 1, checkpointed.load(ordering: .sequentiallyConsistent) == 1 else { exit(8) }
            let after = try tree.statistics()
            guard after.checkpointCopiesPeak <= bound else { print("copies: \(after.checkpointCopiesPeak)"); exit(9) }
            let rewrittenSet = Set(rewritten)
            func check(_ tree: Tree) throws -> Bool {
                for index in stride(from: 0, to: keys, by: 7) + rewritten {
                    guard try tree.get(key(index)) == value(index, rewrittenSet.contains(index) ? 1 : 0) else { return false }
                }
                return try tree.verify().isEmpty
            }
            guard try check(tree) else { exit(10) }
            try tree.close()
            // The checkpoint written beside the copies is whole: a reopen reads it (and the log).
            let reopened = try Tree.open(path: path, options: options)
            guard try check(reopened) else { exit(11) }
            try reopened.close()
        }
    }
}
