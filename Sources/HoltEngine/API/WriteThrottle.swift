import Synchronization

/// How writers that outrun the background checkpointer are held back: smoothly, a little more
/// per batch the further the tree is past its soft bounds, and stopped only at the hard bounds.
///
/// The bounds (documented in docs/DESIGN.md, "Writers that outrun the checkpointer"):
/// - dirty bytes: a checkpoint is asked for at half the cache; from there to three quarters of
///   it each batch waits `maximumDelay × over²` before it is applied (`over` runs from 0 to 1
///   across the zone); at three quarters a batch waits for the checkpointer's round.
/// - the log: the same zone runs from `softLogFactor` to `hardLogFactor` times
///   `Options.checkpointLogBytes`.
///
/// Locking: the counters are relaxed atomics (statistics); the decision reads no shared state of
/// its own.
final class WriteThrottle: Sendable {
    /// What a batch must do before it is applied.
    enum Decision: Equatable {
        /// Go on at once.
        case go
        /// Sleep this many nanoseconds first (holding no lock).
        case delay(UInt64)
        /// Wait for the checkpointer's round (the hard bound).
        case stop
    }

    /// The longest delay of one batch, at the edge of the hard bound (nanoseconds).
    static let maximumDelay: UInt64 = 2_000_000
    /// The slowdown starts at this many times `Options.checkpointLogBytes` of log.
    static let softLogFactor = 2
    /// Batches stop at this many times `Options.checkpointLogBytes` of log.
    static let hardLogFactor = 3

    private let cacheBytes: Int
    private let checkpointLogBytes: Int
    /// Batches delayed, and their delays summed (nanoseconds).
    let delayedBatches = Atomic<Int>(0), delayNanoseconds = Atomic<UInt64>(0)
    /// Batches that waited for a checkpointer's round at the hard bound.
    let stoppedBatches = Atomic<Int>(0)

    /// A throttle for a cache of `cacheBytes` and a log checkpointed every `checkpointLogBytes`.
    init(cacheBytes: Int, checkpointLogBytes: Int) {
        self.cacheBytes = cacheBytes
        self.checkpointLogBytes = checkpointLogBytes
    }

    /// The dirty bytes that count, for the slowdown and for the checkpoint they ask for
    /// (`Tree.checkpointWanted`): none until the log holds an eighth of `checkpointLogBytes`
    /// since the last checkpoint. A tree larger than its cache has nearly every frame dirty
    /// between write-outs, which eviction handles; checkpointing or slowing down for that alone
    /// ran checkpoints back to back (1,330 in 600 s of a 2M-key load through a 32 MiB cache).
    func countedDirtyBytes(_ dirtyBytes: Int, logBytes: Int) -> Int {
        logBytes >= checkpointLogBytes / 8 ? dirtyBytes : 0
    }

    /// Whether `dirtyBytes` of dirty blobs or `logBytes` of log are at the hard bound.
    func atHardBound(dirtyBytes: Int, logBytes: Int) -> Bool {
        countedDirtyBytes(dirtyBytes, logBytes: logBytes) >= cacheBytes / 4 * 3
            || logBytes >= Self.hardLogFactor * checkpointLogBytes
    }

    /// What a batch does with `dirtyBytes` of dirty blobs and `logBytes` of log behind it.
    func decide(dirtyBytes: Int, logBytes: Int) -> Decision {
        let dirtyBytes = countedDirtyBytes(dirtyBytes, logBytes: logBytes)
        if atHardBound(dirtyBytes: dirtyBytes, logBytes: logBytes) { return .stop }
        let over = max(
            Self.share(dirtyBytes, from: cacheBytes / 2, to: cacheBytes / 4 * 3),
            Self.share(logBytes, from: Self.softLogFactor * checkpointLogBytes, to: Self.hardLogFactor * checkpointLogBytes))
        guard over > 0 else { return .go }
        let nanoseconds = UInt64(Double(Self.maximumDelay) * over * over)
        return nanoseconds == 0 ? .go : .delay(nanoseconds)
    }

    /// How far `value` is into the zone `low..<high`: 0 below it, up to 1 at its end.
    private static func share(_ value: Int, from low: Int, to high: Int) -> Double {
        guard value > low, high > low else { return 0 }
        return min(1, Double(value - low) / Double(high - low))
    }

    /// Counts a delay and sleeps it.
    func sleep(_ nanoseconds: UInt64) {
        delayedBatches.wrappingAdd(1, ordering: .relaxed)
        delayNanoseconds.wrappingAdd(nanoseconds, ordering: .relaxed)
        Monitor.sleep(nanoseconds: nanoseconds)
    }
}
