#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The FUSE requests a mount counts, by the names libfuse's low-level API gives them
/// (`batch_forget` is libfuse's `forget_multi`, the kernel's BATCH_FORGET). The raw value is the
/// operation's row in `RequestStatistics` (`allCases` order).
public enum FuseOperation: Int, CaseIterable, Sendable {
    case lookup, forget, batch_forget, getattr, setattr, readlink, mknod, mkdir, symlink, unlink, rmdir, rename, link
    case open, create, read, write, release, fsync, opendir, readdir, readdirplus, releasedir, fsyncdir, statfs
    case setxattr, getxattr, listxattr, removexattr, access

    /// The name shown by `holtfs stats` and in the metrics' `op` label (the case's name).
    public var name: String { Self.names[rawValue] }

    private static let names = allCases.map { String(describing: $0) }
}

/// A fixed log-scale histogram of durations in nanoseconds: bucket 0 holds everything below
/// 1,024 ns; from there every power of two is cut into four buckets (each at most a quarter of its
/// lower bound wide, so a percentile read from it is at most 25% high); the last bucket holds
/// 2^36 ns (68.7 s) and more. The layout is fixed, so recording is one index computation and one
/// atomic add, and snapshots of the same layout add up.
public enum LatencyBuckets {
    /// The smallest power of two with buckets of its own: 2^10 ns.
    static let firstExponent = 10
    /// The power of two where the last, open bucket starts: 2^36 ns.
    static let lastExponent = 36
    /// Buckets per power of two (a power of two itself).
    static let perOctave = 4
    /// log2(perOctave).
    static let perOctaveBits = 2
    /// How many buckets there are.
    public static let count = 1 + (lastExponent - firstExponent) * perOctave + 1

    /// The bucket of `nanoseconds`.
    @inline(__always)
    public static func index(of nanoseconds: UInt64) -> Int {
        if nanoseconds < 1 << firstExponent { return 0 }
        let exponent = 63 - nanoseconds.leadingZeroBitCount
        if exponent >= lastExponent { return count - 1 }
        let sub = Int(truncatingIfNeeded: nanoseconds >> UInt64(exponent - perOctaveBits)) & (perOctave - 1)
        return 1 + (exponent - firstExponent) * perOctave + sub
    }

    /// The smallest value of bucket `index`.
    public static func lowerBound(of index: Int) -> UInt64 {
        if index <= 0 { return 0 }
        if index >= count - 1 { return 1 << UInt64(lastExponent) }
        let exponent = firstExponent + (index - 1) / perOctave
        let sub = UInt64((index - 1) % perOctave)
        return (UInt64(perOctave) + sub) << UInt64(exponent - perOctaveBits)
    }

    /// The smallest value above bucket `index` (for the last, open bucket: its lower bound).
    public static func upperBound(of index: Int) -> UInt64 {
        if index >= count - 1 { return lowerBound(of: count - 1) }
        return lowerBound(of: index + 1)
    }

