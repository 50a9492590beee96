import CoreMetrics
import HoltEngine
import Synchronization

/// The counters of a mount at one moment: its FUSE requests, its handles and the engine's
/// counters (`HoltMount.statistics()`).
public struct MountStatistics: Sendable {
    /// Every operation, in `FuseOperation.allCases` order (operations never asked for count 0).
    public var requests: [OperationStatistics]
    /// Open file and directory handles.
    public var openFiles: Int, openDirectories: Int
    /// Nodes the kernel holds lookups on (the root included).
    public var kernelNodes: Int
    /// The engine's counters; `nil` when the tree is closed.
    public var engine: Stats?
    /// How the database's space on disk is used (`Tree.spaceStatistics()`); `nil` when the tree
    /// is closed or its files cannot be examined.
    public var space: SpaceStatistics?
}

extension HoltMount {
    /// The mount's counters now. Cheap enough to call every second: it reads atomics, counts two
    /// tables under their locks and asks the engine for its `statistics()` and its
    /// `spaceStatistics()` (shared locks; the second is O(blobs) and a few `fstat`s).
    public func statistics() -> MountStatistics {
        let handles = filesystem.handles.counts
        return MountStatistics(
            requests: bridge.requests.snapshot(), openFiles: handles.files, openDirectories: handles.directories,
            kernelNodes: filesystem.nodes.count, engine: try? filesystem.tree.statistics(),
            space: try? filesystem.tree.spaceStatistics())
    }

    /// Sends the gauges and counters that are not per request (handles, the engine's cache, log
    /// and checkpoints) to the swift-metrics backend. Requests are sent as they are answered; these
    /// only when this is called: call it before each scrape (holtfs's `/metrics` does) or on a
    /// timer. Does nothing when no backend was bootstrapped before the mount was made.
    public func publishMetrics() {
        guard let gauges = bridge.gauges else { return }
        gauges.publish(statistics())
    }
}

/// The per-request metrics of a mount in swift-metrics: `holtfs_requests_total`,
/// `holtfs_request_errors_total` (counters) and `holtfs_request_duration_seconds` (a timer), each
/// with the label `op`. Made only when a backend is bootstrapped, so without one a request costs
/// nothing here.
final class RequestMetrics: Sendable {
    private let requests: [CoreMetrics.Counter]
    private let errors: [CoreMetrics.Counter]
    private let durations: [CoreMetrics.Timer]

    /// Handlers for every operation, from the bootstrapped factory.
    init() {
        let operations = FuseOperation.allCases
        requests = operations.map { Counter(label: "holtfs_requests_total", dimensions: [("op", $0.name)]) }
        errors = operations.map { Counter(label: "holtfs_request_errors_total", dimensions: [("op", $0.name)]) }
        durations = operations.map { Timer(label: "holtfs_request_duration_seconds", dimensions: [("op", $0.name)]) }
    }

    /// Whether `MetricsSystem.bootstrap` was called with a real backend.
    static var backendBootstrapped: Bool { !(MetricsSystem.factory is NOOPMetricsHandler) }

    /// Handlers when a backend is bootstrapped, else `nil`.
    static func makeIfBootstrapped() -> RequestMetrics? {
        backendBootstrapped ? RequestMetrics() : nil
    }

    /// Sends one request.
    func record(_ operation: FuseOperation, nanoseconds: UInt64, failed: Bool) {
        requests[operation.rawValue].increment()
        durations[operation.rawValue].recordNanoseconds(Int64(clamping: nanoseconds))
        if failed { errors[operation.rawValue].increment() }
    }
}

