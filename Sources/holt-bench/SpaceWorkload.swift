/// `space`: what a store of the loaded keys takes on disk, once it is closed.
///
/// It runs on a fresh store of its own, after the system's other workloads (which leave their
/// store with whatever their writers added): the same load as `put` (all keys, the same random
/// order, unsynced batches of 1,000), the same settle, then `close()`, so what is on disk is
/// final; then every file in the store's directory is measured (`DiskUsage`: allocated bytes, as
/// `du`, and apparent bytes, as `du -sb`). Where the system can compact in place
/// (`BenchStore.compactFully`), the store is reopened, compacted, closed and measured again: the
/// best the system can do, in `extra`.
extension WorkloadRunner {
    /// Bytes of the loaded keys and values: the denominator of the amplification, the same for
    /// every system.
    var liveBytes: Int {
        dataset.keys.reduce(0) { $0 + $1.count } + dataset.keys.count * Dataset.valueLength
    }

    /// Loads a fresh store made by `open` in the empty directory `directory`, settles and closes
    /// it, and measures `directory`. The row's ops, time and latencies are the load's (as `put`).
    func space(open: () throws -> any BenchStore, directory: String) throws -> WorkloadResult {
        if let cpu { CPUAffinity.pin(toCPU: cpu) }
        defer { CPUAffinity.unpin() }
        let store = try open()
        let load: WorkloadResult
        var details: [String: Double]
        do {
            load = try put(store)
            try store.settle(dataset: dataset)
            details = try store.spaceDetails()
        } catch {
            try? store.close()
            throw error
        }
        try store.close()
        let closed = try DiskUsage.of(directory)
        var result = WorkloadResult(
            workload: .space, system: store.name, ops: load.ops, nanoseconds: load.nanoseconds, latency: load.latency)
        result.space = SpaceFigures(
            diskBytes: closed.allocatedBytes, apparentBytes: closed.apparentBytes, liveBytes: liveBytes, files: closed.files)

        let reopened = try open()
        let compacted: Bool
        do {
            compacted = try reopened.compactFully()
            if compacted {
                for (name, value) in try reopened.spaceDetails() { details["after_compaction_" + name] = value }
            }
        } catch {
            try? reopened.close()
            throw error
        }
        try reopened.close()
        if compacted {
            let after = try DiskUsage.of(directory)
            details["disk_bytes_after_compaction"] = Double(after.allocatedBytes)
            details["apparent_bytes_after_compaction"] = Double(after.apparentBytes)
            details["amplification_after_compaction"] = Double(after.allocatedBytes) / Double(liveBytes)
        }
        result.extra = details
        return result
    }
}
