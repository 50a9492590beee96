#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine
import HoltFS

/// `holtfs load FILE DB`: rebuilds the JSON Lines of `holtfs dump DB --json` into a new database.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Rebuild a dump (holtfs dump DB --json) into a new database.",
        discussion: """
            FILE is the dump (- for standard input); DB must be missing, an empty directory, or a \
            holt database without a key: anything else is refused. Inode numbers, modes, owners, \
            times (ctime too), xattrs, hard links and sparse files come back as dumped, so the \
            new database mounts with the same stat answers; `holtfs check DB` finds it clean. A \
            load that fails leaves a partial database: remove DB and load again. Progress goes to \
            stderr when stderr is a terminal.
            """)

    @Argument(help: "The dump file, or - for standard input.")
    var file: String

    @Argument(help: "The new database directory.")
    var database: String

    @Option(name: .customLong("cache-mb"), help: "The engine's cache budget while loading, in MiB (default 256).")
    var cacheMegabytes: Int = 256

    func validate() throws {
        guard cacheMegabytes >= 8 else { throw ValidationError("--cache-mb must be at least 8") }
    }

    /// Opens both, loads, closes.
    func run() throws(CommandFailure) {
        guard !file.isEmpty else { throw CommandFailure(operation: "load", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        guard !database.isEmpty else { throw CommandFailure(operation: "load", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        let db = Posix.absolute(database)
        func fail(_ reason: String, path: String = db, status: Int32 = 1) -> CommandFailure {
            CommandFailure(operation: "load", path: path, reason: reason, exitCode: status)
        }

        // The input first: a missing dump creates no database.
        let input: Int32
        if file == "-" {
            input = STDIN_FILENO
        } else {
            input = open(file, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw fail("cannot open the dump: \(Errno(errno))", path: Posix.absolute(file), status: 2) }
        }
        defer { if input != STDIN_FILENO { close(input) } }
        var info = Glibc.stat()
        let inputSize: Int? = fstat(input, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : nil

        // The database: missing, empty, or a holt database without keys.
        var created = false
        switch Posix.fileStatus(db) {
        case .failure(let error) where error.code == ENOENT:
            if case .failure(let error) = Posix.makeDirectories(db) { throw fail("cannot create the database: \(error)", status: 2) }
            created = true
        case .failure(let error):
            throw fail("cannot open the database: \(error)", status: 2)
        case .success(let info) where !Posix.isDirectory(info):
            throw fail("not a database directory", status: 2)
        case .success:
            created = Self.isEmptyDirectory(db)
            // Touch nothing in a directory that holds something other than a database.
            if !created, case .failure = Posix.fileStatus(db + "/MANIFEST") {
                throw fail("not empty and not a holt database: load needs a new database", status: 2)
            }
        }
        let lock: DatabaseLock?
        do { lock = try DatabaseLock.acquire(database: db, create: true) } catch {
            throw fail(error.reason(database: db), status: 2)
        }
        lock?.record([("pid", String(getpid())), ("state", "open"), ("command", "load")])
        defer { lock?.release() }
        let tree: Tree
        do {
            tree = try Tree.open(path: db, options: Options(cacheBytes: cacheMegabytes << 20, sync: .none, createIfMissing: created))
        } catch {
            lock?.record([("state", "closed")])
            if case .notADatabase = error { throw fail("not empty and not a holt database: load needs a new database", status: 2) }
            throw fail(error.description, status: 2)
        }
        let holdsKeys: Bool
        do { holdsKeys = try tree.hasKeys(withPrefix: []) } catch {
            try? tree.close()
            lock?.record([("state", "closed")])
            throw fail(error.description, status: 2)
        }
        if holdsKeys {
            try? tree.close()
            lock?.record([("state", "closed")])
            throw fail("the database is not empty: load needs a new database", status: 2)
        }

        let progress = Progress(enabled: isatty(STDERR_FILENO) != 0)
        let importer = FSImporter(tree: tree)
        let started = Posix.monotonicSeconds()
        var shown = started
        var consumed = 0
        let result = Self.readLines(input) { (line) throws(FSDumpError) in
            try importer.load(line: line)
            consumed += line.count + 1
            if progress.enabled, importer.lineNumber % 1024 == 0 {
                let now = Posix.monotonicSeconds()
                if now - shown >= 0.2 {
                    shown = now
                    let share = inputSize.map { size in size > 0 ? " (\(consumed * 100 / size)%)" : "" } ?? ""
                    progress.show("loaded \(importer.counts.entries) entries, \(importer.counts.dataBytes >> 20) MiB of data\(share), \(Int(now - started)) s")
                }
            }
        }
        var failure: CommandFailure? = nil
        switch result {
        case .failure(.read(let error)):
            failure = fail("cannot read the dump: \(error)")
        case .failure(.load(let error)):
            failure = fail(error.description)
        case .success:
            progress.show("making the database durable")
            do { try importer.finish() } catch { failure = fail(error.description) }
        }
        do { try tree.close() } catch {
            if failure == nil { failure = fail("closing: \(error)") }
        }
        progress.clear()
        lock?.record([("state", "closed")])
        if var failure {
            failure.reason += " (the partial database is left in place: remove it and load again)"
            throw failure
        }
    }

    /// Why reading lines stopped.
    enum LineFailure: Error {
        case read(Errno)
        case load(FSDumpError)
    }

    /// Hands every line of `fd` (without its newline) to `body`, reading 1 MiB at a time.
    static func readLines(_ fd: Int32, _ body: (ArraySlice<UInt8>) throws(FSDumpError) -> Void) -> Result<Void, LineFailure> {
        let blockSize = 1 << 20
        var buffer = [UInt8](repeating: 0, count: blockSize)
        var carry: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.read(Errno(errno)))
            }
            if count == 0 { break }
            var start = 0
            do {
                while let newline = buffer[start..<count].firstIndex(of: UInt8(ascii: "\n")) {
                    if carry.isEmpty {
                        try body(buffer[start..<newline])
                    } else {
                        carry.append(contentsOf: buffer[start..<newline])
                        try body(carry[...])
                        carry.removeAll(keepingCapacity: true)
                    }
                    start = newline + 1
                }
            } catch {
                return .failure(.load(error))
            }
            carry.append(contentsOf: buffer[start..<count])
        }
        if !carry.isEmpty {
            do { try body(carry[...]) } catch { return .failure(.load(error)) }
        }
        return .success(())
    }

    /// Whether `path` is a directory without entries.
    static func isEmptyDirectory(_ path: String) -> Bool {
        guard let directory = opendir(path) else { return false }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { return false }
        }
        return true
    }
}
