/// The fixed-time workloads: threads that read and write the same store at once for
/// `sizes.timedSeconds` (`--rw-seconds`), each thread with its own reader or writer from the
/// store, pinned as `TimedThreads` says.
///
/// `get-2-threads` runs right after `get` (it only reads). `read-alone`, `read-with-writer`,
/// `put-1-thread` and `put-2-threads` run last, in that order, after `prepareReadWrite`: they
/// insert new keys (each workload in a directory of its own, `Dataset.writerDirectory`) for a
/// fixed time, so the store they leave differs between systems, and no other workload runs on it.
extension WorkloadRunner {
    /// What one thread of a fixed-time workload does.
    private enum Role: Sendable {
        /// Random gets of loaded keys, drawn with `seed`.
        case reader(any BenchReader, seed: UInt64)
        /// Batches of new keys below `directory`, as writer number `writer` (its own `wN/`).
        case writer(any BatchWriter, directory: [UInt8], writer: Int)
    }

    /// Untimed, before `read-alone` and the workloads after it: back to unsynced writes when
    /// `durable-put` ran, settled again when anything was written since the load, then one get
    /// of every loaded key, in key order, so the caches are as warm as after `get`.
    func prepareReadWrite(_ store: any BenchStore, durablePutRan: Bool, wroteSinceSettle: Bool) throws {
        let start = BenchClock.now()
        if durablePutRan { try store.makeUnsynced(dataset: dataset) }
        if wroteSinceSettle || durablePutRan { try store.settle(dataset: dataset) }
        var missing = 0
        try store.beginReads()
        for (position, key) in dataset.keys.enumerated() {
            if position > 0 && position % sizes.readsPerTransaction == 0 {
                try store.endReads()
                try store.beginReads()
            }
            if try store.get(key) == nil { missing += 1 }
        }
        try store.endReads()
        guard missing == 0 else { throw BenchError("\(missing) loaded keys missing before the read/write workloads") }
        Log.progress("[\(store.name)] read/write workloads: "
            + (durablePutRan ? "unsynced again, " : "") + (wroteSinceSettle || durablePutRan ? "settled, " : "")
            + "warmed (untimed) in \(Report.seconds(BenchClock.now() - start)) s")
    }

    /// Two reader threads of random gets; total throughput, latencies of both merged.
    func getTwoThreads(_ store: any BenchStore) throws -> WorkloadResult {
        let readers = try (0..<2).map { _ in try store.reader() }
        defer { readers.forEach { $0.close() } }
        let roles = readers.enumerated().map { Role.reader($1, seed: dataset.seed &+ 10 &+ UInt64($0)) }
        let (start, outcomes) = try runTimed(roles)
        return try result(.getTwoThreads, store, start: start, outcomes)
    }

    /// One reader thread of random gets: the baseline of `read-with-writer`.
    func readAlone(_ store: any BenchStore) throws -> WorkloadResult {
        let reader = try store.reader()
        defer { reader.close() }
        let (start, outcomes) = try runTimed([.reader(reader, seed: dataset.seed &+ 20)])
        return try result(.readAlone, store, start: start, outcomes)
    }

    /// The `read-alone` reader (same seed) while one writer inserts batches of new keys; the
    /// reader's figures are the result, the writer's go in `extra`.
    func readWithWriter(_ store: any BenchStore) throws -> WorkloadResult {
        let reader = try store.reader(), writer = try store.batchWriter()
        defer {
            reader.close()
            writer.close()
        }
        let directory = dataset.writerDirectory(.readWithWriter)
        let countersBefore = try store.concurrencyCounters()
        let (start, outcomes) = try runTimed([
            .reader(reader, seed: dataset.seed &+ 20), .writer(writer, directory: directory, writer: 0),
        ])
        try checkWritten(store, directory: directory, keysPerWriter: [outcomes[1].ops])
        var measured = try result(.readWithWriter, store, start: start, [outcomes[0]])
        let written = outcomes[1], batches = written.recorder.summary()
        measured.extra = [
            "writer_keys": Double(written.ops),
            "writer_keys_per_sec": Double(written.ops) / BenchClock.seconds(written.finishedAt - start),
            "writer_batch_p99_ns": Double(batches.p99),
            "writer_batch_max_ns": Double(batches.max),
        ]
        for (name, after) in try store.concurrencyCounters() { measured.extra[name] = after - (countersBefore[name] ?? 0) }
        return measured
    }

    /// `threads` writer threads inserting batches of new keys in directories of their own; total
    /// keys per second, latencies per key (each batch's time ÷ its keys, as `put`).
    func putThreads(_ store: any BenchStore, _ workload: Workload, threads: Int) throws -> WorkloadResult {
        let writers = try (0..<threads).map { _ in try store.batchWriter() }
        defer { writers.forEach { $0.close() } }
        let directory = dataset.writerDirectory(workload)
        let roles = writers.enumerated().map { Role.writer($1, directory: directory, writer: $0) }
        let (start, outcomes) = try runTimed(roles)
        try checkWritten(store, directory: directory, keysPerWriter: outcomes.map(\.ops))
        return try result(workload, store, start: start, outcomes, latencyDivisor: UInt64(sizes.writerBatch))
    }

    // MARK: Threads

