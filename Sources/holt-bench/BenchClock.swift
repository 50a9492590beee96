#if canImport(Glibc)
import Glibc
#endif

/// The monotonic clock the benchmarks time with, in nanoseconds.
enum BenchClock {
    /// Nanoseconds since an arbitrary fixed point (CLOCK_MONOTONIC); one vDSO call, no allocation.
    @inline(__always)
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// `nanoseconds` as seconds.
    static func seconds(_ nanoseconds: UInt64) -> Double {
        Double(nanoseconds) / 1e9
    }
}
