#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine
import HoltFS

/// `holtfs dump DB`: the database offline, either as its keys with their decoded records (the
/// default, for people), or with `--json` as the whole filesystem in JSON Lines, which
/// `holtfs load` reads back into a new database.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a database offline: its keys with their decoded records, or (--json) the whole filesystem for holtfs load.",
        discussion: """
            Without --json: one key per line, with its decoded inode record (FSDump); --keys --json \
            prints the same as JSON lines {"key", "size", "record"}. PREFIX limits either to the keys \
            starting with it.

            With --json (and no --keys): the whole filesystem as JSON Lines on stdout, streamed: \
            directories, files with their data (base64), symlinks, hard links (each inode once, \
            then its other names), fifos, sockets and devices, with modes, owners, times in ns, inode \
            numbers and xattrs; plain values and prefixes written by the engine alone as what they \
            are. `holtfs load FILE NEWDB` rebuilds it. The format is in docs/FORMAT.md. Progress goes \
            to stderr when stderr is a terminal.

            A mounted database (its mount point or its directory) is dumped by its daemon from one \
            snapshot, while the mount goes on serving: every mode prints one committed state, never \
            half of a rename or any other operation.
            """)

    @Argument(help: "The database directory, or a holtfs mount point.")
    var database: String

    @Argument(help: "Only keys starting with these bytes (e.g. a/b); the key listing only.")
    var prefix: String = ""

    @Flag(help: "The whole filesystem as JSON Lines (what holtfs load reads); with --keys, the key listing as JSON lines.")
    var json = false

    @Flag(help: "The key listing (the default without --json).")
    var keys = false

    func validate() throws {
        if json && !keys && !prefix.isEmpty {
            throw ValidationError("PREFIX applies to the key listing (--keys) only; --json dumps the whole filesystem")
        }
    }

    /// Opens, writes, closes.
    func run() throws(CommandFailure) {
        guard !database.isEmpty else { throw CommandFailure(operation: "dump", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        let db = Posix.absolute(database)
        if case .mounted(let mounted) = try DatabaseTarget.resolve(database, operation: "dump") {
            try dumpLive(mounted, target: db)
            return
        }
        if json && !keys {
            try dumpFilesystem(db)
            return
        }
        let opened = try OfflineDatabase(path: db, operation: "dump")
        defer { opened.finish() }
        var output = BufferedOutput()
        try opened.forEachEntry(prefix: Array(prefix.utf8), operation: "dump") { key, value in
            output.write(Self.keyLine(key: key, value: value, json: json))
        }
        output.flush()
    }

    /// One line of the key listing: the key and its decoded record, or (`json`) a JSON object.
    static func keyLine(key: [UInt8], value: [UInt8], json: Bool) -> String {
        let record = FSDump.describe(key: key, value: value)
        if json {
            return "{\"key\":\(JSON.string(key)),\"size\":\(value.count),\"record\":\(JSON.string(Array(record.utf8)))}"
        }
        return CommandFailure.oneLine(record)
    }

    /// A mounted database: its daemon dumps a snapshot (`SnapshotRequests`) and this prints it.
    private func dumpLive(_ mounted: MountedDatabase, target: String) throws(CommandFailure) {
        let request = json && !keys ? "dump fs" : "dump \(json ? "keys-json" : "keys") \(Hex.encode(Array(prefix.utf8)))"
        let output = StreamOutput(fd: STDOUT_FILENO)
        var written = true
        try SnapshotRequests.request(request, to: mounted, operation: "dump", target: target) { bytes in
            if written { written = output.write(bytes) }
        }
        guard written, output.flush() else {
            throw CommandFailure(operation: "dump", path: target, reason: "cannot write the dump: \(Errno(errno))")
        }
    }

    /// `--json`: the filesystem as JSON Lines through `FSExporter`.
    private func dumpFilesystem(_ db: String) throws(CommandFailure) {
        let progress = Progress(enabled: isatty(STDERR_FILENO) != 0)
        let opened = try OfflineDatabase.open(path: db, operation: "dump", progress: progress)
        defer { opened.finish() }
        let exporter = FSExporter(tree: opened.tree)
        let output = StreamOutput(fd: STDOUT_FILENO)
        let started = Posix.monotonicSeconds()
        var shown = started
        exporter.progress = { counts in
            let now = Posix.monotonicSeconds()
            guard progress.enabled, now - shown >= 0.2 else { return }
            shown = now
            progress.show("dumped \(counts.entries) entries, \(counts.dataBytes >> 20) MiB of data, \(Int(now - started)) s")
        }
        do throws(FSDumpError) {
            try exporter.run { (line) throws(FSDumpError) in
                guard output.write(line) else { throw .output(reason: "cannot write the dump: \(Errno(errno))") }
            }
            guard output.flush() else { throw FSDumpError.output(reason: "cannot write the dump: \(Errno(errno))") }
        } catch {
            progress.clear()
            let status: Int32
            switch error {
            case .engine(.corrupted), .damaged: status = 1
            default: status = OfflineDatabase.cannotOpenStatus
            }
            throw CommandFailure(operation: "dump", path: db, reason: error.description, exitCode: status)
        }
        progress.clear()
    }
}

/// Bytes for a file descriptor, written in chunks of 1 MiB.
final class StreamOutput {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(1 << 20 + (1 << 17))
    }

    /// Adds `bytes`; writes the buffer out past 1 MiB. False when a write failed (errno says why).
    func write(_ bytes: [UInt8]) -> Bool {
        buffer.append(contentsOf: bytes)
        return buffer.count >= 1 << 20 ? flush() : true
    }

    /// Writes what is buffered. False when a write failed.
    func flush() -> Bool {
        defer { buffer.removeAll(keepingCapacity: true) }
        return Posix.writeAll(fd, buffer)
    }
}

/// Lines for stdout, written in large chunks.
struct BufferedOutput {
    private var buffer: [UInt8] = []

    /// Adds `line` and a newline; flushes past 64 KiB.
    mutating func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes what is buffered.
    mutating func flush() {
        Posix.writeAll(1, buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// The few JSON encodings the command prints.
enum JSON {
    /// `bytes` as a JSON string: UTF-8 text escaped; a byte that is not valid UTF-8 becomes U+FFFD
    /// unless the whole string is invalid, in which case it is `"hex:<hex digits>"`.
    static func string(_ bytes: [UInt8]) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return "\"hex:" + Hex.encode(bytes) + "\""
        }
        return JSONText.quoted(text)
    }
}
