#if canImport(Glibc)
import Glibc
#endif
import HoltEngine
import Synchronization

/// A database opened by an offline command (`check`, `stats`, `dump`, `compact`): the holtfs lock
/// first, so a mounted database is refused with a line naming its daemon, then the tree
/// (replaying its log).
///
/// An offline reader must leave the database as it found it, but `Tree.close` (and `Tree`'s
/// `deinit`) checkpoints, which writes. So `finish()` does not close the tree: it parks it where
/// it is never released, and the process exits right after. A command that writes anyway
/// (`compact`) ends with `close(operation:)` instead. (Opening can still cut a torn log
/// tail; a read-only open in the engine would remove both caveats.)
struct OfflineDatabase {
    /// The open tree.
    let tree: Tree
    /// The held holtfs lock (`nil` when the database has no `holtfs.pid`: never mounted).
    private let lock: DatabaseLock?
    /// What the lock file said before this command wrote its own line, restored at close.
    private let previousInfo: [String: String]

    /// Trees that must never be deinitialized (see the type's summary).
    private static let parked = Mutex<[Tree]>([])

    /// Exit status when the database could not be opened for a reason other than damage.
    static let cannotOpenStatus: Int32 = 2

    /// Opens the existing database `path` for `operation`.
    ///
    /// - Throws: A failure with exit status 2 when the path is not a directory or the database is
    ///   in use or cannot be opened, and 1 when the engine reports damage (`.corrupted`).
    init(path: String, operation: String) throws(CommandFailure) {
        func fail(_ reason: String, status: Int32 = Self.cannotOpenStatus) -> CommandFailure {
            CommandFailure(operation: operation, path: path, reason: reason, exitCode: status)
        }
        guard !path.isEmpty else { throw fail("empty database path") }
        // A mounted database (given by its directory or its mount point) is the daemon's alone.
        let mounted: MountedDatabase?
        do { mounted = try MountedDatabase.find(path, operation: operation) } catch { throw fail(error.reason) }
        if let mounted { throw fail(mounted.refusal(operation: operation)) }
        switch Posix.fileStatus(path) {
        case .failure(let error): throw fail("cannot open the database: \(error)")
        case .success(let info) where !Posix.isDirectory(info): throw fail("not a database directory")
        case .success: break
        }
        do { lock = try DatabaseLock.acquire(database: path, create: false) } catch {
            throw fail(error.reason(database: path))
        }
        previousInfo = DatabaseLock.readInfo(database: path)
        lock?.record([("pid", String(getpid())), ("state", "open"), ("command", operation)])
        do {
            tree = try Tree.open(path: path, options: Options(cacheBytes: 64 << 20, sync: .always, createIfMissing: false))
        } catch {
            Self.restore(lock: lock, info: previousInfo)
            if case .corrupted = error { throw fail(error.description, status: 1) }
            throw fail(error.description)
        }
    }

    /// Opens the existing database `path` for `operation` as `init` does, saying so on the
    /// one-line `progress` display meanwhile (opening replays the log, which can take a while).
    ///
    /// - Throws: As `init`; the progress line is cleared first.
    static func open(path: String, operation: String, progress: Progress) throws(CommandFailure) -> OfflineDatabase {
        progress.show("opening \(path) (replaying the log)")
        do { return try OfflineDatabase(path: path, operation: operation) } catch {
            progress.clear()
            throw error
        }
    }

    /// What opening found and repaired, as lines for the user (empty after a clean close).
    var recoveryNotes: [String] {
        var notes: [String] = []
        let report = tree.recovery
        if report.replayedBatches > 0 {
            notes.append("replayed \(report.replayedBatches) logged batches after the last checkpoint (it was not closed cleanly)")
        }
        if report.tornBytesCut > 0 {
            notes.append("cut \(report.tornBytesCut) bytes of a torn record at the end of the log (a write never acknowledged)")
        }
        return notes
    }

    private static func restore(lock: DatabaseLock?, info: [String: String]) {
        let known = ["pid", "state", "mountpoint"]
        let restored = known.compactMap { key in info[key].map { (key, $0) } }
            + info.filter { !known.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        lock?.record(restored)
        lock?.release()
    }

    /// Ends the offline use: parks the tree unclosed (see the type's summary), restores the lock
    /// file and releases the lock. The caller exits soon after.
    func finish() {
        Self.parked.withLock { $0.append(tree) }
        Self.restore(lock: lock, info: previousInfo)
    }

    /// Ends an offline use that writes (`compact`): closes the tree (its final checkpoint),
    /// restores the lock file and releases the lock.
    ///
    /// - Throws: A failure of `operation` when the close fails (the lock is released anyway).
    func close(operation: String) throws(CommandFailure) {
        defer { Self.restore(lock: lock, info: previousInfo) }
        do { try tree.close() } catch {
            throw CommandFailure(operation: operation, path: tree.path, reason: "closing the database failed: \(error)")
        }
    }

    /// Every entry below `prefix`, in key order, in pages of `pageSize`, handed to `body`.
    ///
    /// - Throws: The engine's error as a failure of `operation` (exit 1 for `.corrupted`).
    func forEachEntry(
        prefix: [UInt8], operation: String, pageSize: Int = 4096,
        _ body: (_ key: [UInt8], _ value: [UInt8]) throws(CommandFailure) -> Void
    ) throws(CommandFailure) {
        var startAfter: [UInt8]?
        while true {
            let page: [RangeItem]
            do { page = try tree.range(prefix: prefix, startAfter: startAfter, limit: pageSize) } catch {
                let status: Int32 = if case .corrupted = error { 1 } else { Self.cannotOpenStatus }
                throw CommandFailure(operation: operation, path: tree.path, reason: error.description, exitCode: status)
            }
            for item in page {
                if case .entry(let key, let value) = item { try body(key, value) }
            }
            guard page.count == pageSize, let last = page.last else { return }
            startAfter = last.position
        }
    }
}
