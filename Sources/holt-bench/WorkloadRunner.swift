/// Runs the workloads on one store and times them: the one place that owns the clock, so every
/// system is measured the same way. Single-threaded workloads run on the calling thread (pinned
/// by the caller); `durable-put` starts its own threads, unpinned; the fixed-time workloads
/// (`ConcurrentWorkloads.swift`) start pinned threads of their own.
struct WorkloadRunner {
    let dataset: Dataset
    let sizes: WorkloadSizes
    /// The CPU the single-threaded workloads run on, or nil to leave the thread unpinned.
    let cpu: Int?

    /// Loads `store` with `put` (timed when selected), settles it, then runs each selected
    /// workload in `Workload.allCases` order, with the untimed `prepareReadWrite` before the first
    /// of the read/write group and `prepareDeletes` before each of the delete group (`space` runs
    /// apart, see `space(open:directory:)`). `directory` holds the store's files. A workload that
    /// fails or whose result does not check out is reported on stderr and left out of the
    /// results; the next one still runs.
    func run(_ store: any BenchStore, workloads: Set<Workload>, directory: String) -> [WorkloadResult] {
        var results: [WorkloadResult] = []
        func attempt(_ workload: Workload, _ body: () throws -> WorkloadResult) -> Bool {
            do {
                let result = try body()
                results.append(result)
                let latency = result.latency
                Log.progress(String(
                    describing: "[\(store.name)] \(workload.rawValue): \(result.ops) ops in "
                        + "\(Report.seconds(result.nanoseconds)) s, \(Report.rate(result.opsPerSecond)) ops/s, "
                        + "p50 \(Report.micros(latency.p50)) µs, p99 \(Report.micros(latency.p99)) µs, "
                        + "p99.9 \(Report.micros(latency.p999)) µs, max \(Report.micros(latency.max)) µs"
                        + result.extra.sorted { $0.key < $1.key }.map { ", \($0.key) \(Report.rate($0.value))" }.joined()))
                return true
            } catch {
                Log.progress("[\(store.name)] \(workload.rawValue) FAILED: \(error)")
                return false
            }
        }

        if let cpu { CPUAffinity.pin(toCPU: cpu) }
        defer { CPUAffinity.unpin() }
        Log.progress("[\(store.name)] loading \(dataset.keys.count) keys")
        guard attempt(.put, { try put(store) }) else { return results }
        if !workloads.contains(.put) { results.removeAll { $0.workload == .put } }

        let settleStart = BenchClock.now()
        do {
            try store.settle(dataset: dataset)
        } catch {
            Log.progress("[\(store.name)] settle FAILED: \(error)")
            return results
        }
        Log.progress("[\(store.name)] settled (untimed) in \(Report.seconds(BenchClock.now() - settleStart)) s")

        let steps: [(Workload, () throws -> WorkloadResult)] = [
            (.get, { try get(store) }),
            (.getTwoThreads, { try getTwoThreads(store) }),
            (.getMiss, { try getMiss(store) }),
            (.list, { try list(store) }),
            (.scan, { try scan(store) }),
            (.renamePrefix, {
                try rename(store, .renamePrefix, from: dataset.bigDirectory, to: dataset.bigRenameTarget,
                           moves: sizes.bigMoves, keys: dataset.shape.bigDescendants)
            }),
            (.renamePrefixOne, {
                try rename(store, .renamePrefixOne, from: dataset.singleDirectory, to: dataset.singleRenameTarget,
                           moves: sizes.singleMoves, keys: 1)
            }),
            (.durablePut, { try durablePut(store) }),
            (.readAlone, { try readAlone(store) }),
            (.readWithWriter, { try readWithWriter(store) }),
            (.putOneThread, { try putThreads(store, .putOneThread, threads: 1) }),
            (.putTwoThreads, { try putThreads(store, .putTwoThreads, threads: 2) }),
        ]
        var wroteSinceSettle = false, readWritePrepared = false
        for (workload, body) in steps where workloads.contains(workload) {
            if Workload.readWriteGroup.contains(workload) && !readWritePrepared {
                do {
                    try prepareReadWrite(
                        store, durablePutRan: workloads.contains(.durablePut), wroteSinceSettle: wroteSinceSettle)
                } catch {
                    Log.progress("[\(store.name)] preparing the read/write workloads FAILED: \(error)")
                    return results
                }
                readWritePrepared = true
            }
            _ = attempt(workload, body)
            if [.renamePrefix, .renamePrefixOne, .durablePut].contains(workload) { wroteSinceSettle = true }
        }
        let deletes: [(Workload, Bool)] = [(.readWithDeleter, false), (.readWithCompaction, true)]
        var deletedSincePrepare = false
        for (workload, compacting) in deletes where workloads.contains(workload) {
            guard (try? store.deleter()).flatMap({ $0 }).map({ $0.close() }) != nil else {
                Log.progress("[\(store.name)] \(workload.rawValue): skipped (no in-place compaction beside readers)")
                continue
            }
            do {
                try prepareDeletes(store, restore: deletedSincePrepare)
            } catch {
                Log.progress("[\(store.name)] preparing \(workload.rawValue) FAILED: \(error)")
                return results
            }
            deletedSincePrepare = true
            _ = attempt(workload) { try readWithDeleter(store, workload, compacting: compacting, directory: directory) }
        }
        return results
    }

