import Foundation
import HoltEngine
import HoltFS

/// What `holtfs stats` reports, offline or from a live daemon: printed as text, or as one JSON
/// object per report with `--json` (fields that do not apply are left out).
///
/// A live daemon sends the live part (`pid` through `engine`) over the control socket in this
/// same encoding; the command adds `disk`.
struct StatsReport: Codable, Equatable {
    /// One FUSE operation's requests since the mount.
    struct Requests: Codable, Equatable {
        var count: UInt64
        var errors: UInt64
        var totalNanoseconds: UInt64
        var meanNanoseconds: UInt64
        var p50Nanoseconds: UInt64
        var p99Nanoseconds: UInt64
    }

    /// The file system's own state.
    struct Filesystem: Codable, Equatable {
        var openFiles: Int
        var openDirectories: Int
        var kernelNodes: Int
    }

    /// The engine's counters since the database was opened (`HoltEngine.Stats`).
    struct Engine: Codable, Equatable {
        var blobs: Int
        var cachedFrames: Int
        var cacheHits: Int
        var cacheMisses: Int
        var evictions: Int
        var dirtyBytes: Int
        var dataFileBytes: Int
        var dataBytesRead: Int
        var dataBytesWritten: Int
        var directIO: Bool
        var ioUring: Bool
        var logRecords: Int
        var logBytes: Int
        var logSyncs: Int
        var logSyncedRecords: Int
        var largestCommitGroup: Int
        var checkpoints: Int
        var checkpointNanoseconds: UInt64
        var lastCheckpointNanoseconds: UInt64
        /// Open snapshots (a long listing, a live dump or check) and the blob copies they hold
        /// (`Stats.openSnapshots`, `snapshotShadowBlobs`, `snapshotShadowBytes`); nil from a
        /// daemon built before snapshots.
        var openSnapshots: Int?
        var snapshotShadowBlobs: Int?
        var snapshotShadowBytes: Int?
        /// The write buffer (`Stats.writeBufferKeys`, `writeBufferBytes`, `writeBufferedOps`,
        /// `writeBufferFlushes`); nil from a daemon built before it.
        var writeBufferKeys: Int?
        var writeBufferBytes: Int?
        var writeBufferedOps: Int?
        var writeBufferFlushes: Int?
        /// Lookups of uncached blobs read through the mapped data file (`Stats.mappedReads`); nil
        /// from a daemon built before them.
        var mappedReads: Int?

        init(_ stats: Stats) {
            blobs = stats.blobs
            cachedFrames = stats.cachedFrames
            cacheHits = stats.cacheHits
            cacheMisses = stats.cacheMisses
            evictions = stats.evictions
            dirtyBytes = stats.dirtyBytes
            dataFileBytes = stats.dataFileBytes
            dataBytesRead = stats.dataBytesRead
            dataBytesWritten = stats.dataBytesWritten
            directIO = stats.directIO
            ioUring = stats.ioUring
            logRecords = stats.logRecords
            logBytes = stats.logBytes
            logSyncs = stats.logSyncs
            logSyncedRecords = stats.logSyncedRecords
            largestCommitGroup = stats.largestCommitGroup
            checkpoints = stats.checkpoints
            checkpointNanoseconds = stats.checkpointNanoseconds
            lastCheckpointNanoseconds = stats.lastCheckpointNanoseconds
            openSnapshots = stats.openSnapshots
            snapshotShadowBlobs = stats.snapshotShadowBlobs
            snapshotShadowBytes = stats.snapshotShadowBytes
            writeBufferKeys = stats.writeBufferKeys
            writeBufferBytes = stats.writeBufferBytes
            writeBufferedOps = stats.writeBufferedOps
            writeBufferFlushes = stats.writeBufferFlushes
            mappedReads = stats.mappedReads
        }
    }

    /// What an offline walk of every key found.
    struct Keys: Codable, Equatable {
        var keys: Int
        var keyBytes: Int
        var valueBytes: Int
        var largestValue: Int
        var deepestKey: Int
    }

    /// How the database's space on disk is used (`HoltEngine.SpaceStatistics`).
    struct Space: Codable, Equatable {
        /// Bytes of live nodes in the blobs (the keys and values now).
        var liveBytes: Int
        /// Bytes of freed nodes inside blobs, not yet compacted.
        var deadBytes: Int
        /// Blobs in use, and slots of the blob file that hold none.
        var blobs: Int
        var freeSlots: Int
        /// The blob file's size, and what of it the file system has allocated.
        var fileBytes: Int
        var allocatedBytes: Int
        /// The log's and the map's and manifest's bytes on disk.
        var logBytes: Int
        var metadataBytes: Int
        /// Everything on disk (what `df` of a mount shows as used).
        var databaseBytes: Int
        /// `databaseBytes ÷ liveBytes` (0 for an empty tree).
        var amplification: Double

