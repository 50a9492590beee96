import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `read-with-deleter` and `read-with-compaction`: one reader thread of random gets while one
/// deleter thread deletes a share of the loaded keys (`WorkloadSizes.deleteShare`, in a seeded
/// random order, unsynced batches of `deleteBatch`); in `read-with-compaction` the deleter also
/// compacts the whole store after every `compactEvery` deletions and once at the end.
///
/// The deleter is paced: batch i starts no earlier than start + i × `deleteSeconds` ÷ batches, so
/// both workloads delete at the same rate over (at least) the same window and differ only in the
/// compactions; a deleter that falls behind (a compaction took longer than its share of the
/// window) goes on without waiting until it caught up, and stops at 3 × `deleteSeconds`.
/// The reader reads only the keys that stay (uniformly, with its own SplitMix64), so every get
/// must find its 64-byte value; it runs from the common start until the deleter is done. Both run
/// pinned as `read-with-writer`'s
/// threads (reader on `--cpu`, deleter on the next CPU). They run after every other workload of
/// the store, each after an untimed prelude: unsynced writes, the deleted keys put back (before
/// the second), settled, every staying key read once (warm caches). Systems without an in-place
/// compaction to run beside a reader (`BenchStore.deleter()` is nil: LMDB, SQLite) skip both.
extension WorkloadRunner {
    /// The loaded keys' indices the deleter deletes (in the order it deletes them) and the ones
    /// the reader reads.
    private var deletionPlan: (deleted: ArraySlice<Int32>, kept: ArraySlice<Int32>) {
        let order = dataset.shuffledIndices(seed: dataset.seed &+ 40)
        let split = Int(Double(order.count) * sizes.deleteShare)
        return (order[..<split], order[split...])
    }

    /// Deletions between two compactions.
    private var compactEvery: Int {
        sizes.compactEvery > 0 ? sizes.compactEvery : max(dataset.keys.count / 20, 1)
    }

    /// Untimed: the deleted keys put back when `restore`, unsynced writes, settled, then one get
    /// of every key the reader will read, in key order.
    func prepareDeletes(_ store: any BenchStore, restore: Bool) throws {
        let start = BenchClock.now()
        let plan = deletionPlan
        if restore {
            var batchStart = plan.deleted.startIndex
            while batchStart < plan.deleted.endIndex {
                let batchEnd = min(batchStart + sizes.putBatch, plan.deleted.endIndex)
                try store.putBatch(plan.deleted[batchStart..<batchEnd], of: dataset)
                batchStart = batchEnd
            }
        }
        // After the put-back: holt's reopen checks that the first loaded key is there.
        try store.makeUnsynced(dataset: dataset)
        try store.settle(dataset: dataset)
        var missing = 0
        try store.beginReads()
        for (position, index) in plan.kept.sorted().enumerated() {
            if position > 0 && position % sizes.readsPerTransaction == 0 {
                try store.endReads()
                try store.beginReads()
            }
            if try store.get(dataset.keys[Int(index)]) == nil { missing += 1 }
        }
        try store.endReads()
        guard missing == 0 else { throw BenchError("\(missing) loaded keys missing before the delete workloads") }
        Log.progress("[\(store.name)] delete workloads: " + (restore ? "\(plan.deleted.count) keys put back, " : "")
            + "settled, warmed (untimed) in \(Report.seconds(BenchClock.now() - start)) s")
    }

