#if canImport(Glibc)
import Glibc
#endif

/// The database directory: created when missing (if asked), refused when it is something else.
enum DatabaseDirectory {
    /// Makes sure `path` is a directory that holds (or may hold) a holt database.
    /// - Throws: `.notADatabase` when `path` is a file, or missing and `create` is false;
    ///   `.io` when it cannot be created.
    static func prepare(_ path: String, create: Bool) throws(HoltError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw .notADatabase(path: path) }
            return
        }
        let cause = errno
        guard cause == ENOENT, create else {
            if cause == ENOENT { throw .notADatabase(path: path) }
            throw .io(errno: cause, operation: "stat \(path)")
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw .io(errno: errno, operation: "mkdir \(path)")
        }
    }
}
