/// Per-op latencies of one workload, kept as raw nanoseconds in an array allocated and touched
/// (zero-filled) before the timed loop, so recording an op never allocates nor takes a page
/// fault; percentiles are taken by sorting afterwards.
struct LatencyRecorder: Sendable {
    /// The sample slots, all allocated and zero-filled at `init`.
    private var samples: [UInt64]
    /// Samples recorded so far (the first `count` slots of `samples`).
    private(set) var count = 0
    /// Samples that did not fit (recorded after the array was full); a workload with any fails.
    private(set) var dropped = 0

    /// A recorder for at most `capacity` samples; later samples are counted in `dropped`.
    init(capacity: Int) {
        samples = [UInt64](repeating: 0, count: max(capacity, 1))
    }

    /// Records one op that took `nanoseconds`.
    @inline(__always)
    mutating func record(_ nanoseconds: UInt64) {
        if count < samples.count {
            samples[count] = nanoseconds
            count += 1
        } else {
            dropped += 1
        }
    }

    /// Records `count` ops that together took `nanoseconds`, as `count` samples of the mean
    /// (for ops only timed as a group: a batch of puts, a page of a scan).
    mutating func record(_ nanoseconds: UInt64, amortizedOver count: Int) {
        guard count > 0 else { return }
        let each = nanoseconds / UInt64(count)
        for _ in 0..<count { record(each) }
    }

    /// Adds every sample of `other` (the recorded ones, not its spare capacity).
    mutating func merge(_ other: LatencyRecorder) {
        samples.removeSubrange(count...)
        samples.append(contentsOf: other.samples[..<other.count])
        count = samples.count
        dropped += other.dropped
    }

    /// The percentiles of the recorded samples (nearest rank), every latency divided by
    /// `divisor` (to report a batch's time per key); zeros without samples.
    func summary(dividedBy divisor: UInt64 = 1) -> LatencySummary {
        guard count > 0 else { return LatencySummary() }
        let sorted = samples[..<count].sorted()
        func rank(_ fraction: Double) -> UInt64 {
            let index = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(index, 0), sorted.count - 1)] / divisor
        }
        return LatencySummary(
            p50: rank(0.50), p99: rank(0.99), p999: rank(0.999), p9999: rank(0.9999), max: sorted.last! / divisor)
    }
}

/// The latency percentiles of one workload, in nanoseconds (nearest rank).
struct LatencySummary: Sendable {
    /// Median.
    var p50: UInt64 = 0
    /// 99th percentile.
    var p99: UInt64 = 0
    /// 99.9th percentile.
    var p999: UInt64 = 0
    /// 99.99th percentile.
    var p9999: UInt64 = 0
    /// The slowest op.
    var max: UInt64 = 0
}