    // MARK: The workloads

    /// All keys in a seeded random order, `putBatch` keys per batch.
    func put(_ store: any BenchStore) throws -> WorkloadResult {
        let order = dataset.shuffledIndices(seed: dataset.seed &+ 1)
        var recorder = LatencyRecorder(capacity: order.count)
        var progress = Progress(system: store.name, workload: .put, total: order.count, seconds: sizes.progressSeconds)
        let start = BenchClock.now()
        var batchStart = 0
        while batchStart < order.count {
            let batchEnd = min(batchStart + sizes.putBatch, order.count)
            let before = BenchClock.now()
            try store.putBatch(order[batchStart..<batchEnd], of: dataset)
            let after = BenchClock.now()
            recorder.record(after - before, amortizedOver: batchEnd - batchStart)
            progress.update(ops: batchEnd, now: after, details: store.progressDetails)
            batchStart = batchEnd
        }
        return finish(.put, store, ops: order.count, start: start, recorder)
    }

    /// N uniformly random existing keys; each must be found with a 64-byte value.
    private func get(_ store: any BenchStore) throws -> WorkloadResult {
        let order = dataset.randomIndices(count: dataset.keys.count, seed: dataset.seed &+ 2)
        var missing = 0, wrongLength = 0
        let (nanoseconds, recorder) = try timedReads(store, .get, count: order.count) { position in
            let length = try store.get(dataset.keys[Int(order[position])])
            if length == nil { missing += 1 } else if length != Dataset.valueLength { wrongLength += 1 }
        }
        guard missing == 0, wrongLength == 0 else {
            throw BenchError("\(missing) keys missing, \(wrongLength) values of the wrong length")
        }
        return result(.get, store, ops: order.count, nanoseconds: nanoseconds, recorder)
    }

    /// N/10 absent keys in existing directories; none may be found.
    private func getMiss(_ store: any BenchStore) throws -> WorkloadResult {
        let keys = dataset.missingKeys(count: dataset.keys.count / 10, seed: dataset.seed &+ 3)
        var found = 0
        let (nanoseconds, recorder) = try timedReads(store, .getMiss, count: keys.count) { position in
            if try store.get(keys[position]) != nil { found += 1 }
        }
        guard found == 0 else { throw BenchError("\(found) absent keys were found") }
        return result(.getMiss, store, ops: keys.count, nanoseconds: nanoseconds, recorder)
    }

    /// Every listed directory, `listPasses` times; each listing must have 1,000 items.
    private func list(_ store: any BenchStore) throws -> WorkloadResult {
        let prefixes = dataset.listedDirectories.map { $0 + [UInt8(ascii: "/")] }
        let count = prefixes.count * sizes.listPasses
        var wrong = 0
        let (nanoseconds, recorder) = try timedReads(store, .list, count: count) { position in
            if try store.list(prefixes[position % prefixes.count]) != 1_000 { wrong += 1 }
        }
        guard wrong == 0 else { throw BenchError("\(wrong) listings did not have 1000 items") }
        return result(.list, store, ops: count, nanoseconds: nanoseconds, recorder)
    }

    /// One full ordered scan; it must see every key.
    private func scan(_ store: any BenchStore) throws -> WorkloadResult {
        var recorder = LatencyRecorder(capacity: dataset.keys.count)
        var progress = Progress(system: store.name, workload: .scan, total: dataset.keys.count, seconds: sizes.progressSeconds)
        try store.beginReads()
        let start = BenchClock.now()
        var last = start, seen = 0
        let total = try store.scan(pageSize: sizes.scanPage) { items in
            let now = BenchClock.now()
            recorder.record(now - last, amortizedOver: items)
            last = now
            seen += items
            progress.update(ops: seen, now: now, details: store.progressDetails)
        }
        let nanoseconds = BenchClock.now() - start
        try store.endReads()
        guard total == dataset.keys.count else {
            throw BenchError("the scan saw \(total) keys, expected \(dataset.keys.count)")
        }
        return result(.scan, store, ops: total, nanoseconds: nanoseconds, recorder)
    }

