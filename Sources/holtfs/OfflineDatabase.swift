#if canImport(Glibc)
import Glibc
#endif
import HoltEngine

/// A database opened by an offline command (`check`, `stats`, `dump`): the holtfs lock first, so
/// a mounted database is refused with a line naming its daemon, then the tree (replaying its log).
struct OfflineDatabase {
    /// The open tree.
    let tree: Tree
    /// The held holtfs lock (`nil` when the database has no `holtfs.pid`: never mounted).
    private let lock: DatabaseLock?
    /// What the lock file said before this command wrote its own line, restored at close.
    private let previousInfo: [String: String]

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
            if case .corrupted = error { throw fail(error.description, status: 1) }
            throw fail(error.description)
        }
    }

    /// Closes the tree, then releases the lock.
    func close(operation: String) throws(CommandFailure) {
        defer {
            let known = ["pid", "state", "mountpoint"]
            let restored = known.compactMap { key in previousInfo[key].map { (key, $0) } }
                + previousInfo.filter { !known.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            lock?.record(restored)
            lock?.release()
        }
        do { try tree.close() } catch {
            throw CommandFailure(operation: operation, path: tree.path, reason: "closing: \(error)")
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
