// Protects the pointer swap of `BufferManager.writeAside`: a long change (a split, a compaction)
// is made on a copy in spare frame memory, and the copy becomes the frame's bytes under the
// exclusive latch; the frame's old bytes become the spare, which the next `writeAside`
// overwrites. Readers that take no latch must never keep what they read in bytes a swap
// recycled (the swap moves the latch's version), and readers under the shared latch must read
// the bytes the latch guards now, never a pointer from before the swap.
import CURing
import Foundation
import Synchronization
import Testing
@testable import HoltEngine

@Suite struct StoreWriteAsideTests {
    /// A writer rewrites two blobs whole, again and again, through `writeAside` (each time with a
    /// new version of a recognisable pattern); readers hold them optimistically and shared and
    /// read the whole pattern. A read that passed its check (or was made under the shared
    /// latch) must be one whole version, and a reader never sees a version go back.
    @Test func readersNeverKeepBytesASwapRecycled() throws {
        let dir = StoreTemporaryDirectory()
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 8 << 20, create: true)
        defer { try? store.close() }
        // One blob kept pinned (as the tree's root is), one found through the frame directory.
        let ids = [try store.allocate(), try store.allocate()]
        for id in ids { try store.write(id) { StorePattern.fill($0, id, 1) } }
        try store.keepPinned(ids[0])
        let running = Atomic<Bool>(true)
        let problems = Locked<[String]>([])
        let checked = Atomic<Int>(0)
        @Sendable func report(_ problem: String) { problems.withLock { if $0.count < 5 { $0.append(problem) } } }
        let readers = (0..<2).map { r in PlainThread {
            var last = [UInt64](repeating: 0, count: ids.count)
            var round = 0
            while running.load(ordering: .acquiring) {
                round += 1
                for (n, id) in ids.enumerated() {
                    do {
                        let seen: UInt64?
                        if (round + r) % 3 == 0 {
                            let held = try store.holdShared(id)
                            seen = StorePattern.version(held.bytes, id)
                            store.release(held)
                            if seen == nil { report("\(id): torn under the shared latch") }
                        } else {
                            guard let held = try store.holdOptimistic(id) else { continue }
                            holt_tsan_ignore_begin()
                            let read = StorePattern.version(held.bytes, id)
                            holt_tsan_ignore_end()
                            let unchanged = store.isUnchanged(held)
                            store.release(held)
                            guard unchanged else { continue }
                            seen = read
                            if seen == nil { report("\(id): a torn optimistic read passed its check") }
                        }
                        guard let seen else { continue }
                        if seen < last[n] { report("\(id): version \(last[n]), then \(seen)") }
                        last[n] = max(last[n], seen)
                        checked.add(1, ordering: .relaxed)
                    } catch {
                        report("\(id): \(error)")
                        return
                    }
                }
            }
        } }
        let versions: UInt64 = 3_000
        for v in 2...versions {
            for id in ids { try store.writeAside(id) { StorePattern.fill($0, id, v) } }
        }
        running.store(false, ordering: .releasing)
        for reader in readers { reader.join() }
        #expect(problems.withLock { $0 } == [])
        #expect(checked.load(ordering: .relaxed) > 1_000, "the readers hardly ran: nothing was checked")
        for id in ids { #expect(try store.read(id) { StorePattern.version($0, id) } == versions) }
    }
}
