#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The holtfs lock of a database: the file `<DB>/holtfs.pid`, `flock`ed exclusively by the one
/// holtfs process that has the database open (a mount daemon, `check`, `stats` or `dump`).
///
/// It does two jobs the engine's own `LOCK` cannot do for the command:
/// 1. A second `holtfs mount` of a mounted database fails at once with a line naming the holder
///    (pid, mount point), before any FUSE work.
/// 2. `holtfs umount` learns that the daemon has finished: the lock is free once the process has
///    closed the tree, and the file then says `state=closed`. A daemon that died leaves
///    `state=mounted` behind, which `umount` reports as an unclean close.
///
/// The file is never removed (removing a locked file races with a new opener); it is small text,
/// one `key=value` per line: `pid=`, `mountpoint=`, and `state=` — `opening` (a daemon opening the
/// tree), `mounted` (the mount answers), `closed` (the tree was closed cleanly), `close-failed`,
/// or `open` (an offline command, which restores the previous content when done). Offline
/// commands never create it, so a directory that was never mounted gets no file.
final class DatabaseLock: Sendable {
    /// The name of the lock file inside the database directory.
    static let fileName = "holtfs.pid"

    /// The open, locked file; -1 once released. Guarded by itself: the serving thread and the
    /// readiness thread both record states.
    private let fd: Mutex<Int32>

    /// Why the lock could not be taken.
    enum Failure: Error {
        /// Another process holds it; `holder` is what its file says (may be empty).
        case held(holder: [String: String])
        /// The file could not be opened or locked.
        case system(Errno)
    }

    private init(fd: Int32) {
        self.fd = Mutex(fd)
    }

    /// Takes the lock of the database in `database` (which must exist), without waiting.
    ///
    /// - Parameter create: Whether to create the lock file when missing. Offline commands pass
    ///   false, so pointing them at a directory that is not a database leaves no file behind.
    /// - Returns: The held lock, or `nil` when the file is missing and `create` is false; it is
    ///   released by `release()` or when the process exits.
    /// - Throws: `.held` when another process holds it, `.system` otherwise.
    static func acquire(database: String, create: Bool = true) throws(Failure) -> DatabaseLock? {
        let path = database + "/" + fileName
        let fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        if fd < 0 && errno == ENOENT && !create { return nil }
        guard fd >= 0 else { throw .system(Errno(errno)) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { throw .held(holder: readInfo(database: database)) }
            throw .system(Errno(code))
        }
        return DatabaseLock(fd: fd)
    }

    /// Replaces the content of the lock file with `fields` (written while holding the lock).
    func record(_ fields: [(String, String)]) {
        let bytes = Array(fields.map { "\($0.0)=\($0.1)\n" }.joined().utf8)
        fd.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            _ = fdatasync(fd)
        }
    }

    /// Releases the lock and closes the file (only the first call does anything).
    func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit {
        release()
    }

    /// Whether some process holds the lock of `database` now. A missing file means no.
    static func isHeld(database: String) -> Bool {
        let fd = open(database + "/" + fileName, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        while flock(fd, LOCK_SH | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            return errno == EWOULDBLOCK
        }
        _ = flock(fd, LOCK_UN)
        return false
    }

    /// The `key=value` lines of the lock file of `database` (empty when missing or unreadable).
    static func readInfo(database: String) -> [String: String] {
        guard let bytes = Posix.readFile(database + "/" + fileName) else { return [:] }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }

    /// A phrase naming the holder described by `holder`, e.g. "holtfs pid 42, mounted at /mnt/x".
    static func describe(holder: [String: String]) -> String {
        var parts: [String] = []
        if let pid = holder["pid"] { parts.append("holtfs pid \(pid)") }
        if let mountpoint = holder["mountpoint"], holder["state"] == "mounted" {
            parts.append("mounted at \(mountpoint)")
        }
        return parts.isEmpty ? "another process" : parts.joined(separator: ", ")
    }
}

extension DatabaseLock.Failure {
    /// The reason line for a command that could not open `database` because of this failure.
    func reason(database: String) -> String {
        switch self {
        case .held(let holder):
            "database is in use by another process (\(DatabaseLock.describe(holder: holder)))"
        case .system(let error):
            "cannot lock \(database)/\(DatabaseLock.fileName): \(error)"
        }
    }
}
