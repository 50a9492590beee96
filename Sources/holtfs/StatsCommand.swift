#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine

/// `holtfs stats DB|MNT`: counters of a database.
///
/// For a mounted database (given by its mount point or its directory) it asks the daemon over
/// the control socket (`DB/control.sock`) for its live counters: requests per FUSE operation with
/// their latency, handles, the engine's cache, log and checkpoints; `--watch` asks again every
/// second. Offline, it opens the database and walks every key.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print counters of a database (or of the database behind a mount point).",
        discussion: """
            Mounted: the live daemon's counters since the mount (requests per FUSE operation with \
            count, errors, p50, p99 and mean latency; open handles; the engine's cache, dirty \
            bytes, log syncs and group sizes, checkpoints), asked over DB/control.sock, which only \
            the mount's owner and root may use. --watch prints them again every second (with \
            request rates) until interrupted. Offline: keys, key and value bytes, the engine's \
            counters and bytes on disk. --json prints one JSON object per report.
            """)

    @Argument(help: "The database directory or a holtfs mount point.")
    var path: String

    @Flag(help: "Print one JSON object (one line) per report.")
    var json = false

    @Flag(help: "Print the live counters again every --interval seconds until interrupted (mounted databases only).")
    var watch = false

    @Option(help: "Seconds between two reports of --watch.")
    var interval: Double = 1

    /// Prints the counters.
    func run() throws(CommandFailure) {
        guard interval > 0, interval <= 86_400 else {
            throw CommandFailure(operation: "stats", path: Posix.absolute(path), reason: "--interval must be between 0 and 86400 seconds")
        }
        switch try DatabaseTarget.resolve(path, operation: "stats") {
        case .mounted(let mounted):
            try reportLive(mounted, target: Posix.absolute(path))
        case .offline(let target):
            if watch {
                throw CommandFailure(
                    operation: "stats", path: target, reason: "--watch needs a mounted database, and this one is not mounted",
                    exitCode: OfflineDatabase.cannotOpenStatus)
            }
            try reportOffline(target)
        }
    }

    /// Asks the daemon, once or (`--watch`) until interrupted.
    private func reportLive(_ mounted: MountedDatabase, target: String) throws(CommandFailure) {
        var previous: StatsReport?
        let terminal = isatty(STDOUT_FILENO) != 0
        while true {
            switch ControlSocket.request(database: mounted.database, "stats") {
            case .success(let answer):
                guard var report = StatsReport.decode(answer) else {
                    throw CommandFailure(
                        operation: "stats", path: target,
                        reason: "the daemon's answer is not a report: \(String(decoding: answer.prefix(200), as: UTF8.self))")
                }
                let (files, bytes) = Self.diskUsage(directory: mounted.database, depth: 2)
                report.disk = StatsReport.Disk(files: files, bytes: bytes)
                if json {
                    print(report.json())
                } else {
                    if watch && terminal {
                        print("\u{1B}[H\u{1B}[2J", terminator: "")
                    } else if previous != nil {
                        print("")
                    }
                    print(report.text(previous: previous))
                }
                fflush(nil)
                previous = report
            case .failure(let failure):
                if previous != nil {
                    throw CommandFailure(operation: "stats", path: target, reason: "the daemon no longer answers: \(failure)")
                }
                if json || watch {
                    throw CommandFailure(operation: "stats", path: target, reason: "no live counters: \(failure)")
                }
                // What can be seen without the daemon, and why the rest is missing.
                print("database: \(mounted.database)")
                print("state: mounted at \(mounted.mountpoint) (daemon pid \(mounted.pid))")
                print("live counters: unavailable (\(failure))")
                printDisk(database: mounted.database)
                return
            }
            guard watch else { return }
            Posix.pause(milliseconds: Int(interval * 1000))
        }
    }

    /// Opens the database and walks every key.
    private func reportOffline(_ target: String) throws(CommandFailure) {
        let opened = try OfflineDatabase(path: target, operation: "stats")
        defer { opened.finish() }
        var keys = StatsReport.Keys(keys: 0, keyBytes: 0, valueBytes: 0, largestValue: 0, deepestKey: 0)
        try opened.forEachEntry(prefix: [], operation: "stats") { key, value in
            keys.keys += 1
            keys.keyBytes += key.count
            keys.valueBytes += value.count
            keys.largestValue = max(keys.largestValue, value.count)
            keys.deepestKey = max(keys.deepestKey, key.reduce(1) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 })
        }
        let (files, bytes) = Self.diskUsage(directory: target, depth: 2)
        let report = StatsReport(
            database: target, state: "offline", engine: (try? opened.tree.statistics()).map(StatsReport.Engine.init),
            space: (try? opened.tree.spaceStatistics()).map(StatsReport.Space.init), keys: keys, recovery: opened.recoveryNotes, disk: StatsReport.Disk(files: files, bytes: bytes))
        print(json ? report.json() : report.text())
    }

    private func printDisk(database: String) {
        let (files, bytes) = Self.diskUsage(directory: database, depth: 2)
        print("disk bytes: \(bytes) in \(files) files (without holtfs.log and holtfs.pid)")
    }

    /// Files and apparent bytes under `directory`, down to `depth` levels, without holtfs's own files.
    static func diskUsage(directory: String, depth: Int) -> (files: Int, bytes: Int) {
        guard depth > 0, let handle = opendir(directory) else { return (0, 0) }
        defer { closedir(handle) }
        var files = 0
        var bytes = 0
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." || name == "holtfs.log" || name == DatabaseLock.fileName || name == ControlSocket.fileName { continue }
            let child = directory + "/" + name
            guard case .success(let info) = Posix.linkStatus(child) else { continue }
            if Posix.isDirectory(info) {
                let (innerFiles, innerBytes) = diskUsage(directory: child, depth: depth - 1)
                files += innerFiles
                bytes += innerBytes
            } else {
                files += 1
                bytes += Int(info.st_size)
            }
        }
        return (files, bytes)
    }
}
