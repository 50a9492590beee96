#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine
import HoltFS

/// `holtfs check DB`: opens the database offline (replaying its log), verifies the engine's
/// structures and the file system's inode records, and prints every problem found.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify a database offline: every blob, the tree, and the inode records.",
        discussion: """
            Opening replays the log, so a database left by a crash is checked as it will mount; \
            what the replay did is printed as `holtfs: check DB: note: ...`. The database is not \
            checkpointed or otherwise written (but a torn record at the log's end is cut). Each \
            problem is printed as `holtfs: check DB: <problem>`. Exit status: 0 clean, 1 damaged, \
            2 could not check (missing, unreadable).

            A mounted database (its mount point or its directory) is checked by its daemon from \
            one snapshot while the mount goes on serving: the tree's structure as of one committed \
            batch and the inode records; the blobs' checksums on disk are read only offline.
            """)

    @Argument(help: "The database directory, or a holtfs mount point.")
    var database: String

    /// Opens, verifies, prints.
    func run() throws(CommandFailure) {
        guard !database.isEmpty else { throw CommandFailure(operation: "check", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        let db = Posix.absolute(database)
        if case .mounted(let mounted) = try DatabaseTarget.resolve(database, operation: "check") {
            try checkLive(mounted, target: db)
            return
        }
        let progress = Progress(enabled: isatty(STDERR_FILENO) != 0)
        let opened = try OfflineDatabase.open(path: db, operation: "check", progress: progress)
        defer { opened.finish() }
        var problems: [String] = []
        progress.show("verifying the tree")
        do { problems += try opened.tree.verify() } catch {
            progress.clear()
            let status: Int32 = if case .corrupted = error { 1 } else { OfflineDatabase.cannotOpenStatus }
            throw CommandFailure(operation: "check", path: db, reason: error.description, exitCode: status)
        }
        progress.show("checking the inode records")
        problems += FSCheck.check(tree: opened.tree)
        progress.clear()
        for note in opened.recoveryNotes {
            print(CommandFailure(operation: "check", path: db, reason: "note: " + note).description)
        }
        try Self.report(problems, path: db)
    }

    /// Prints each problem in one line and fails with exit status 1 when there is any.
    private static func report(_ problems: [String], path: String) throws(CommandFailure) {
        for problem in problems {
            print(CommandFailure(operation: "check", path: path, reason: problem).description)
        }
        if !problems.isEmpty {
            throw CommandFailure(
                operation: "check", path: path, reason: "\(problems.count) problem\(problems.count == 1 ? "" : "s") found",
                exitCode: 1)
        }
    }
}

extension CheckCommand {
    /// A mounted database: its daemon checks a snapshot (`SnapshotRequests`); each problem is
    /// printed as offline.
    private func checkLive(_ mounted: MountedDatabase, target: String) throws(CommandFailure) {
        var answer: [UInt8] = []
        try SnapshotRequests.request("check", to: mounted, operation: "check", target: target) { answer += $0 }
        let problems = answer.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
        try Self.report(problems, path: target)
    }
}

/// A one-line progress display on stderr, redrawn in place; silent when stderr is not a terminal.
struct Progress {
    /// Whether to draw anything.
    let enabled: Bool

    /// Replaces the progress line with `text`.
    func show(_ text: String) {
        guard enabled else { return }
        Posix.writeAll(STDERR_FILENO, Array("\r\u{1B}[Kholtfs: \(text)...".utf8))
    }

    /// Erases the progress line.
    func clear() {
        guard enabled else { return }
        Posix.writeAll(STDERR_FILENO, Array("\r\u{1B}[K".utf8))
    }
}
