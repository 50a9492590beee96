/// Keeps batches applied in parallel (`Tree`'s concurrent batches of puts) apart from everything
/// that needs the tree to itself or a still tree: the writer lock's holders (any other batch, a
/// checkpoint's capture, a flush of the write buffer, space work) and readers under the tree's
/// shared lock (`forEach`, long scans, statistics, snapshots).
///
/// Two kinds of holder, each compatible with its own kind: *parallel* batches, and *others*.
/// An other waits until no parallel batch is in flight and, while it waits or holds, no
/// parallel batch starts. A parallel batch waits for the others holding or waiting, but at most
/// a few times as long as others have lately held the gate (`parallelWait`, 2 to 50 ms): then
/// `enterParallel` says no and the batch is applied as any other (serially), so a stream of
/// others (readers under the lock) never starves it. (A fixed 2 ms made writers on a slow
/// machine, under ThreadSanitizer, fall back for good: each fallback is an other that takes
/// longer than 2 ms, so the next parallel batch gave up too.) An other never
/// waits for a parallel batch that has not started, so others may nest (a writer-lock holder
/// that also reads under the shared lock).
///
/// Locking: every count is guarded by `monitor`.
final class WriterGate: @unchecked Sendable {
    // @unchecked Sendable: every stored var is touched only under `monitor`.
    private let monitor = Monitor()
    /// Parallel batches in flight.
    private var parallel = 0
    /// Others holding the gate.
    private var others = 0
    /// Others waiting for the parallel batches in flight.
    private var othersWaiting = 0
    /// Parallel batches waiting for the others.
    private var parallelWaiting = 0
    /// Parallel batches entered since the tree opened, and of those, the ones that entered while
    /// another was in flight (`Stats.parallelBatches`, `parallelBatchesBesideAnother`).
    private var entered = 0, enteredBesideAnother = 0

    /// `entered` and `enteredBesideAnother`.
    var counts: (entered: Int, besideAnother: Int) { monitor.withLock { (entered, enteredBesideAnother) } }

    /// How long a parallel batch waits for the others before it is applied serially, in
    /// nanoseconds: four times the others' recent hold (`recentHold`), within 2 to 50 ms.
    /// Read holding `monitor`.
    private var parallelWait: UInt64 { min(max(4 * recentHold, 2_000_000), 50_000_000) }
    /// How long others held the gate, lately: a moving average (1/8 weight to each new hold), in
    /// nanoseconds.
    private var recentHold: UInt64 = 0

    /// Enters as a parallel batch once no other holds or waits, or says no after `parallelWait`
    /// nanoseconds: apply the batch serially then.
    func enterParallel() -> Bool {
        monitor.withLock {
            if others > 0 || othersWaiting > 0 {
                let deadline = Monitor.monotonicNanoseconds() + parallelWait
                parallelWaiting += 1
                defer { parallelWaiting -= 1 }
                while others > 0 || othersWaiting > 0 {
                    if Monitor.monotonicNanoseconds() >= deadline { return false }
                    monitor.wait(until: deadline)
                }
            }
            entered += 1
            if parallel > 0 { enteredBesideAnother += 1 }
            parallel += 1
            return true
        }
    }

    /// Leaves after `enterParallel` returned true.
    func leaveParallel() {
        monitor.withLock {
            assert(parallel > 0, "leaving a gate not entered")
            parallel -= 1
            if parallel == 0 && othersWaiting > 0 { monitor.broadcast() }
        }
    }

    /// Runs `body` as an other: once no parallel batch is in flight, and none starts meanwhile.
    @inline(__always)
    func asOther<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        enterOther()
        let entered = Monitor.monotonicNanoseconds()
        defer { leaveOther(held: Monitor.monotonicNanoseconds() &- entered) }
        return try body()
    }

    private func enterOther() {
        monitor.withLock {
            if parallel > 0 {
                othersWaiting += 1
                while parallel > 0 { monitor.wait() }
                othersWaiting -= 1
            }
            others += 1
        }
    }

    private func leaveOther(held: UInt64) {
        monitor.withLock {
            assert(others > 0, "leaving a gate not entered")
            recentHold = recentHold - recentHold / 8 + held / 8
            others -= 1
            if others == 0 && othersWaiting == 0 && parallelWaiting > 0 { monitor.broadcast() }
        }
    }
}
