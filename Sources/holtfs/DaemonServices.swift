#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HoltFS
import Logging
import Synchronization

/// What a mount daemon serves besides the mount: the control socket (`holtfs stats`, `holtfs
/// compact`, `holtfs watch`, and `holtfs dump`/`check` of the mounted database from a snapshot) and, with
/// `--metrics`, the Prometheus endpoint. Each runs on a plain thread of its own.
///
/// Lifecycle, driven by `MountServer`: `prepare` before the `HoltMount` is made (it bootstraps
/// swift-metrics and binds the metrics address, so a bad or busy address fails the mount before
/// anything is mounted); `start` once the mount is up; `stop` after the session ends and before
/// the tree is closed.
final class DaemonServices: Sendable {
    private let settings: MountSettings
    private let logger: Logger
    /// When the daemon started, on the monotonic clock.
    private let started: Double
    private let metrics: MetricsEndpoint?
    private let control = Mutex<ListeningSocket?>(nil)
    /// Whether a `compact` request runs, and whether `stop` has closed the door to new ones: the
    /// tree is closed right after `stop` returns, and a compaction must never run into that.
    private let compaction = Mutex<CompactionGate>(.idle)
    /// The `holtfs watch` streams (each on a thread of its own).
    private let watches: WatchService

    /// The states of `compaction`.
    private enum CompactionGate {
        case idle, running, closed
    }

    private init(settings: MountSettings, logger: Logger, started: Double, metrics: MetricsEndpoint?) {
        self.settings = settings
        self.logger = logger
        self.started = started
        self.metrics = metrics
        watches = WatchService(logger: logger)
    }

    /// Bootstraps the metrics and binds their address when `settings` ask for them.
    ///
    /// - Throws: A one-line failure naming the address when it cannot be bound.
    static func prepare(settings: MountSettings, logger: Logger, started: Double) throws(CommandFailure) -> DaemonServices {
        var endpoint: MetricsEndpoint?
        if let address = settings.metrics {
            do throws(Errno) {
                endpoint = try MetricsEndpoint(address: address, logger: logger)
            } catch {
                throw CommandFailure(
                    operation: "mount", path: settings.mountpoint, reason: "cannot serve metrics on \(address.text): \(error)")
            }
            logger.info("metrics at http://\(endpoint!.address.text)/metrics")
        }
        return DaemonServices(settings: settings, logger: logger, started: started, metrics: endpoint)
    }

    /// Starts serving the control socket and the metrics for `mount`. A control socket that cannot
    /// be made is logged, not fatal: the mount works without it (`holtfs stats` then says so).
    func start(mount: HoltMount) {
        metrics?.start(mount: mount, started: started)
        switch ControlSocket.listen(database: settings.database) {
        case .success(let listener):
            control.withLock { $0 = listener }
            logger.debug("control socket at \(ControlSocket.path(database: settings.database))")
            listener.start(name: "holtfs-control") { [self] fd in
                answer(fd, mount: mount)
            }
        case .failure(let error):
            logger.warning("cannot make the control socket \(ControlSocket.path(database: settings.database)): \(error); holtfs stats will show no live counters")
        }
    }

    /// Stops both servers and removes the control socket; waits for a running compaction to end
    /// (the unmount has happened, so it runs alone and ends) and refuses later ones, so the tree
    /// can be closed once this returns.
    func stop() {
        if let listener = control.withLock({ $0 }) {
            listener.stop()
            unlink(ControlSocket.path(database: settings.database))
        }
        watches.stop()
        while !compaction.withLock({ gate -> Bool in
            guard gate != .running else { return false }
            gate = .closed
            return true
        }) {
            Posix.pause(milliseconds: 5)
        }
        metrics?.stop()
    }

    /// Answers `compact`: compacts the database on this thread while the mount goes on serving,
    /// then sends the report (or one `error` line). Other control requests wait meanwhile.
    private func compact(_ fd: Int32, mount: HoltMount) {
        let admitted = compaction.withLock { gate -> Bool in
            guard gate == .idle else { return false }
            gate = .running
            return true
        }
        guard admitted else {
            ListeningSocket.send(fd, Array("error the daemon is unmounting: no compaction now\n".utf8))
            return
        }
        defer { compaction.withLock { $0 = $0 == .running ? .idle : $0 } }
        logger.info("control: compacting the database")
        let started = Posix.monotonicSeconds()
        do throws(FSError) {
            let compaction = try mount.compact()
            let report = CompactReport(
                compaction, database: settings.database, state: "mounted", seconds: Posix.monotonicSeconds() - started)
            logger.info("control: compacted in \(String(format: "%.2f", report.seconds)) s: \(report.text())")
            ListeningSocket.send(fd, Array(report.json().utf8))
        } catch {
            logger.error("control: compaction failed: \(error)")
            ListeningSocket.send(fd, Array("error compaction failed: \(CommandFailure.oneLine(error.description))\n".utf8))
        }
    }

    /// Answers one control request on `fd`.
    private func answer(_ fd: Int32, mount: HoltMount) {
        let peer = ControlSocket.peerUID(fd)
        guard let peer, peer == 0 || peer == geteuid() else {
            logger.warning("control: refused a request from uid \(peer.map { String($0) } ?? "?")")
            ListeningSocket.send(fd, Array("error only the mount's owner and root may ask\n".utf8))
            return
        }
        let request = ListeningSocket.read(fd, until: [UInt8(ascii: "\n")], limit: 4096)
        let line = String(decoding: request.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        logger.debug("control: '\(line)' from uid \(peer)")
        switch line {
        case "stats":
            let report = StatsReport.live(
                mount: mount, database: settings.database, mountpoint: settings.mountpoint, started: started,
                logLevel: settings.logLevel.rawValue, metrics: metrics?.address.text)
            ListeningSocket.send(fd, Array(report.json().utf8))
        case "compact":
            compact(fd, mount: mount)
        case let watch where watch.hasPrefix("watch "):
            watches.start(fd, request: watch, mount: mount)
        case _ where SnapshotRequests.handles(line):
            SnapshotRequests.answer(fd, line: line, mount: mount)
        default:
            ListeningSocket.send(fd, Array("error unknown request '\(CommandFailure.oneLine(line))'\n".utf8))
        }
    }
}
