import Synchronization

/// What the change feed needs from the log: how far records may be read back (the *horizon*),
/// a wait for it to move, how far back the files still reach (`heldAfter`), and the byte count
/// that leaves out segments kept only for feed consumers.
///
/// The horizon is the last LSN a feed may deliver: under `.always` and `.periodic` the durable
/// LSN (a batch a crash can still take back is never delivered, so a consumer never sees an LSN
/// that a reopen hands to another batch); under `.none` (benchmarks) the last appended, written
/// out (not synced) when a reader asks for it.
extension WriteAheadLog {
    /// Recomputes `bytesSinceTrim` (and `retainedBytes`): segments whose records all lie at or
    /// below `trimmedThrough` are kept only for feed consumers; they do not count, or a retained
    /// log would make every batch ask for a checkpoint and slow the writers. Call holding
    /// `monitor` with `io` stable (the I/O token free, or held by the caller).
    func updateBytesSinceTrim() {
        var retained = 0
        var live = io.recordBytes
        for segment in io.older {
            if segment.lastLSN <= state.trimmedThrough { retained += segment.recordBytes } else { live += segment.recordBytes }
        }
        state.retainedBytes = retained
        state.bytesSinceTrim = live + state.pending.count
        bytesSinceTrimNow.store(state.bytesSinceTrim, ordering: .relaxed)
    }

    /// Every record after this LSN is still in the log (see `State.heldAfter`).
    var heldAfter: UInt64 { monitor.withLock { state.heldAfter } }

    /// Record bytes of the segments kept only for change-feed consumers.
    var retainedBytes: Int { monitor.withLock { state.retainedBytes } }

    /// The feed's horizon now (see the extension's summary), without writing anything.
    var feedHorizon: UInt64 {
        monitor.withLock { syncMode == .none ? state.nextLSN - 1 : state.durableLSN }
    }

    /// Waits until the feed's horizon passes `position` or the monotonic clock passes `deadline`
    /// (nanoseconds; `nil`: no limit), and returns the horizon. Every record up to the returned
    /// LSN is in the segment files, readable with `pread`. Under `.none` it writes the buffered
    /// records out (no sync) first.
    /// - Throws: `.closed` once the log is closed (and nothing more can arrive), or when
    ///   `abandoned()` (checked under the log's monitor; see `wakeChangeWaiters`); `.io` or
    ///   `.previousIOFailure` from a write it led under `.none`.
    func waitForChanges(
        after position: UInt64, until deadline: UInt64?, abandoned: () -> Bool = { false }
    ) throws(HoltError) -> UInt64 {
        monitor.lock()
        defer { monitor.unlock() }
        while true {
            guard !abandoned() else { throw .closed }
            let horizon = syncMode == .none ? state.nextLSN - 1 : state.durableLSN
            if horizon > position {
                guard state.writtenLSN < horizon else { return horizon }
                guard !state.closed else { throw .closed }
                guard !state.failed else { throw .previousIOFailure }
                if state.ioBusy { monitor.wait(); continue }
                try writeBuffered(sync: false)
                continue
            }
            guard !state.closed else { throw .closed }
            if let deadline, Monitor.monotonicNanoseconds() >= deadline { return horizon }
            // Counted, so that an append under `.none` broadcasts only when someone waits here.
            state.changeWaiters += 1
            if let deadline { monitor.wait(until: deadline) } else { monitor.wait() }
            state.changeWaiters -= 1
        }
    }
}

extension WriteAheadLog {
    /// Wakes the threads in `waitForChanges`, so that one whose feed was closed (`abandoned`)
    /// stops waiting.
    func wakeChangeWaiters() {
        monitor.lock()
        monitor.broadcast()
        monitor.unlock()
    }
}

/// Wakes tasks waiting for the change feed's horizon to move (`ChangeFeed`'s async iterator).
///
/// A waiter reads `generation`, looks for new batches, and only then waits with
/// `wait(unlessChangedFrom:)`: a `notify()` in between moved the generation and the wait
/// returns at once, so no wake-up is lost.
///
/// `notify()` takes no lock when nobody waits (every log append under `.none` calls it): it
/// moves the generation, then looks at the count of registered waiters; a waiter counts itself
/// before it compares the generation (both sequentially consistent), so either the waiter sees
/// the new generation or `notify` sees the waiter.
final class ChangeNotifier: Sendable {
    /// What waits. Guarded by `state`'s own lock (a leaf: nothing else is taken under it).
    private struct State {
        var waiters: [UnsafeContinuation<Void, Never>] = []
        var closed = false
    }

    private let state = Locked(State())
    /// Moves every time the horizon may have moved.
    private let generationCounter = Atomic<UInt64>(0)
    /// Waiters registered in `state.waiters`, or about to compare the generation. Changed under
    /// `state`'s lock, read without it by `notify`.
    private let waiting = Atomic<Int>(0)

    /// Moves every time the horizon may have moved.
    var generation: UInt64 { generationCounter.load(ordering: .sequentiallyConsistent) }

    /// The horizon may have moved: wakes every waiter.
    func notify() {
        generationCounter.wrappingAdd(1, ordering: .sequentiallyConsistent)
        guard waiting.load(ordering: .sequentiallyConsistent) > 0 else { return }
        let waiters = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else { return [] }
            defer { state.waiters = [] }
            waiting.subtract(state.waiters.count, ordering: .sequentiallyConsistent)
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The log closed: wakes every waiter, and later waits return at once.
    func close() {
        state.withLock { $0.closed = true }
        notify()
    }

    /// Returns at the next `notify()`, or at once when one came since `generation` was read.
    func wait(unlessChangedFrom generation: UInt64) async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                waiting.add(1, ordering: .sequentiallyConsistent)
                guard generationCounter.load(ordering: .sequentiallyConsistent) == generation, !state.closed else {
                    waiting.subtract(1, ordering: .sequentiallyConsistent)
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