/// The metrics of a mount that are sampled rather than counted per request: gauges for what is
/// (handles, dirty bytes, the cache), counters for the engine's cumulative counters, which are
/// sent as the growth since the last `publish`.
final class MountGauges: Sendable {
    private let openFiles = Gauge(label: "holtfs_open_files")
    private let openDirectories = Gauge(label: "holtfs_open_directories")
    private let kernelNodes = Gauge(label: "holtfs_kernel_nodes")
    private let dirtyBytes = Gauge(label: "holtfs_engine_dirty_bytes")
    private let cachedFrames = Gauge(label: "holtfs_engine_cached_frames")
    private let blobs = Gauge(label: "holtfs_engine_blobs")
    private let dataFileBytes = Gauge(label: "holtfs_engine_data_file_bytes")
    private let largestCommitGroup = Gauge(label: "holtfs_engine_log_largest_group")
    private let lastCheckpointSeconds = Gauge(label: "holtfs_engine_last_checkpoint_seconds")
    private let checkpointSeconds = FloatingPointCounter(label: "holtfs_engine_checkpoint_seconds_total")
    private let databaseBytes = Gauge(label: "holtfs_database_bytes")
    private let liveBytes = Gauge(label: "holtfs_database_live_bytes")
    private let deadBytes = Gauge(label: "holtfs_database_dead_bytes")

    /// The engine's cumulative counters, by metric name, with how to read each from `Stats`.
    private static let counterFields: [(name: String, value: @Sendable (Stats) -> Int)] = [
        ("holtfs_engine_cache_hits_total", { $0.cacheHits }),
        ("holtfs_engine_cache_misses_total", { $0.cacheMisses }),
        ("holtfs_engine_cache_evictions_total", { $0.evictions }),
        ("holtfs_engine_data_read_bytes_total", { $0.dataBytesRead }),
        ("holtfs_engine_data_written_bytes_total", { $0.dataBytesWritten }),
        ("holtfs_engine_log_records_total", { $0.logRecords }),
        ("holtfs_engine_log_bytes_total", { $0.logBytes }),
        ("holtfs_engine_log_syncs_total", { $0.logSyncs }),
        ("holtfs_engine_log_synced_records_total", { $0.logSyncedRecords }),
        ("holtfs_engine_checkpoints_total", { $0.checkpoints }),
    ]
    private let counters: [CoreMetrics.Counter]

    /// What was last sent of each cumulative counter (`counterFields` order, then checkpoint ns).
    private let sent = Locked<(counts: [Int], checkpointNanoseconds: UInt64)>(([], 0))

    private init() {
        counters = Self.counterFields.map { Counter(label: $0.name) }
        sent.withLock { $0.counts = Array(repeating: 0, count: Self.counterFields.count) }
    }

    /// Gauges when a backend is bootstrapped, else `nil`.
    static func makeIfBootstrapped() -> MountGauges? {
        RequestMetrics.backendBootstrapped ? MountGauges() : nil
    }

    /// Sends `statistics`.
    func publish(_ statistics: MountStatistics) {
        openFiles.record(statistics.openFiles)
        openDirectories.record(statistics.openDirectories)
        kernelNodes.record(statistics.kernelNodes)
        if let space = statistics.space {
            databaseBytes.record(space.databaseBytes)
            liveBytes.record(space.liveBytes)
            deadBytes.record(space.deadBytes)
        }
        guard let engine = statistics.engine else { return }
        dirtyBytes.record(engine.dirtyBytes)
        cachedFrames.record(engine.cachedFrames)
        blobs.record(engine.blobs)
        dataFileBytes.record(engine.dataFileBytes)
        largestCommitGroup.record(engine.largestCommitGroup)
        lastCheckpointSeconds.record(Double(engine.lastCheckpointNanoseconds) / 1e9)
        sent.withLock { sent in
            for (index, field) in Self.counterFields.enumerated() {
                let value = field.value(engine)
                if value > sent.counts[index] { counters[index].increment(by: Int64(value - sent.counts[index])) }
                sent.counts[index] = max(sent.counts[index], value)
            }
            if engine.checkpointNanoseconds > sent.checkpointNanoseconds {
                checkpointSeconds.increment(by: Double(engine.checkpointNanoseconds - sent.checkpointNanoseconds) / 1e9)
                sent.checkpointNanoseconds = engine.checkpointNanoseconds
            }
        }
    }
}
