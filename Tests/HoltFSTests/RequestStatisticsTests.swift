// Protects the per-request counters behind `holtfs stats` and the metrics: the log-scale buckets
// hold every value between their bounds and are at most a quarter wide, quantiles read from them
// are never below the true value and at most 25% above it, and concurrent recording loses nothing.
import Foundation
import Testing

@testable import HoltFS

@Suite struct RequestStatisticsTests {
    @Test func everyValueFallsBetweenItsBucketsBounds() {
        var values: [UInt64] = [0, 1, 500, 1023, 1024, 1025, 1279, 1280, 1535, 1536, 2047, 2048, 1 << 35, (1 << 36) - 1]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { values.append(UInt64.random(in: 0..<(1 << 37), using: &generator) >> UInt64.random(in: 0..<30)) }
        for value in values {
            let index = LatencyBuckets.index(of: value)
            #expect(index >= 0 && index < LatencyBuckets.count, "\(value)")
            #expect(LatencyBuckets.lowerBound(of: index) <= value, "\(value) below bucket \(index)")
            if index < LatencyBuckets.count - 1 {
                #expect(value < LatencyBuckets.upperBound(of: index), "\(value) above bucket \(index)")
            }
        }
        #expect(LatencyBuckets.index(of: 1 << 36) == LatencyBuckets.count - 1)
        #expect(LatencyBuckets.index(of: .max) == LatencyBuckets.count - 1)
    }

    @Test func bucketsAreContiguousAndAtMostAQuarterWide() {
        for index in 0..<(LatencyBuckets.count - 1) {
            #expect(LatencyBuckets.upperBound(of: index) == LatencyBuckets.lowerBound(of: index + 1))
            #expect(LatencyBuckets.index(of: LatencyBuckets.lowerBound(of: index)) == index)
            if index > 0 {
                let lower = Double(LatencyBuckets.lowerBound(of: index))
                let upper = Double(LatencyBuckets.upperBound(of: index))
                #expect(upper / lower <= 1.25 + 1e-9, "bucket \(index): \(lower)..<\(upper)")
            }
        }
    }

    @Test func quantilesAreUpperBoundsWithinAQuarter() {
        // 1..1000 microseconds, each once: the true p50 is 500 us, the true p99 990 us.
        var buckets = [UInt64](repeating: 0, count: LatencyBuckets.count)
        for microseconds in 1...1000 { buckets[LatencyBuckets.index(of: UInt64(microseconds) * 1000)] += 1 }
        for (q, truth) in [(0.5, 500_000.0), (0.99, 990_000.0), (1.0, 1_000_000.0), (0.001, 1000.0)] {
            let value = Double(LatencyBuckets.quantile(q, of: buckets))
            #expect(value >= truth, "q \(q): \(value) < \(truth)")
            #expect(value <= truth * 1.25, "q \(q): \(value) > 1.25 * \(truth)")
        }
        #expect(LatencyBuckets.quantile(0.5, of: [UInt64](repeating: 0, count: LatencyBuckets.count)) == 0)
        // One sample: every quantile is its bucket's upper bound.
        var single = [UInt64](repeating: 0, count: LatencyBuckets.count)
        single[LatencyBuckets.index(of: 3000)] = 1
        #expect(LatencyBuckets.quantile(0.5, of: single) == LatencyBuckets.quantile(0.99, of: single))
        #expect(LatencyBuckets.quantile(0.5, of: single) == LatencyBuckets.upperBound(of: LatencyBuckets.index(of: 3000)))
    }

    @Test func recordedRequestsShowInTheSnapshot() {
        let statistics = RequestStatistics()
        for nanoseconds: UInt64 in [2_000, 4_000, 8_000, 1_000_000] { statistics.record(.create, nanoseconds: nanoseconds) }
        statistics.record(.lookup, nanoseconds: 500, failed: true)
        let create = statistics.snapshot(of: .create)
        #expect(create.count == 4 && create.errors == 0 && create.totalNanoseconds == 1_014_000)
        #expect(create.meanNanoseconds == 253_500)
        #expect(create.quantileNanoseconds(0.5) >= 4_000 && create.quantileNanoseconds(0.5) <= 5_000)
        #expect(create.quantileNanoseconds(0.99) >= 1_000_000 && create.quantileNanoseconds(0.99) <= 1_250_000)
        let lookup = statistics.snapshot(of: .lookup)
        #expect(lookup.count == 1 && lookup.errors == 1)
        let all = statistics.snapshot()
        #expect(all.count == FuseOperation.allCases.count)
        #expect(all.filter { $0.count > 0 }.map(\.operation) == [.lookup, .create])
        #expect(FuseOperation.batch_forget.name == "batch_forget" && FuseOperation.readdirplus.name == "readdirplus")
    }

    @Test func timedRequestsMeasureTheirDuration() {
        let statistics = RequestStatistics()
        let started = RequestStatistics.now()
        usleep(2000)
        statistics.record(.write, since: started)
        let write = statistics.snapshot(of: .write)
        #expect(write.count == 1 && write.totalNanoseconds >= 2_000_000)
    }

    @Test func concurrentRecordingLosesNothing() {
        let statistics = RequestStatistics()
        let threads = 4
        let perThread = 20_000
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for i in 0..<perThread {
                statistics.record(i % 2 == 0 ? .getattr : .read, nanoseconds: UInt64(1000 + i), failed: i % 10 == 0)
            }
            _ = thread
        }
        let getattr = statistics.snapshot(of: .getattr)
        let read = statistics.snapshot(of: .read)
        #expect(getattr.count + read.count == UInt64(threads * perThread))
        #expect(getattr.errors == UInt64(threads * perThread / 10))
        let expectedSum = (0..<perThread).reduce(UInt64(0)) { $0 + UInt64(1000 + $1) } * UInt64(threads)
        #expect(getattr.totalNanoseconds + read.totalNanoseconds == expectedSum)
    }
}