    /// Runs one thread per role for `sizes.timedSeconds`; returns the common start and each
    /// thread's outcome (in the order of `roles`), or the first thread's error.
    private func runTimed(_ roles: [Role]) throws -> (start: UInt64, outcomes: [WorkerOutcome]) {
        let seconds = sizes.timedSeconds
        let outcomes = roles.map { role -> WorkerOutcome in
            switch role {
            case .reader: WorkerOutcome(capacity: Int(seconds * Double(sizes.maxReadsPerSecond)) + 1_000)
            case .writer: WorkerOutcome(capacity: Int(seconds * Double(sizes.maxBatchesPerSecond)) + 1_000)
            }
        }
        let tasks = zip(roles, outcomes).map { role, outcome in ThreadTask(role: role, outcome: outcome) }
        let runner = self
        let start = TimedThreads.run(count: tasks.count, cpu: cpu, seconds: seconds) { thread, start, deadline in
            let task = tasks[thread]
            do {
                switch task.role {
                case .reader(let reader, let seed):
                    try runner.readLoop(reader, seed: seed, start: start, deadline: deadline, task.outcome)
                case .writer(let writer, let directory, let index):
                    try runner.writeLoop(writer, directory: directory, writer: index, start: start, deadline: deadline, task.outcome)
                }
            } catch {
                task.outcome.error = error
            }
        }
        if let error = outcomes.lazy.compactMap(\.error).first { throw error }
        if outcomes.contains(where: { $0.recorder.dropped > 0 }) {
            throw BenchError("a thread did more ops than its latency array holds (raise WorkloadSizes.maxReadsPerSecond)")
        }
        return (start, outcomes)
    }

    /// One thread's role and outcome, handed to it.
    private struct ThreadTask: Sendable {
        /// What the thread does.
        let role: Role
        /// Where it leaves what it measured.
        let outcome: WorkerOutcome
    }

    /// Random gets of loaded keys until `deadline`, one clock read per op (renewing the read group
    /// every `readsPerTransaction` ops is charged to the next op); each must find a 64-byte value.
    private func readLoop(
        _ reader: any BenchReader, seed: UInt64, start: UInt64, deadline: UInt64, _ outcome: WorkerOutcome
    ) throws {
        let keys = dataset.keys
        let wrong = try timedGets(
            reader, readsPerTransaction: sizes.readsPerTransaction, seed: seed, start: start, deadline: deadline,
            pick: { keys[$0.below(keys.count)] }, outcome)
        guard wrong == 0 else { throw BenchError("\(wrong) gets missed a loaded key or found a wrong length") }
    }

    /// Batches of `writerBatch` new keys (`Dataset.writerKey`) until `deadline`, each batch timed.
    private func writeLoop(
        _ writer: any BatchWriter, directory: [UInt8], writer number: Int, start: UInt64, deadline: UInt64,
        _ outcome: WorkerOutcome
    ) throws {
        let batch = sizes.writerBatch, value = Dataset.value(index: number)
        var recorder = outcome.recorder
        outcome.recorder = LatencyRecorder(capacity: 0)
        var keys: [[UInt8]] = []
        keys.reserveCapacity(batch)
        var written = 0, last = start
        while last < deadline {
            guard written + batch <= 10_000_000 else { throw BenchError("a writer reached 10,000,000 keys") }
            keys.removeAll(keepingCapacity: true)
            for index in written..<(written + batch) {
                keys.append(Dataset.writerKey(in: directory, writer: number, index: index))
            }
            let before = BenchClock.now()
            try writer.putBatch(keys, value: value)
            last = BenchClock.now()
            recorder.record(last - before)
            written += batch
        }
        outcome.recorder = recorder
        outcome.ops = written
        outcome.finishedAt = last
    }

    // MARK: Checks and results

    /// Untimed: for each writer, its first and last key, 1,000 random ones in between, and the
    /// one after its last (never written: absent) read back through the store.
    private func checkWritten(_ store: any BenchStore, directory: [UInt8], keysPerWriter: [Int]) throws {
        var rng = SplitMix64(seed: dataset.seed &+ 30)
        try store.beginReads()
        defer { try? store.endReads() }
        for (writer, count) in keysPerWriter.enumerated() {
            guard count > 0 else { throw BenchError("writer \(writer) wrote nothing") }
            let sample = [0, count - 1] + (0..<1_000).map { _ in rng.below(count) }
            for index in sample {
                let key = Dataset.writerKey(in: directory, writer: writer, index: index)
                guard try store.get(key) == Dataset.valueLength else {
                    throw BenchError("written key \(String(decoding: key, as: UTF8.self)) is missing")
                }
            }
            if try store.get(Dataset.writerKey(in: directory, writer: writer, index: count)) != nil {
                throw BenchError("writer \(writer) has a key past the \(count) it wrote")
            }
        }
    }

    /// The result of threads that started at `start`: their ops, the time until the last one
    /// finished, and their latencies merged (each divided by `latencyDivisor`).
    private func result(
        _ workload: Workload, _ store: any BenchStore, start: UInt64, _ outcomes: [WorkerOutcome],
        latencyDivisor: UInt64 = 1
    ) throws -> WorkloadResult {
        var recorder = LatencyRecorder(capacity: 0)
        outcomes.forEach { recorder.merge($0.recorder) }
        return WorkloadResult(
            workload: workload, system: store.name, ops: outcomes.reduce(0) { $0 + $1.ops },
            nanoseconds: outcomes.map(\.finishedAt).max()! - start, latency: recorder.summary(dividedBy: latencyDivisor))
    }
}
