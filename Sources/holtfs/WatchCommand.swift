#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import HoltFS

/// `holtfs watch MNT [PATH] [--from LSN] [--json]`: the namespace's changes as they commit.
///
/// The mounted database is locked by its daemon, so the changes come through the daemon's
/// control socket (`WatchService`), translated from the engine's change feed into namespace
/// events (`NamespaceTranslator`). Every event carries the LSN of its batch; `--from` that LSN
/// resumes right after it, also after a remount, as long as the log still holds the batches
/// (see docs/OPERATIONS.md, "The change feed").
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a mount's namespace changes as they commit (recursive, lossless, resumable).",
        discussion: """
            One line per change of the namespace under PATH (relative to the mount's root, or an \
            absolute path inside the mount; default: everything): create, mkdir, symlink, link, \
            remove, rename (also of a directory, with everything below it), write, setattr, xattr. \
            Each line starts with the LSN of the batch that made the change; --from LSN starts \
            right after that batch (also after a remount, while the database's log still holds \
            it), otherwise the command starts with what commits from now on. With --name NAME the \
            database keeps, for that durable consumer, the changes it has not printed yet (across \
            remounts, within the retention bound), and a later --name NAME without --from goes on \
            where it stopped (a line printed just before a kill may come again). A change is shown \
            once it is durable. --json prints one JSON object per line, e.g. \
            {"lsn":12,"op":"rename","from":"a/b","to":"a/c","kind":"file","ino":7}. Runs until \
            interrupted or until the mount goes away. Asked over DB/control.sock (the mount's \
            owner and root only). Exit status: 1 for no such mount, a bad LSN, an LSN the log no \
            longer holds, or a stream that ended.
            """)

    @Argument(help: "A holtfs mount point (or the directory of a mounted database).")
    var mountpoint: String

    @Argument(help: "Only changes at or below this path (relative to the mount's root).")
    var path: String?

    @Option(help: "Start right after the batch with this LSN (from an earlier line), instead of now.")
    var from: String?

    @Flag(help: "Print one JSON object per line.")
    var json = false

    @Option(help: "A durable consumer name: the database's log keeps what it has not printed (across remounts, within the retention bound), and without --from the watch resumes where it left off.")
    var name: String?

    /// Streams the changes until the daemon ends the stream.
    func run() throws(CommandFailure) {
        let target = Posix.absolute(mountpoint)
        func fail(_ reason: String) -> CommandFailure { CommandFailure(operation: "watch", path: target, reason: reason) }
        guard case .mounted(let mounted) = try DatabaseTarget.resolve(mountpoint, operation: "watch") else {
            throw fail("not a mounted holtfs database")
        }
        let subtree = try Self.subtree(path, mountpoint: mounted.mountpoint, target: target)
        var position = name == nil ? "now" : "acked"
        if let from {
            guard let number = UInt64(from) else { throw fail("bad LSN '\(from)': a decimal number") }
            position = String(number)
        }
        if let name {
            guard !name.isEmpty, name.utf8.count <= 255, !name.contains(" "), !name.contains("\n"), name != "-" else {
                throw fail("bad consumer name '\(name)': 1 to 255 bytes, no spaces")
            }
        }
        var failure: CommandFailure?
        var started = false
        var printed: UInt64 = 0
        var acknowledged: UInt64 = 0
        let request = "watch \(position) \(name ?? "-") \(subtree)"
        let outcome = ControlSocket.stream(database: mounted.database, request, reply: { () -> String? in
            // Printed and flushed: the consumer may move past it.
            guard name != nil, printed > acknowledged else { return nil }
            acknowledged = printed
            return "ack \(printed)"
        }) { line in
            if line.hasPrefix("error ") {
                failure = fail(String(line.dropFirst("error ".count)))
                return false
            }
            if !started {
                started = line.hasPrefix("ok ")
                if !started { failure = fail("the daemon's answer is not a stream: \(line.prefix(200))") }
                return started
            }
            let event = Self.event(fromJSON: line)
            if line.contains("\"op\":\"none\"") {
                // A batch with no event under PATH: only the position moves.
            } else if json || event == nil {
                print(line)
            } else if let event {
                print(event.text())
            }
            fflush(nil)  // each line as it comes, also into a pipe
            if let lsn = event?.lsn ?? Self.lsn(ofNoneLine: line) { printed = max(printed, lsn) }
            return true
        }
        if case .failure(let error) = outcome { throw fail("no change feed: \(error)") }
        if let failure { throw failure }
        throw fail(started ? "the daemon ended the stream (the mount went away)" : "the daemon sent no answer")
    }

    /// The subtree `path` names, relative to the mount's root (`""`: all of it).
    static func subtree(_ path: String?, mountpoint: String, target: String) throws(CommandFailure) -> String {
        guard var path, !path.isEmpty else { return "" }
        if path.hasPrefix("/") {
            let absolute = Posix.normalize(path)
            if absolute == mountpoint { return "" }
            guard absolute.hasPrefix(mountpoint + "/") else {
                throw CommandFailure(operation: "watch", path: target, reason: "\(path) is not inside the mount")
            }
            path = String(absolute.dropFirst(mountpoint.count + 1))
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            guard part != ".." else {
                throw CommandFailure(operation: "watch", path: target, reason: "\(path): '..' is not allowed in PATH")
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// The LSN of a `{"lsn":N,"op":"none"}` line.
    static func lsn(ofNoneLine line: String) -> UInt64? {
        guard line.hasPrefix("{\"lsn\":") else { return nil }
        return UInt64(line.dropFirst(7).prefix { $0.isNumber })
    }

    /// The event a line of the daemon's stream holds, or nil when it does not parse.
    static func event(fromJSON line: String) -> NamespaceEvent? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let lsn = (object["lsn"] as? NSNumber)?.uint64Value,
            let operation = (object["op"] as? String).flatMap(NamespaceEvent.Operation.init(rawValue:))
        else { return nil }
        let isRename = operation == .rename
        return NamespaceEvent(
            lsn: lsn, operation: operation, path: object[isRename ? "to" : "path"] as? String,
            from: isRename ? object["from"] as? String : nil, kind: object["kind"] as? String,
            ino: (object["ino"] as? NSNumber)?.uint64Value)
    }
}
