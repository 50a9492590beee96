// Measures the log's durable append rate with 1, 4 and 8 writer threads (group commit), and the
// unsynced rate, on the disk under /tmp. Runs only with HOLT_LONG_TESTS=1; prints its figures.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import HoltEngine

@Suite(.enabled(if: getenv("HOLT_LONG_TESTS") != nil))
struct WALBenchmarkTests {
    /// Appends (and waits for) 100-byte records from `threads` threads for about `seconds`;
    /// returns records per second and the log's statistics.
    func measure(threads: Int, sync: SyncMode, seconds: Double = 3) throws -> (rate: Double, statistics: WriteAheadLog.Statistics) {
        let dir = WALTestDirectory()
        let (log, _, _) = try walOpenAndReplay(dir, sync: sync)
        let payload = [UInt8](repeating: 0xAB, count: 100)
        let stop = Atomic<Bool>(false)
        let count = Atomic<Int>(0)
        let start = Monitor.monotonicNanoseconds()
        let writers = (0..<threads).map { _ in
            PlainThread {
                while !stop.load(ordering: .relaxed) {
                    guard let lsn = try? log.append(payload), (try? log.waitDurable(lsn)) != nil else { return }
                    count.add(1, ordering: .relaxed)
                }
            }
        }
        usleep(UInt32(seconds * 1_000_000))
        stop.store(true, ordering: .relaxed)
        for writer in writers { writer.join() }
        let elapsed = Double(Monitor.monotonicNanoseconds() - start) / 1e9
        let statistics = log.statistics
        try log.close()
        return (Double(count.load(ordering: .relaxed)) / elapsed, statistics)
    }

    @Test func durableAppendsPerSecond() throws {
        for threads in [1, 4, 8] {
            let (rate, statistics) = try measure(threads: threads, sync: .always)
            print("wal .always, \(threads) thread(s): \(Int(rate)) durable appends/s, \(statistics.syncs) fdatasyncs, mean group \(String(Double(Int(statistics.meanGroupSize * 10)) / 10)), largest \(statistics.largestGroup)")
            #expect(statistics.syncs <= statistics.records)
        }
        let (rate, statistics) = try measure(threads: 1, sync: .none)
        print("wal .none, 1 thread: \(Int(rate)) appends/s, \(statistics.writes) writes, \(statistics.syncs) syncs")
    }
}
