import CURing
/// The background evictor: one thread that writes dirty frames out ahead of need, so that a
/// read or a write that misses the cache finds a clean frame to take instead of writing dirty
/// ones out first (`BufferManager.cleanAhead`).
///
/// The buffer manager asks for a round (`request()`) when a miss met dirty frames at the CLOCK
/// hand; the thread then writes out, in each shard whose clean frames run short, the dirty frames
/// CLOCK would take next. It sleeps otherwise: a database that fits its cache never wakes it.
/// A miss that still finds no clean frame writes dirty ones out itself (the fallback that
/// guarantees progress when the evictor falls behind).
///
/// Locking: `monitor` guards `requested` and `stopping`; `round` runs with it released.
/// `@unchecked Sendable`: those fields are only touched under `monitor`.
final class Evictor: @unchecked Sendable {
    private let monitor = Monitor()
    /// Guarded by `monitor`: a round was asked for and has not started yet.
    private var requested = false
    /// Guarded by `monitor`: `stop()` was called.
    private var stopping = false
    /// Set once by `start`, joined by `stop`.
    private var thread: PlainThread?

    /// An evictor that has not started.
    init() {}

    /// Starts the thread, which runs `round` once per request until `stop()`.
    func start(_ round: @escaping @Sendable () -> Void) {
        precondition(thread == nil, "evictor started twice")
        thread = PlainThread { [self] in run(round) }
    }

    /// Asks for a round soon; returns at once (callers may hold a shard's monitor: this takes
    /// only the evictor's own, which is never held around anything else).
    func request() {
        monitor.withLock {
            guard !requested else { return }
            requested = true
            monitor.broadcast()
        }
    }

    /// Stops the thread after the round under way and joins it.
    func stop() {
        monitor.withLock {
            stopping = true
            monitor.broadcast()
        }
        thread?.join()
        thread = nil
    }

    /// The thread's loop.
    private func run(_ round: () -> Void) {
        // Below the callers' threads, as the checkpointer (and the io_uring workers it spawns
        // inherit it): readers must not be preempted by background write-outs.
        _ = holt_set_thread_nice(Checkpointer.niceness)  // best effort
        while true {
            let go = monitor.withLock { () -> Bool in
                while !requested, !stopping { monitor.wait() }
                requested = false
                return !stopping
            }
            guard go else { return }
            round()
        }
    }
}
