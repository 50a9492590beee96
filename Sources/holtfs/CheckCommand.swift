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
            2 could not check (in use, missing, unreadable).
            """)

    @Argument(help: "The database directory.")
    var database: String

    /// Opens, verifies, prints.
    func run() throws(CommandFailure) {
        guard !database.isEmpty else { throw CommandFailure(operation: "check", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        let db = Posix.absolute(database)
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
        for problem in problems {
            print(CommandFailure(operation: "check", path: db, reason: problem).description)
        }
        if !problems.isEmpty {
            throw CommandFailure(
                operation: "check", path: db, reason: "\(problems.count) problem\(problems.count == 1 ? "" : "s") found",
                exitCode: 1)
        }
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