        init(_ space: SpaceStatistics) {
            liveBytes = space.liveBytes
            deadBytes = space.deadBytes
            blobs = space.blobs
            freeSlots = space.freeSlots
            fileBytes = space.fileBytes
            allocatedBytes = space.allocatedBytes
            logBytes = space.logBytes
            metadataBytes = space.metadataBytes
            databaseBytes = space.databaseBytes
            amplification = space.amplification
        }
    }

    /// The database's files (holtfs's own files aside).
    struct Disk: Codable, Equatable {
        var files: Int
        var bytes: Int
    }

    /// The database directory.
    var database: String
    /// `offline` or `mounted`.
    var state: String
    /// Live: the mount point.
    var mountpoint: String?
    /// Live: the daemon's pid, how long it has served, its version.
    var pid: Int32?
    var uptimeSeconds: Double?
    var version: String?
    /// Live: the daemon's log level, and its metrics address when it serves one.
    var logLevel: String?
    var metrics: String?
    /// Live: requests per FUSE operation (every operation, by its name).
    var requests: [String: Requests]?
    var filesystem: Filesystem?
    var engine: Engine?
    /// How the database's space on disk is used.
    var space: Space?
    /// Offline: the keys, and what opening replayed.
    var keys: Keys?
    var recovery: [String]?
    /// The database's files.
    var disk: Disk?

    /// The live report of `mount`, served by the daemon started at `started` (monotonic seconds).
    static func live(
        mount: HoltMount, database: String, mountpoint: String, started: Double, logLevel: String, metrics: String?
    ) -> StatsReport {
        let statistics = mount.statistics()
        var requests: [String: Requests] = [:]
        for operation in statistics.requests {
            requests[operation.operation.name] = Requests(
                count: operation.count, errors: operation.errors, totalNanoseconds: operation.totalNanoseconds,
                meanNanoseconds: operation.meanNanoseconds, p50Nanoseconds: operation.quantileNanoseconds(0.5),
                p99Nanoseconds: operation.quantileNanoseconds(0.99))
        }
        return StatsReport(
            database: database, state: "mounted", mountpoint: mountpoint, pid: getpid(),
            uptimeSeconds: Posix.monotonicSeconds() - started, version: HoltFS.version, logLevel: logLevel,
            metrics: metrics.map { "http://\($0)/metrics" }, requests: requests,
            filesystem: Filesystem(
                openFiles: statistics.openFiles, openDirectories: statistics.openDirectories,
                kernelNodes: statistics.kernelNodes),
            engine: statistics.engine.map(Engine.init), space: statistics.space.map(Space.init))
    }

    /// The report as one line of JSON.
    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A report decoded from the daemon's answer, or `nil`.
    static func decode(_ bytes: [UInt8]) -> StatsReport? {
        try? JSONDecoder().decode(StatsReport.self, from: Data(bytes))
    }

    // MARK: Text

    /// The report as text; with `previous` (the last report of `--watch`), request rates too.
    func text(previous: StatsReport? = nil) -> String {
        var lines: [String] = ["database: \(database)"]
        if state == "mounted" {
            var daemon: [String] = []
            if let pid { daemon.append("daemon pid \(pid)") }
            if let uptimeSeconds { daemon.append("up \(Self.duration(seconds: uptimeSeconds))") }
            if let logLevel { daemon.append("log level \(logLevel)") }
            lines.append("state: mounted at \(mountpoint ?? "?")" + (daemon.isEmpty ? "" : " (\(daemon.joined(separator: ", ")))"))
            if let metrics { lines.append("metrics: \(metrics)") }
        } else {
            lines.append("state: \(state)")
        }
        for note in recovery ?? [] { lines.append("recovery: \(note)") }
        if let keys {
            lines.append("keys: \(keys.keys)")
            lines.append("key bytes: \(keys.keyBytes)")
            lines.append("value bytes: \(keys.valueBytes)")
            lines.append("largest value: \(keys.largestValue)")
            lines.append("deepest key: \(keys.deepestKey) components")
        }
        if let requests { lines += requestLines(requests, previous: previous) }
        if let filesystem {
            lines.append(
                "handles: \(filesystem.openFiles) open files, \(filesystem.openDirectories) open directories; "
                    + "\(filesystem.kernelNodes) nodes known to the kernel")
        }
        if let engine { lines += Self.engineLines(engine) }
        if let space { lines += Self.spaceLines(space) }
        if let disk { lines.append("disk bytes: \(disk.bytes) in \(disk.files) files (without holtfs.log and holtfs.pid)") }
        return lines.joined(separator: "\n")
    }

