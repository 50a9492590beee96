#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine

/// `holtfs compact DB|MNT`: gives a database's free space back to the file system now.
///
/// Offline (a database no one has mounted) it opens the database, runs `Tree.compact()` and
/// closes it. For a mounted database (given by its mount point or its directory) it asks the
/// daemon over the control socket (`DB/control.sock`), which compacts while it goes on serving
/// and answers with the report. Either way it prints one line, or the report as JSON (`--json`).
struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Give a database's free space back to the file system now (offline, or through a mount's daemon).",
        discussion: """
            Squeezes the dead bytes out of blobs, moves blobs from the end of the blob file into \
            free slots nearer its front, cuts the free tail off the file and punches holes where \
            free slots are; the engine does the same by itself in the background, this does it \
            now. A mounted database (its mount point or its directory) is compacted by its daemon \
            while it serves, asked over DB/control.sock (the mount's owner and root only). Prints \
            one line: reclaimed bytes, bytes on disk before and after, the blob file's size before \
            and after, blobs moved and compacted; --json prints the report as one JSON object. \
            Exit status: 0 done, 1 the compaction or the daemon failed, 2 not a database.
            """)

    @Argument(help: "The database directory or a holtfs mount point.")
    var path: String

    @Flag(help: "Print the report as one JSON object (one line).")
    var json = false

    /// How long the daemon may take to answer: a compaction of a large database takes a while.
    static let daemonTimeoutSeconds = 3600

    /// Compacts and prints the report.
    func run() throws(CommandFailure) {
        let report: CompactReport
        switch try DatabaseTarget.resolve(path, operation: "compact") {
        case .mounted(let mounted): report = try compactLive(mounted)
        case .offline(let target): report = try compactOffline(target)
        }
        print(json ? report.json() : report.text())
    }

    /// Asks the daemon of `mounted` to compact.
    private func compactLive(_ mounted: MountedDatabase) throws(CommandFailure) -> CompactReport {
        let target = Posix.absolute(path)
        switch ControlSocket.request(database: mounted.database, "compact", timeoutSeconds: Self.daemonTimeoutSeconds) {
        case .success(let answer):
            guard let report = CompactReport.decode(answer) else {
                throw CommandFailure(
                    operation: "compact", path: target,
                    reason: "the daemon's answer is not a report: \(String(decoding: answer.prefix(200), as: UTF8.self))")
            }
            return report
        case .failure(let failure):
            throw CommandFailure(
                operation: "compact", path: target,
                reason: "cannot ask the daemon (pid \(mounted.pid), mounted at \(mounted.mountpoint)): \(failure)")
        }
    }

    /// Opens `database`, compacts it and closes it.
    private func compactOffline(_ database: String) throws(CommandFailure) -> CompactReport {
        let progress = Progress(enabled: isatty(STDERR_FILENO) != 0)
        let opened = try OfflineDatabase.open(path: database, operation: "compact", progress: progress)
        progress.show("compacting \(database)")
        let started = Posix.monotonicSeconds()
        let compaction: CompactionReport
        do { compaction = try opened.tree.compact() } catch {
            progress.clear()
            try? opened.close(operation: "compact")
            throw CommandFailure(operation: "compact", path: database, reason: "compaction failed: \(error)")
        }
        let seconds = Posix.monotonicSeconds() - started
        progress.clear()
        try opened.close(operation: "compact")
        return CompactReport(compaction, database: database, state: "offline", seconds: seconds)
    }
}
