import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Threads of a fixed-time workload: all start at the same instant and run until one deadline.
///
/// Thread `k` pins itself to CPU `(cpu + k) % nproc` (with two CPUs and `--cpu 0`: thread 0 on
/// CPU 0, thread 1 on CPU 1), or runs wherever the process may when `cpu` is nil. Each thread
/// checks in, the caller then reads the clock once: that instant is everyone's start.
enum TimedThreads {
    /// Runs `body(k, start, deadline)` on `count` new threads (k = 0..<count) and waits for all of
    /// them; `deadline` is `start` + `seconds`. Returns `start`.
    static func run(
        count: Int, cpu: Int?, seconds: Double,
        _ body: @escaping @Sendable (_ thread: Int, _ start: UInt64, _ deadline: UInt64) -> Void
    ) -> UInt64 {
        let gate = StartGate()
        let duration = UInt64(seconds * 1e9)
        let cpus = max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1)
        let threads = (0..<count).map { thread in
            BenchThread {
                if let cpu, !CPUAffinity.pin(toCPU: (cpu + thread) % cpus) {
                    Log.progress("warning: thread \(thread) could not be pinned to CPU \((cpu + thread) % cpus)")
                }
                gate.ready.add(1, ordering: .releasing)
                var start: UInt64 = 0
                while true {
                    start = gate.start.load(ordering: .acquiring)
                    if start != 0 { break }
                    sched_yield()
                }
                body(thread, start, start + duration)
            }
        }
        while gate.ready.load(ordering: .acquiring) < count { sched_yield() }
        let start = BenchClock.now()
        gate.start.store(start, ordering: .releasing)
        threads.forEach { $0.join() }
        return start
    }
}

/// How the threads of `TimedThreads.run` meet before they start.
private final class StartGate: Sendable {
    /// Threads that are pinned and waiting.
    let ready = Atomic<Int>(0)
    /// The common start (`BenchClock`), 0 until the caller sets it.
    let start = Atomic<UInt64>(0)
}