    /// The request table: every operation asked at least once, in `FuseOperation` order.
    private func requestLines(_ requests: [String: Requests], previous: StatsReport?) -> [String] {
        let interval = (uptimeSeconds ?? 0) - (previous?.uptimeSeconds ?? 0)
        let rates = previous?.requests != nil && interval > 0
        func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + fill : fill + text
        }
        var header = pad("requests", 14, left: true) + pad("count", 10)
        if rates { header += pad("per s", 9) }
        header += pad("errors", 8) + pad("p50", 10) + pad("p99", 10) + pad("mean", 10)
        var lines = [header]
        var total: UInt64 = 0
        var errors: UInt64 = 0
        var totalRate = 0.0
        for operation in FuseOperation.allCases {
            guard let counters = requests[operation.name], counters.count > 0 else { continue }
            total += counters.count
            errors += counters.errors
            var line = "  " + pad(operation.name, 12, left: true) + pad(String(counters.count), 10)
            if rates {
                let before = previous?.requests?[operation.name]?.count ?? 0
                let rate = Double(counters.count &- min(before, counters.count)) / interval
                totalRate += rate
                line += pad(Self.rate(rate), 9)
            }
            line += pad(String(counters.errors), 8) + pad(Self.duration(nanoseconds: counters.p50Nanoseconds), 10)
                + pad(Self.duration(nanoseconds: counters.p99Nanoseconds), 10)
                + pad(Self.duration(nanoseconds: counters.meanNanoseconds), 10)
            lines.append(line)
        }
        var totalLine = "  " + pad("total", 12, left: true) + pad(String(total), 10)
        if rates { totalLine += pad(Self.rate(totalRate), 9) }
        lines.append(totalLine + pad(String(errors), 8))
        return lines
    }

    private static func engineLines(_ engine: Engine) -> [String] {
        let meanGroup = engine.logSyncs == 0 ? 0 : Double(engine.logSyncedRecords) / Double(engine.logSyncs)
        var checkpoints = "checkpoints: \(engine.checkpoints)"
        if engine.checkpoints > 0 {
            checkpoints += " (last \(duration(nanoseconds: engine.lastCheckpointNanoseconds)), "
                + "total \(duration(nanoseconds: engine.checkpointNanoseconds)))"
        }
        var lines = [
            "cache: \(engine.cachedFrames) frames, \(engine.cacheHits) hits, \(engine.cacheMisses) misses, "
                + "\(engine.evictions) evictions, \(engine.mappedReads ?? 0) mapped reads",
            "dirty bytes: \(engine.dirtyBytes)",
            "log: \(engine.logRecords) records, \(engine.logBytes) bytes, \(engine.logSyncs) syncs "
                + "(mean group \(String(format: "%.1f", meanGroup)), largest \(engine.largestCommitGroup))",
            checkpoints,
            "blobs: \(engine.blobs) (data file \(engine.dataFileBytes) bytes, read \(engine.dataBytesRead), "
                + "written \(engine.dataBytesWritten); O_DIRECT \(engine.directIO ? "on" : "off"), "
                + "io_uring \(engine.ioUring ? "on" : "off"))",
        ]
        if let open = engine.openSnapshots {
            lines.append("snapshots: \(open) open, holding \(engine.snapshotShadowBlobs ?? 0) blob copies "
                + "(\(engine.snapshotShadowBytes ?? 0) bytes)")
        }
        if let keys = engine.writeBufferKeys {
            lines.append("write buffer: \(keys) keys (\(engine.writeBufferBytes ?? 0) bytes), "
                + "\(engine.writeBufferedOps ?? 0) ops buffered, \(engine.writeBufferFlushes ?? 0) flushes")
        }
        return lines
    }

    /// The space section: where the bytes on disk go, and how many of them hold data.
    private static func spaceLines(_ space: Space) -> [String] {
        func amount(_ bytes: Int) -> String { "\(bytes) (\(ByteCount.text(bytes)))" }
        return [
            "space: database bytes \(amount(space.databaseBytes)), amplification "
                + String(format: "%.2f", space.amplification),
            "  live bytes: \(amount(space.liveBytes))",
            "  dead bytes: \(amount(space.deadBytes))",
            "  blob file: \(amount(space.fileBytes)), allocated \(amount(space.allocatedBytes)); "
                + "\(space.blobs) blobs, \(space.freeSlots) free slots",
            "  log bytes: \(amount(space.logBytes))",
            "  map and manifest bytes: \(amount(space.metadataBytes))",
        ]
    }

    /// `nanoseconds` with a unit and three significant digits: `850 ns`, `12.3 us`, `1.20 ms`, `2.00 s`.
    static func duration(nanoseconds: UInt64) -> String {
        let value = Double(nanoseconds)
        if nanoseconds < 1000 { return "\(nanoseconds) ns" }
        for (scale, unit) in [(1e3, "us"), (1e6, "ms"), (1e9, "s")] where value < scale * 1000 || unit == "s" {
            let scaled = value / scale
            let digits = scaled < 10 ? 2 : scaled < 100 ? 1 : 0
            return String(format: "%.\(digits)f", scaled) + " " + unit
        }
        return "\(nanoseconds) ns"
    }

    /// `seconds` of uptime: `42.0 s`, `3m 07s`, `2h 03m 07s`.
    static func duration(seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds)
        let (hours, minutes, rest) = (whole / 3600, whole / 60 % 60, whole % 60)
        return hours > 0 ? String(format: "%dh %02dm %02ds", hours, minutes, rest) : String(format: "%dm %02ds", minutes, rest)
    }

    /// A rate per second, short.
    private static func rate(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }
}