    /// The reader beside the deleter, compacting (`read-with-compaction`) or not
    /// (`read-with-deleter`); `directory` is the store's, measured before and after.
    func readWithDeleter(
        _ store: any BenchStore, _ workload: Workload, compacting: Bool, directory: String
    ) throws -> WorkloadResult {
        guard let deleter = try store.deleter() else {
            throw BenchError("\(store.name) has no compaction to run beside a reader (skipped)")
        }
        let reader = try store.reader()
        defer {
            reader.close()
            deleter.close()
        }
        let plan = deletionPlan, every = compactEvery
        let readerOutcome = WorkerOutcome(
            capacity: Int(3 * sizes.deleteSeconds * Double(sizes.maxDeleteReadsPerSecond)) + 1_000)
        let deleterOutcome = DeleterOutcome(
            batches: plan.deleted.count / sizes.deleteBatch + 1, compactions: plan.deleted.count / every + 2)
        let done = DoneFlag()
        let before = try DiskUsage.of(directory)
        let runner = self, seed = dataset.seed &+ 50

        let start = TimedThreads.run(count: 2, cpu: cpu, seconds: 3 * sizes.deleteSeconds) { thread, start, deadline in
            if thread == 0 {
                do {
                    try runner.readUntilDone(
                        reader, kept: plan.kept, seed: seed, start: start, deadline: deadline, done: done, readerOutcome)
                } catch {
                    readerOutcome.error = error
                }
            } else {
                do {
                    try runner.deleteAll(
                        deleter, plan.deleted, compactEvery: compacting ? every : nil, start: start, deadline: deadline,
                        deleterOutcome)
                } catch {
                    deleterOutcome.error = error
                }
                // `.releasing` pairs with the reader's `.relaxed` poll only for promptness: the
                // reader needs nothing the deleter wrote, the join orders everything else.
                done.value.store(true, ordering: .releasing)
            }
        }
        if let error = readerOutcome.error ?? deleterOutcome.error { throw error }
        if readerOutcome.recorder.dropped > 0 {
            throw BenchError("the reader did more reads than its latency array holds (raise maxDeleteReadsPerSecond)")
        }
        let after = try DiskUsage.of(directory)
        try checkDeleted(store, deleted: plan.deleted.prefix(deleterOutcome.deleted), kept: plan.kept)

        var measured = WorkloadResult(
            workload: workload, system: store.name, ops: readerOutcome.ops,
            nanoseconds: readerOutcome.finishedAt - start, latency: readerOutcome.recorder.summary())
        let batches = deleterOutcome.batchRecorder.summary(), compactions = deleterOutcome.compactionRecorder.summary()
        measured.extra = [
            "deleted_keys": Double(deleterOutcome.deleted),
            "deleter_seconds": BenchClock.seconds(deleterOutcome.finishedAt - start),
            "deleter_finished": deleterOutcome.deleted == plan.deleted.count ? 1 : 0,
            "delete_batch_p99_ns": Double(batches.p99),
            "delete_batch_max_ns": Double(batches.max),
            "compactions": Double(deleterOutcome.compactions),
            "compaction_p50_ns": Double(compactions.p50),
            "compaction_max_ns": Double(compactions.max),
            "disk_bytes_before": Double(before.allocatedBytes),
            "disk_bytes_after": Double(after.allocatedBytes),
            "apparent_bytes_after": Double(after.apparentBytes),
        ]
        return measured
    }

    /// Random gets of the `kept` keys until the deleter is `done` or `deadline`; each must find
    /// a 64-byte value. Renewing the read group every `readsPerTransaction` ops is charged to the next op.
    private func readUntilDone(
        _ reader: any BenchReader, kept: ArraySlice<Int32>, seed: UInt64, start: UInt64, deadline: UInt64,
        done: DoneFlag, _ outcome: WorkerOutcome
    ) throws {
        let keys = dataset.keys, kept = Array(kept)
        // `.relaxed`: a poll for promptness; the deleter's work is ordered by the join, not by this flag.
        let wrong = try timedGets(
            reader, readsPerTransaction: sizes.readsPerTransaction, seed: seed, start: start, deadline: deadline,
            pick: { keys[Int(kept[$0.below(kept.count)])] }, stop: { done.value.load(ordering: .relaxed) }, outcome)
        guard wrong == 0 else { throw BenchError("\(wrong) gets missed a staying key or found a wrong length") }
    }

