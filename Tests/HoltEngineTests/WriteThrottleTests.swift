// Protects how writers that outrun the background checkpointer are held back: a delay per batch
// that grows across the zone between the soft and the hard bound, a stop only at the hard bound,
// and no batch lost either way.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import HoltEngine

@Suite struct WriteThrottleTests {
    let mib = 1 << 20

    @Test func belowTheSoftBoundsBatchesGoAtOnce() {
        let throttle = WriteThrottle(cacheBytes: 64 * mib, checkpointLogBytes: mib)
        #expect(throttle.decide(dirtyBytes: 0, logBytes: 0) == .go)
        #expect(throttle.decide(dirtyBytes: 32 * mib, logBytes: 2 * mib) == .go)
    }

    @Test func theDelayGrowsAcrossTheZoneUpToTheHardBound() {
        let throttle = WriteThrottle(cacheBytes: 64 * mib, checkpointLogBytes: mib)
        func delay(dirty: Int, log: Int) -> UInt64? {
            if case .delay(let nanoseconds) = throttle.decide(dirtyBytes: dirty, logBytes: log) { return nanoseconds }
            return nil
        }
        // Dirty bytes: the zone is 32..<48 MiB, once the log holds an eighth of its threshold.
        let someLog = mib / 4
        #expect(throttle.decide(dirtyBytes: 47 * mib, logBytes: 0) == .go, "dirty bytes alone, no log: not held back")
        let dirtyDelays = [33, 36, 40, 44, 47].map { delay(dirty: $0 * mib, log: someLog) }
        #expect(dirtyDelays.allSatisfy { $0 != nil })
        let dirty = dirtyDelays.compactMap { $0 }
        #expect(zip(dirty, dirty.dropFirst()).allSatisfy { $0 < $1 }, "\(dirty)")
        #expect(dirty.last! <= WriteThrottle.maximumDelay)
        // The log: the zone is 2..<3 MiB.
        let logDelays = [2.1, 2.5, 2.9].map { delay(dirty: 0, log: Int($0 * Double(mib))) }
        let log = logDelays.compactMap { $0 }
        #expect(log.count == 3 && zip(log, log.dropFirst()).allSatisfy { $0 < $1 }, "\(logDelays)")
        // The further of the two decides.
        #expect(delay(dirty: 44 * mib, log: Int(2.1 * Double(mib)))! == delay(dirty: 44 * mib, log: someLog)!)
        #expect(throttle.decide(dirtyBytes: 48 * mib, logBytes: someLog) == .stop)
        #expect(throttle.decide(dirtyBytes: 48 * mib, logBytes: 0) == .go)
        #expect(throttle.decide(dirtyBytes: 0, logBytes: 3 * mib) == .stop)
    }

    /// A writer whose checkpoints cannot finish (stopped at a failpoint) is slowed first, then
    /// stopped at the hard bound, and goes on with every batch kept once the checkpoint ends.
    @Test func aWriterAheadOfAStuckCheckpointIsSlowedThenStopped() async throws {
        let dir = try TemporaryDirectory("write-throttle")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let threshold = 256 << 10
            let tree = try Tree.open(path: path, options: Options(sync: .none, checkpointLogBytes: threshold))
            Failpoints.arm("checkpoint.beforeMapWrite", .block)
            let keys = 6_000  // ~1.5 MiB of log: past the hard bound (3 × 256 KiB)
            let finished = Atomic<Bool>(false)
            let writer = Thread {
                for index in 0..<keys {
                    guard (try? tree.put(Array("w/\(index)".utf8), Array(repeating: UInt8(index % 251), count: 200))) != nil else { exit(5) }
                }
                finished.store(true, ordering: .sequentiallyConsistent)
            }
            writer.start()
            guard Failpoints.waitUntilBlocked("checkpoint.beforeMapWrite") else { exit(2) }
            // The writer reaches the hard bound and waits there; it went through the slowdown first.
            let deadline = Date().addingTimeInterval(30)
            while try tree.statistics().stoppedBatches == 0 {
                guard Date() < deadline, !finished.load(ordering: .sequentiallyConsistent) else { exit(3) }
                usleep(1_000)
            }
            let stats = try tree.statistics()
            guard stats.delayedBatches > 0, stats.writeDelayNanoseconds > 0 else { exit(4) }
            guard !finished.load(ordering: .sequentiallyConsistent) else { exit(6) }
            Failpoints.resume("checkpoint.beforeMapWrite")
            while !finished.load(ordering: .sequentiallyConsistent) {
                guard Date() < deadline else { exit(7) }
                usleep(1_000)
            }
            for index in stride(from: 0, to: keys, by: 97) {
                guard try tree.get(Array("w/\(index)".utf8)) == Array(repeating: UInt8(index % 251), count: 200) else { exit(8) }
            }
            guard try tree.verify().isEmpty else { exit(9) }
            try tree.close()
        }
    }
}