    /// The value at quantile `q` (0...1) of the samples counted in `buckets`: the upper bound of
    /// the bucket holding the sample of rank ⌈q·n⌉ (so at least a fraction `q` of the samples
    /// were at most this long); 0 when there are no samples.
    public static func quantile(_ q: Double, of buckets: [UInt64]) -> UInt64 {
        let total = buckets.reduce(0, &+)
        guard total > 0 else { return 0 }
        let rank = max(1, UInt64((min(max(q, 0), 1) * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in buckets.enumerated() {
            seen += count
            if seen >= rank { return upperBound(of: index) }
        }
        return upperBound(of: buckets.count - 1)
    }
}

/// The counters of one operation at one moment.
public struct OperationStatistics: Sendable, Equatable {
    /// The operation.
    public var operation: FuseOperation
    /// Requests answered (with data or with an error).
    public var count: UInt64
    /// Requests answered with an error (a negative lookup is not one).
    public var errors: UInt64
    /// The time spent answering them, summed (from the callback's start to its reply).
    public var totalNanoseconds: UInt64
    /// How many took how long, in the layout of `LatencyBuckets`.
    public var buckets: [UInt64]

    /// The duration at quantile `q` (0.5 for the median), from the buckets (see `LatencyBuckets.quantile`).
    public func quantileNanoseconds(_ q: Double) -> UInt64 { LatencyBuckets.quantile(q, of: buckets) }

    /// The mean duration, 0 without requests.
    public var meanNanoseconds: UInt64 { count == 0 ? 0 : totalNanoseconds / count }
}

/// Counts every FUSE request of a mount and how long it took, per operation, for `holtfs stats`
/// and the metrics.
///
/// The hot path (`record`) is two monotonic clock reads (vDSO, no system call) around the
/// request, a bucket index, and two or three relaxed atomic adds to counters that no lock guards;
/// no allocation. A reader (`snapshot`) sums what it sees; it never stops the writers, so a
/// snapshot taken during requests may be a few requests apart between its fields.
/// When a swift-metrics backend is bootstrapped, `metrics` also gets every request.
public final class RequestStatistics: @unchecked Sendable {
    // @unchecked Sendable: `counters` is allocated in init, freed in deinit and only ever used
    // through atomic operations in between.

    /// Per operation: `LatencyBuckets.count` bucket counters, then the nanoseconds sum, then errors.
    private static let stride = LatencyBuckets.count + 2
    private let counters: UnsafeMutablePointer<Atomic<UInt64>>
    private let counterCount: Int
    /// Where requests also go when a metrics backend exists (`nil`: none, nothing is sent).
    let metrics: RequestMetrics?

    /// Empty counters; `metrics` also receives every request.
    init(metrics: RequestMetrics? = nil) {
        counterCount = FuseOperation.allCases.count * Self.stride
        counters = .allocate(capacity: counterCount)
        for i in 0..<counterCount { (counters + i).initialize(to: Atomic(0)) }
        self.metrics = metrics
    }

    /// Empty counters that report to no metrics backend (tests, and what `HoltMount` uses
    /// without one).
    public convenience init() {
        self.init(metrics: nil)
    }

    deinit {
        counters.deinitialize(count: counterCount)
        counters.deallocate()
    }

    /// Now, in nanoseconds of the monotonic clock.
    @inline(__always)
    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Counts one request of `operation` that started at `started` (`now()`) and was answered now.
    @inline(__always)
    public func record(_ operation: FuseOperation, since started: UInt64, failed: Bool = false) {
        let now = Self.now()
        record(operation, nanoseconds: now >= started ? now - started : 0, failed: failed)
    }

    /// Counts one request of `operation` that took `nanoseconds`.
    public func record(_ operation: FuseOperation, nanoseconds: UInt64, failed: Bool = false) {
        let base = operation.rawValue * Self.stride
        counters[base + LatencyBuckets.index(of: nanoseconds)].wrappingAdd(1, ordering: .relaxed)
        counters[base + LatencyBuckets.count].wrappingAdd(nanoseconds, ordering: .relaxed)
        if failed { counters[base + LatencyBuckets.count + 1].wrappingAdd(1, ordering: .relaxed) }
        metrics?.record(operation, nanoseconds: nanoseconds, failed: failed)
    }

    /// The counters of `operation` now.
    public func snapshot(of operation: FuseOperation) -> OperationStatistics {
        let base = operation.rawValue * Self.stride
        var buckets = [UInt64](repeating: 0, count: LatencyBuckets.count)
        for i in 0..<LatencyBuckets.count { buckets[i] = counters[base + i].load(ordering: .relaxed) }
        return OperationStatistics(
            operation: operation, count: buckets.reduce(0, &+),
            errors: counters[base + LatencyBuckets.count + 1].load(ordering: .relaxed),
            totalNanoseconds: counters[base + LatencyBuckets.count].load(ordering: .relaxed),
            buckets: buckets)
    }

    /// The counters of every operation now, in `FuseOperation.allCases` order.
    public func snapshot() -> [OperationStatistics] {
        FuseOperation.allCases.map { snapshot(of: $0) }
    }
}

/// Times one request: created before the reply (the request is gone after it), finished once
/// after.
struct RequestTiming {
    /// Unowned: the bridge holds the statistics for the whole session, and a strong reference
    /// would add a retain and a release of one shared object to every request.
    unowned(unsafe) let statistics: RequestStatistics
    let operation: FuseOperation
    let started: UInt64

    init(_ statistics: RequestStatistics, _ operation: FuseOperation) {
        self.statistics = statistics
        self.operation = operation
        started = RequestStatistics.now()
    }

    func finish(failed: Bool = false) {
        statistics.record(operation, since: started, failed: failed)
    }
}