    /// Moves `from` to `to` and back, `moves` times in all, timing each move; checks untimed
    /// after the first move that `keys` keys arrived, and at the end that they are all back.
    private func rename(
        _ store: any BenchStore, _ workload: Workload, from: [UInt8], to: [UInt8], moves: Int, keys: Int
    ) throws -> WorkloadResult {
        var recorder = LatencyRecorder(capacity: moves)
        var total: UInt64 = 0
        for move in 0..<moves {
            let (source, target) = move % 2 == 0 ? (from, to) : (to, from)
            let before = BenchClock.now()
            try store.renamePrefix(from: source, to: target)
            let took = BenchClock.now() - before
            recorder.record(took)
            total += took
            if move == 0 {
                let arrived = try store.countKeys(withPrefix: target), left = try store.countKeys(withPrefix: source)
                guard arrived == keys, left == 0 else {
                    throw BenchError("after the move \(arrived) keys arrived and \(left) stayed, expected \(keys) and 0")
                }
            }
        }
        let back = try store.countKeys(withPrefix: moves % 2 == 0 ? from : to)
        guard back == keys else { throw BenchError("\(back) keys at the end, expected \(keys)") }
        return result(workload, store, ops: moves, nanoseconds: total, recorder)
    }

    /// `durablePuts` fresh keys from `durableThreads` threads at once, each put durable before it
    /// returns. Runs unpinned (the threads may use every CPU).
    private func durablePut(_ store: any BenchStore) throws -> WorkloadResult {
        try store.makeDurable(dataset: dataset)
        let threads = sizes.durableThreads, perThread = sizes.durablePuts / threads
        let writers = try (0..<threads).map { _ in try store.durableWriter() }
        defer { writers.forEach { $0.close() } }
        let outcomes = (0..<threads).map { _ in WorkerOutcome(capacity: perThread) }
        let dataset = self.dataset

        CPUAffinity.unpin()
        defer { if let cpu { CPUAffinity.pin(toCPU: cpu) } }
        let start = BenchClock.now()
        let workers = (0..<threads).map { thread in
            let writer = writers[thread], outcome = outcomes[thread]
            return BenchThread {
                do {
                    for index in 0..<perThread {
                        let key = dataset.durableKey(thread: thread, index: index)
                        let value = Dataset.value(index: index)
                        let before = BenchClock.now()
                        try writer.put(key, value)
                        outcome.recorder.record(BenchClock.now() - before)
                    }
                } catch {
                    outcome.error = error
                }
            }
        }
        workers.forEach { $0.join() }
        let nanoseconds = BenchClock.now() - start

        if let error = outcomes.lazy.compactMap(\.error).first { throw error }
        let written = try store.countKeys(withPrefix: dataset.durableDirectory)
        guard written == perThread * threads else {
            throw BenchError("\(written) durable keys found, expected \(perThread * threads)")
        }
        var recorder = LatencyRecorder(capacity: 0)
        outcomes.forEach { recorder.merge($0.recorder) }
        return result(.durablePut, store, ops: perThread * threads, nanoseconds: nanoseconds, recorder)
    }

    // MARK: Timing helpers

    /// Runs `op(0..<count)` of `workload` inside read groups of `readsPerTransaction` ops;
    /// returns the wall time and the latency of each op (renewing the read group is charged to the
    /// op after it).
    private func timedReads(
        _ store: any BenchStore, _ workload: Workload, count: Int, _ op: (Int) throws -> Void
    ) throws -> (UInt64, LatencyRecorder) {
        var recorder = LatencyRecorder(capacity: count)
        var progress = Progress(system: store.name, workload: workload, total: count, seconds: sizes.progressSeconds)
        let start = BenchClock.now()
        var last = start
        try store.beginReads()
        for position in 0..<count {
            if position > 0 && position % sizes.readsPerTransaction == 0 {
                try store.endReads()
                try store.beginReads()
            }
            try op(position)
            let now = BenchClock.now()
            recorder.record(now - last)
            progress.update(ops: position + 1, now: now, details: store.progressDetails)
            last = now
        }
        try store.endReads()
        return (BenchClock.now() - start, recorder)
    }

    /// The result of a workload that started at `start` and ends now.
    private func finish(
        _ workload: Workload, _ store: any BenchStore, ops: Int, start: UInt64, _ recorder: LatencyRecorder
    ) -> WorkloadResult {
        result(workload, store, ops: ops, nanoseconds: BenchClock.now() - start, recorder)
    }

    /// The result of `ops` ops that took `nanoseconds`, with the percentiles of `recorder`.
    private func result(
        _ workload: Workload, _ store: any BenchStore, ops: Int, nanoseconds: UInt64, _ recorder: LatencyRecorder
    ) -> WorkloadResult {
        WorkloadResult(workload: workload, system: store.name, ops: ops, nanoseconds: nanoseconds, latency: recorder.summary())
    }
}
