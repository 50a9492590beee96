/// The database directory: created when missing (if asked), refused when it is something else.
enum DatabaseDirectory {
    /// Makes sure `path` is a directory that holds (or may hold) a holt database.
    /// - Throws: `.notADatabase` when `path` is a file, or missing and `create` is false;
    ///   `.io` when it cannot be created.
    static func prepare(_ path: String, create: Bool) throws(HoltError) {
        if Syscall.exists(path) {
            guard Syscall.isDirectory(path) else { throw .notADatabase(path: path) }
            // Refused before anything (the lock file) is created in a directory that is not ours.
            guard create || Syscall.exists(path + "/MANIFEST") else { throw .notADatabase(path: path) }
            return
        }
        guard create else { throw .notADatabase(path: path) }
        try Syscall.makeDirectory(path)
    }
}
