/// What one thread of a multi-threaded workload measured: written by that thread only, read by
/// the main thread after it joined.
final class WorkerOutcome: @unchecked Sendable {
    // @unchecked Sendable: one thread writes it; the main thread reads it after `join`.
    /// The thread's latencies (per op, or per batch for the fixed-time writers).
    var recorder: LatencyRecorder
    /// Ops (reads, or keys written) the thread completed.
    var ops = 0
    /// When the thread's last op ended (`BenchClock`).
    var finishedAt: UInt64 = 0
    /// The error that stopped the thread, if any.
    var error: (any Error)?

    /// An outcome whose recorder holds up to `capacity` samples.
    init(capacity: Int) {
        recorder = LatencyRecorder(capacity: capacity)
    }
}
