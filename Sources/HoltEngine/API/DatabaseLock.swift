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
        let fd = try Syscall.open(path, flags: O_RDWR | O_CREAT)
        do throws(HoltError) {
            _ = try Syscall.valueOrErrno("flock \(path)") { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            try? Syscall.close(fd)
            if case .io(let code, _) = error, code == EWOULDBLOCK { throw .locked(path: directory) }
            throw error
        }
        descriptor = fd
    }

    /// Releases the lock.
    deinit {
        flock(descriptor, LOCK_UN)
        try? Syscall.close(descriptor)
    }
}