    /// Deletes `deleted` in batches, paced over `deleteSeconds`, until done or `deadline`; with
    /// `compactEvery`, compacts after every that many deletions and once at the end.
    private func deleteAll(
        _ deleter: any BatchDeleter, _ deleted: ArraySlice<Int32>, compactEvery: Int?, start: UInt64, deadline: UInt64,
        _ outcome: DeleterOutcome
    ) throws {
        var keys: [[UInt8]] = []
        keys.reserveCapacity(sizes.deleteBatch)
        var position = deleted.startIndex, sinceCompaction = 0, last = start, batch = 0
        let batches = (deleted.count + sizes.deleteBatch - 1) / sizes.deleteBatch
        let interval = sizes.deleteSeconds * 1e9 / Double(max(batches, 1))
        func compact() throws {
            let before = BenchClock.now()
            try deleter.compact()
            last = BenchClock.now()
            outcome.compactionRecorder.record(last - before)
            outcome.compactions += 1
            sinceCompaction = 0
        }
        while position < deleted.endIndex && last < deadline {
            let due = start + UInt64(Double(batch) * interval)
            if last < due { usleep(UInt32((due - last) / 1_000)) }
            batch += 1
            let end = min(position + sizes.deleteBatch, deleted.endIndex)
            keys.removeAll(keepingCapacity: true)
            for index in deleted[position..<end] { keys.append(dataset.keys[Int(index)]) }
            let before = BenchClock.now()
            try deleter.deleteBatch(keys)
            last = BenchClock.now()
            outcome.batchRecorder.record(last - before)
            outcome.deleted += end - position
            sinceCompaction += end - position
            position = end
            if let compactEvery, sinceCompaction >= compactEvery, position < deleted.endIndex { try compact() }
        }
        if compactEvery != nil && last < deadline { try compact() }
        outcome.finishedAt = last
    }

    /// Untimed: 1,000 of the deleted keys (first, last, random) are absent and 1,000 random
    /// staying keys present.
    private func checkDeleted(_ store: any BenchStore, deleted: ArraySlice<Int32>, kept: ArraySlice<Int32>) throws {
        var rng = SplitMix64(seed: dataset.seed &+ 60)
        try store.beginReads()
        defer { try? store.endReads() }
        if !deleted.isEmpty {
            let sample = [deleted.first!, deleted.last!] + (0..<1_000).map { _ in deleted[deleted.startIndex + rng.below(deleted.count)] }
            for index in sample where try store.get(dataset.keys[Int(index)]) != nil {
                throw BenchError("deleted key \(String(decoding: dataset.keys[Int(index)], as: UTF8.self)) is still there")
            }
        }
        for _ in 0..<1_000 {
            let index = kept[kept.startIndex + rng.below(kept.count)]
            guard try store.get(dataset.keys[Int(index)]) == Dataset.valueLength else {
                throw BenchError("staying key \(String(decoding: dataset.keys[Int(index)], as: UTF8.self)) is missing")
            }
        }
    }
}

/// What the deleting thread measured: written by that thread only, read after the join.
private final class DeleterOutcome: @unchecked Sendable {
    // @unchecked Sendable: one thread writes it; the main thread reads it after the join.
    /// Time of each delete batch.
    var batchRecorder: LatencyRecorder
    /// Time of each compaction.
    var compactionRecorder: LatencyRecorder
    /// Keys deleted.
    var deleted = 0
    /// Compactions run.
    var compactions = 0
    /// When the deleter's last op ended (`BenchClock`).
    var finishedAt: UInt64 = 0
    /// The error that stopped the thread, if any.
    var error: (any Error)?

    /// An outcome for up to `batches` delete batches and `compactions` compactions.
    init(batches: Int, compactions: Int) {
        batchRecorder = LatencyRecorder(capacity: batches)
        compactionRecorder = LatencyRecorder(capacity: compactions)
    }
}

/// The deleter's "done", polled by the reader.
private final class DoneFlag: Sendable {
    /// True once the deleter stopped.
    let value = Atomic<Bool>(false)
}
