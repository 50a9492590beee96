#if canImport(Glibc)
import Glibc
#endif

/// The `LOCK` file of a database directory, held with `flock` while the database is open, so a
/// second opener (another process, or another `Tree` in this one) gets `.locked` instead of a
/// corrupt database. The kernel drops the lock when the process dies, so a crash never leaves a
/// stale lock behind.
final class DatabaseLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock on `directory/LOCK`, creating the file.
    /// - Throws: `.locked` when someone else holds it, `.io` when the file cannot be opened.
    init(directory: String) throws(HoltError) {
        let path = directory + "/LOCK"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(errno: errno, operation: "open \(path)") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let cause = errno
            close(fd)
            if cause == EWOULDBLOCK { throw .locked(path: directory) }
            throw .io(errno: cause, operation: "flock \(path)")
        }
        descriptor = fd
    }

    /// Releases the lock.
    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
