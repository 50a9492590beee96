/// The timed reader of the fixed-time workloads: random gets until `deadline` (or until `stop`
/// says so), one clock read per op, each expected to find a value of `Dataset.valueLength`
/// bytes. Renewing the read group every `readsPerTransaction` ops is charged to the next op.
///
/// - Parameters:
///   - pick: The key of the next get, from the generator.
///   - stop: Polled once per op; `true` ends the loop early.
/// - Returns: How many gets missed or found a value of another length.
func timedGets(
    _ reader: any BenchReader, readsPerTransaction: Int, seed: UInt64, start: UInt64, deadline: UInt64,
    pick: (inout SplitMix64) -> [UInt8], stop: () -> Bool = { false }, _ outcome: WorkerOutcome
) throws -> Int {
    var rng = SplitMix64(seed: seed)
    var recorder = outcome.recorder
    outcome.recorder = LatencyRecorder(capacity: 0)
    var ops = 0, wrong = 0, last = start
    try reader.beginReads()
    while last < deadline && !stop() {
        if ops > 0 && ops % readsPerTransaction == 0 {
            try reader.endReads()
            try reader.beginReads()
        }
        if try reader.get(pick(&rng)) != Dataset.valueLength { wrong += 1 }
        let now = BenchClock.now()
        recorder.record(now - last)
        last = now
        ops += 1
    }
    try reader.endReads()
    outcome.recorder = recorder
    outcome.ops = ops
    outcome.finishedAt = last
    return wrong
}
