#if canImport(Glibc)
import Glibc
#endif

/// The system calls the write-ahead log makes, and the one place in `Journal/` that reads `errno`.
///
/// A private stand-in for `Store/Syscall.swift` (written in parallel); the two can merge later.
/// Every call retries `EINTR`; any other failure becomes `HoltError.io(errno:operation:)` naming
/// the call and the path. `EBADF`/`EFAULT` would be holt's own bug and trap.
enum JournalIO {
    /// Runs `body` (a C call returning -1 on failure) until it does not fail with `EINTR`.
    @discardableResult
    static func call(_ operation: @autoclosure () -> String, _ body: () -> Int) throws(HoltError) -> Int {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "holt bug: \(operation()) failed with errno \(code)")
            throw .io(errno: code, operation: operation())
        }
    }

    /// Creates directory `path` and any missing parents (like `mkdir -p`).
    /// - Returns: whether `path` itself was created (`false` when it existed).
    @discardableResult
    static func makeDirectory(_ path: String) throws(HoltError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        if errno == EEXIST { return false }
        if errno == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]))
            if mkdir(path, 0o755) == 0 { return true }
            if errno == EEXIST { return false }
        }
        throw .io(errno: errno, operation: "mkdir \(path)")
    }

    /// The names in directory `path`, without `.` and `..`.
    static func listDirectory(_ path: String) throws(HoltError) -> [String] {
        guard let stream = opendir(path) else { throw .io(errno: errno, operation: "opendir \(path)") }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Opens `path` with `flags` (`O_CLOEXEC` added) and returns the descriptor.
    static func open(_ path: String, _ flags: Int32) throws(HoltError) -> Int32 {
        Int32(try call("open \(path)") { Int(Glibc.open(path, flags | O_CLOEXEC, 0o644)) })
    }

    /// The size of the open file `fd` in bytes.
    static func size(_ fd: Int32, path: String) throws(HoltError) -> Int {
        var info = stat()
        try call("fstat \(path)") { Int(fstat(fd, &info)) }
        return Int(info.st_size)
    }

    /// Reads all of the open file `fd` (from offset 0 to its current size).
    static func readAll(_ fd: Int32, path: String) throws(HoltError) -> [UInt8] {
        let length = try size(fd, path: path)
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let got = try call("pread \(path)") {
                bytes.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + done, length - done, off_t(done)) }
            }
            if got == 0 { bytes.removeSubrange(done...); break }  // shrank under us
            done += got
        }
        return bytes
    }

    /// Writes all of `bytes` to `fd` at `offset`, looping over short writes.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(HoltError) {
        var done = 0
        while done < bytes.count {
            let wrote = try call("pwrite \(path)") {
                pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            done += wrote
        }
    }

    /// `fdatasync(fd)`: the file's data (and the size needed to read it) reach the disk.
    static func dataSync(_ fd: Int32, path: String) throws(HoltError) {
        try call("fdatasync \(path)") { Int(fdatasync(fd)) }
    }

    /// Allocates the bytes `offset ..< offset + length` of `fd` (`posix_fallocate`, which is
    /// `fallocate` mode 0 on Linux: the file grows to cover them, reading zeros), so that writing
    /// there later cannot fail for want of space. `ENOSPC`/`EDQUOT` come out as `.io`.
    static func allocate(_ fd: Int32, offset: Int, length: Int, path: String) throws(HoltError) {
        guard length > 0 else { return }
        while true {
            let code = posix_fallocate(fd, off_t(offset), off_t(length))
            if code == 0 { return }
            if code == EINTR { continue }
            precondition(code != EBADF, "holt bug: posix_fallocate \(path) failed with EBADF")
            throw .io(errno: code, operation: "fallocate \(path)")
        }
    }

    /// Whether `error` says the disk (or the quota) is full: `ENOSPC` or `EDQUOT`. Only an error
    /// from a write or an allocation may be taken as such and survived; a failed fsync never is.
    static func isOutOfSpace(_ error: HoltError) -> Bool {
        if case .io(let code, _) = error { return code == ENOSPC || code == EDQUOT }
        return false
    }

    /// Cuts the open file `fd` to `length` bytes.
    static func truncate(_ fd: Int32, to length: Int, path: String) throws(HoltError) {
        try call("ftruncate \(path)") { Int(ftruncate(fd, off_t(length))) }
    }

    /// fsyncs directory `path`, so that files created or removed in it stay so after a crash.
    static func syncDirectory(_ path: String) throws(HoltError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        try call("fsync \(path)") { Int(fsync(fd)) }
    }

    /// Removes file `path`.
    static func remove(_ path: String) throws(HoltError) {
        try call("unlink \(path)") { Int(unlink(path)) }
    }

    /// Closes `fd`. An error from `close` is ignored: on Linux the descriptor is gone either way
    /// and the data's fate was already settled by `fdatasync` (see close(2), "Dealing with
    /// error returns from close()").
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}
