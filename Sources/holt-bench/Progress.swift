/// Progress lines of a long workload on stderr, at most one every `interval` seconds:
/// `[holt] put: progress 120000 of 2000000 ops after 60.0 s (1980 ops/s in the last 10.0 s)`.
/// They let a script that stops a run after a wall-clock budget say how far it got
/// (`bench/scale.sh` reads the last one). Off when `interval` is 0.
struct Progress {
    /// The label of the lines: the system and the workload.
    let label: String
    /// Ops the workload does in all.
    let total: Int
    /// Nanoseconds between two lines (0: never).
    private let interval: UInt64
    /// When the workload started.
    private let start: UInt64
    /// When the last line was written (or the start), and how many ops were done then.
    private var last: (time: UInt64, ops: Int)

    /// Progress of `total` ops of `workload` on `system`, started now; a line every `seconds`
    /// (none when 0).
    init(system: String, workload: Workload, total: Int, seconds: Double) {
        label = "[\(system)] \(workload.rawValue)"
        self.total = total
        interval = UInt64(max(seconds, 0) * 1e9)
        start = BenchClock.now()
        last = (start, 0)
    }

    /// Notes that `ops` ops are done at `now`; writes a line when `interval` has passed since the
    /// last, ending with `details()` (the store's own counters) when it is not empty.
    @inline(__always)
    mutating func update(ops: Int, now: UInt64, details: () -> String = { "" }) {
        guard interval > 0, now &- last.time >= interval else { return }
        let window = BenchClock.seconds(now &- last.time)
        let more = details()
        Log.progress("\(label): progress \(ops) of \(total) ops after "
            + "\(Report.seconds(now &- start)) s (\(Report.rate(Double(ops - last.ops) / window)) ops/s in the last "
            + "\(String(format: "%.1f", window)) s)" + (more.isEmpty ? "" : "; " + more))
        last = (now, ops)
    }
}
