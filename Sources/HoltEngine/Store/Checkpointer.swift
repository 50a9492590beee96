import CURing
/// The background checkpointer: one thread that runs the tree's checkpoints when a writer asks
/// for one, so that no foreground call ever writes a checkpoint.
///
/// A writer that finds a checkpoint wanted calls `request()` and goes on; the thread wakes and
/// runs `round` (the tree's "checkpoint if still wanted", which takes the tree's writer lock
/// but not its reader lock: reads go on while blobs are written). A writer that finds the log or
/// the dirty blobs past the hard bound calls `waitForRound()` first, which is how writers that
/// outrun the checkpointer are held back. Without requests, a round also runs every `interval`
/// (the tree then checkpoints what is left dirty and gives free space back: a database that went
/// quiet after deleting much shrinks on disk without anyone asking).
///
/// Locking: `monitor` guards `requested`, `running`, `rounds` and `stopping`; `round` runs with
/// it released. `@unchecked Sendable`: those fields are only touched under `monitor`.
final class Checkpointer: @unchecked Sendable {
    private let monitor = Monitor()
    /// Guarded by `monitor`: a round was asked for and has not started yet.
    private var requested = false
    /// Guarded by `monitor`: a round is under way.
    private var running = false
    /// Guarded by `monitor`: rounds finished since start.
    private var rounds: UInt64 = 0
    /// Guarded by `monitor`: `stop()` was called.
    private var stopping = false
    /// Set once by `start`, joined by `stop`.
    private var thread: PlainThread?

    /// The thread's nice value (Linux: per thread).
    static let niceness: Int32 = 10

    /// A checkpointer that has not started; `round` is what one round does.
    init() {}

    /// Starts the thread, which runs `round` once per request, and once per `interval`
    /// nanoseconds without one (`round(true)`: a periodic round), until `stop()`.
    func start(interval: UInt64, _ round: @escaping @Sendable (_ periodic: Bool) -> Void) {
        precondition(thread == nil, "checkpointer started twice")
        thread = PlainThread { [self] in run(interval: interval, round) }
    }

    /// Asks for a round soon; returns at once.
    func request() {
        monitor.withLock {
            guard !requested else { return }
            requested = true
            monitor.broadcast()
        }
    }

    /// Waits until a round that starts after this call has finished (at once when stopped).
    func waitForRound() {
        monitor.withLock {
            guard !stopping else { return }
            // A round under way may have begun before what the caller wants covered: wait for the next.
            let target = rounds + (running ? 2 : 1)
            if !requested {
                requested = true
                monitor.broadcast()
            }
            while rounds < target, !stopping { monitor.wait() }
        }
    }

    /// Waits until no round is asked for or under way (tests, `Tree.statistics` readers that
    /// want a settled count).
    func waitUntilIdle() {
        monitor.withLock {
            while (requested || running), !stopping { monitor.wait() }
        }
    }

    /// Stops the thread after the round under way (a requested one is dropped) and joins it.
    func stop() {
        monitor.withLock {
            stopping = true
            monitor.broadcast()
        }
        thread?.join()
        thread = nil
    }

    /// The thread's loop.
    private func run(interval: UInt64, _ round: (_ periodic: Bool) -> Void) {
        // Below the callers' threads: on a machine with few cores a checkpoint (copying and
        // sealing blobs) competes with readers for a core, and readers must not wait for it. A
        // checkpoint that falls behind holds writers back (`waitForRound`), not readers.
        _ = holt_set_thread_nice(Self.niceness)  // best effort
        while true {
            let go = monitor.withLock { () -> Bool? in
                let deadline = Monitor.monotonicNanoseconds() &+ interval
                while !requested, !stopping, Monitor.monotonicNanoseconds() < deadline { monitor.wait(until: deadline) }
                if stopping { return nil }
                let asked = requested
                requested = false
                running = true
                return !asked
            }
            guard let periodic = go else { return }
            round(periodic)
            monitor.withLock {
                running = false
                rounds += 1
                monitor.broadcast()
            }
        }
    }
}
