/// Per-op latencies of one workload, kept as raw nanoseconds in an array sized before the
/// timed loop, so recording an op never allocates; percentiles are taken by sorting afterwards.
struct LatencyRecorder: Sendable {
    private var samples: [UInt64]
    private let capacity: Int

    /// A recorder for at most `capacity` samples; later samples are dropped (never reallocated).
    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        samples = []
        samples.reserveCapacity(self.capacity)
    }

    /// Records one op that took `nanoseconds`.
    @inline(__always)
    mutating func record(_ nanoseconds: UInt64) {
        if samples.count < capacity { samples.append(nanoseconds) }
    }

    /// Records `count` ops that together took `nanoseconds`, as `count` samples of the mean
    /// (for ops only timed as a group: a batch of puts, a page of a scan).
    mutating func record(_ nanoseconds: UInt64, amortizedOver count: Int) {
        guard count > 0 else { return }
        let each = nanoseconds / UInt64(count)
        for _ in 0..<count { record(each) }
    }

    /// Adds every sample of `other`.
    mutating func merge(_ other: LatencyRecorder) {
        samples.reserveCapacity(samples.count + other.samples.count)
        samples.append(contentsOf: other.samples)
    }

    /// The number of samples.
    var count: Int { samples.count }

    /// The 50th and 99th percentiles in nanoseconds (nearest rank), or zeros without samples.
    func percentiles() -> (p50: UInt64, p99: UInt64) {
        guard !samples.isEmpty else { return (0, 0) }
        let sorted = samples.sorted()
        func rank(_ fraction: Double) -> UInt64 {
            let index = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
            return sorted[min(max(index, 0), sorted.count - 1)]
        }
        return (rank(0.50), rank(0.99))
    }
}
