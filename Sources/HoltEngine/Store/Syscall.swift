import CURing
#if canImport(Glibc)
import Glibc
#endif

/// The engine's system calls (store and log): the one place in the engine that reads `errno`.
///
/// Every call goes through `valueOrErrno`: it retries `EINTR`, reads `errno` at once and wraps it
/// in `HoltError.io(errno:operation:)`. An errno that can only mean holt called wrongly (`EBADF`,
/// `EFAULT`, `EINVAL` on a call whose descriptor, buffer and alignment the store chose) traps:
/// our bugs trap, the world (`EIO`, `ENOSPC`, ...) throws. As in apple/swift-system
/// `valueOrErrno(retryOnInterrupt:_:)` and apple/swift-nio `isUnacceptableErrno`.
enum Syscall {
    /// Calls `body` until it returns something other than -1 with `EINTR`.
    ///
    /// - Parameters:
    ///   - operation: What is being done, for the error (`"pwrite blobs"`).
    ///   - misuseTraps: `true` when `EBADF`, `EFAULT` and `EINVAL` can only be a holt bug.
    ///   - body: The C call; returns -1 and sets `errno` on failure.
    /// - Returns: The call's non-negative result.
    /// - Throws: `.io(errno:operation:)`.
    static func valueOrErrno<T: BinaryInteger>(
        _ operation: @autoclosure () -> String, misuseTraps: Bool = false, _ body: () -> T
    ) throws(HoltError) -> T {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            try check(errno: code, operation(), misuseTraps: misuseTraps)
        }
    }

    /// Throws for `code` (a positive errno), or traps when it can only be our bug.
    ///
    /// Also used for io_uring completions, which carry `-errno` instead of setting `errno`.
    static func check(errno code: Int32, _ operation: @autoclosure () -> String, misuseTraps: Bool) throws(HoltError) {
        if misuseTraps && (code == EBADF || code == EFAULT || code == EINVAL) {
            preconditionFailure("holt bug: \(operation()) failed with errno \(code) (\(String(cString: strerror(code))))")
        }
        throw .io(errno: code, operation: operation())
    }

    // MARK: Files

    /// Opens `path` with `flags` (and `mode` when creating); the raw errno stays available to the
    /// caller through the thrown error (`EINVAL` for a refused `O_DIRECT`, `ENOENT`).
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(HoltError) -> Int32 {
        try valueOrErrno("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Closes `fd`. `EINTR` is not retried: Linux has released the descriptor already
    /// (see https://lwn.net/Articles/576478/).
    static func close(_ fd: Int32) throws(HoltError) {
        if Glibc.close(fd) == -1 {
            let code = errno
            if code == EINTR { return }
            try check(errno: code, "close", misuseTraps: true)
        }
    }

    /// Reads up to `count` bytes at `offset` into `buffer`, looping over short reads.
    /// - Returns: The number of bytes read; less than `count` only at the end of the file.
    static func pread(
        _ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int, offset: Int, _ what: @autoclosure () -> String
    ) throws(HoltError) -> Int {
        var done = 0
        while done < count {
            let n = try valueOrErrno("pread \(what())", misuseTraps: true) {
                Glibc.pread(fd, buffer + done, count - done, off_t(offset + done))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Whether an `O_DIRECT` read of `count` bytes at offset 0 into aligned `buffer` works on
    /// `fd`: `false` when the file system refuses it with `EINVAL` (here the world, not our bug).
    static func directReadWorks(
        _ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int, _ what: @autoclosure () -> String
    ) throws(HoltError) -> Bool {
        do throws(HoltError) {
            _ = try valueOrErrno("probe O_DIRECT read \(what())") { Glibc.pread(fd, buffer, count, 0) }
            return true
        } catch .io(errno: EINVAL, _) {
            return false
        }
    }

    /// Writes `count` bytes from `buffer` at `offset`, looping over short writes.
    static func pwrite(
        _ fd: Int32, _ buffer: UnsafeRawPointer, count: Int, offset: Int, _ what: @autoclosure () -> String
    ) throws(HoltError) {
        var done = 0
        while done < count {
            let n = try valueOrErrno("pwrite \(what())", misuseTraps: true) {
                Glibc.pwrite(fd, buffer + done, count - done, off_t(offset + done))
            }
            if n == 0 { throw .io(errno: EIO, operation: "pwrite \(what()): wrote nothing") }
            done += n
        }
    }

    /// Writes all of `bytes` at `offset` (buffered files: the manifest, the map).
    static func pwrite(_ fd: Int32, bytes: [UInt8], offset: Int, _ what: @autoclosure () -> String) throws(HoltError) {
        // withUnsafeBytes rethrows untyped errors: carry ours out by hand.
        let failure = bytes.withUnsafeBytes { (raw) -> HoltError? in
            guard let base = raw.baseAddress else { return nil }
            do throws(HoltError) { try pwrite(fd, base, count: raw.count, offset: offset, what()) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// Reads the whole of a small buffered file (the manifest, a map).
    static func readAll(_ fd: Int32, _ what: @autoclosure () -> String) throws(HoltError) -> [UInt8] {
        let size = try fileSize(fd)
        var bytes = [UInt8](repeating: 0, count: size)
        let got = bytes.withUnsafeMutableBytes { (raw) -> Result<Int, HoltError> in
            guard let base = raw.baseAddress else { return .success(0) }
            do throws(HoltError) { return .success(try pread(fd, base, count: raw.count, offset: 0, what())) } catch { return .failure(error) }
        }
        let count = try got.get()
        return Array(bytes[0..<count])
    }

    /// Makes `fd`'s data (and the metadata needed to read it) durable.
    static func fdatasync(_ fd: Int32, _ what: @autoclosure () -> String) throws(HoltError) {
        _ = try valueOrErrno("fdatasync \(what())", misuseTraps: true) { Glibc.fdatasync(fd) }
    }

    /// Makes the entries of directory `path` (created, renamed, removed files) durable.
    static func fsyncDirectory(_ path: String) throws(HoltError) {
        let fd = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { try? close(fd) }
        _ = try valueOrErrno("fsync directory \(path)") { Glibc.fsync(fd) }
    }

    /// The size of the open file `fd`, in bytes.
    static func fileSize(_ fd: Int32) throws(HoltError) -> Int {
        var info = stat()
        _ = try valueOrErrno("fstat", misuseTraps: true) { fstat(fd, &info) }
        return Int(info.st_size)
    }

    /// Whether something exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Whether `path` is a directory (following links).
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates directory `path` (its parent must exist); an existing directory is fine.
    static func makeDirectory(_ path: String) throws(HoltError) {
        if mkdir(path, 0o755) == 0 { return }
        let code = errno
        if code == EEXIST { return }
        throw .io(errno: code, operation: "mkdir \(path)")
    }

    /// Renames `from` to `to`, replacing `to`.
    static func rename(_ from: String, _ to: String) throws(HoltError) {
        _ = try valueOrErrno("rename \(from)") { Glibc.rename(from, to) }
    }

    /// Removes file `path`; a missing file is fine.
    static func unlink(_ path: String) throws(HoltError) {
        if Glibc.unlink(path) == 0 { return }
        let code = errno
        if code == ENOENT { return }
        throw .io(errno: code, operation: "unlink \(path)")
    }

    /// Writes all of `bytes` at `offset`, looping over short writes (nothing for an empty buffer).
    static func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, offset: Int, _ what: @autoclosure () -> String)
        throws(HoltError)
    {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try pwrite(fd, base, count: bytes.count, offset: offset, what())
    }

    /// Allocates the bytes `offset ..< offset + length` of `fd` (`posix_fallocate`, which is
    /// `fallocate` mode 0 on Linux: the file grows to cover them, reading zeros), so that writing
    /// there later cannot fail for want of space. `ENOSPC`/`EDQUOT` come out as `.io`.
    static func allocate(_ fd: Int32, offset: Int, length: Int, _ what: @autoclosure () -> String) throws(HoltError) {
        guard length > 0 else { return }
        while true {
            // posix_fallocate returns the error instead of setting errno.
            let code = posix_fallocate(fd, off_t(offset), off_t(length))
            if code == 0 { return }
            if code == EINTR { continue }
            try check(errno: code, "fallocate \(what())", misuseTraps: code == EBADF)
        }
    }

    /// Gives the bytes `offset ..< offset + length` of `fd` back to the file system (a hole:
    /// they read as zeros and take no disk space; the file keeps its size).
    /// - Returns: `false` when the file system cannot punch holes (`EOPNOTSUPP`): nothing changed.
    @discardableResult
    static func punchHole(_ fd: Int32, offset: Int, length: Int, _ what: @autoclosure () -> String) throws(HoltError) -> Bool {
        guard length > 0 else { return true }
        while true {
            let code = curing_punch_hole(fd, Int64(offset), Int64(length))  // fallocate: not in Glibc's module
            if code == 0 { return true }
            if code == EINTR { continue }
            if code == EOPNOTSUPP || code == ENOSYS { return false }
            try check(errno: code, "punch hole \(what())", misuseTraps: code == EBADF)
        }
    }

    /// The bytes the file system has allocated to the open file `fd` (`st_blocks × 512`, what
    /// `du` counts: holes are not allocated).
    static func allocatedBytes(_ fd: Int32) throws(HoltError) -> Int {
        var info = stat()
        _ = try valueOrErrno("fstat", misuseTraps: true) { fstat(fd, &info) }
        return Int(info.st_blocks) * 512
    }

    /// The bytes the file system has allocated to the file at `path` (0 when it is missing).
    static func allocatedBytes(path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_blocks) * 512 : 0
    }

    /// Cuts the open file `fd` to `length` bytes.
    static func truncate(_ fd: Int32, to length: Int, _ what: @autoclosure () -> String) throws(HoltError) {
        _ = try valueOrErrno("ftruncate \(what())", misuseTraps: true) { ftruncate(fd, off_t(length)) }
    }

    /// Maps `length` bytes of `fd` from offset 0 read-only and shared, reserving no memory (a
    /// mapping may run past the file's end: only pages inside the file may be touched), and
    /// advises random access (no readahead). Nil when the kernel refuses (a file system without
    /// `mmap`, an address-space limit): the caller goes without.
    static func mapReadOnly(_ fd: Int32, length: Int) -> UnsafeRawPointer? {
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0), base != MAP_FAILED else { return nil }
        _ = madvise(base, length, MADV_RANDOM)
        return UnsafeRawPointer(base)
    }

    /// Removes a mapping made by `mapReadOnly`.
    static func unmap(_ base: UnsafeRawPointer, length: Int) {
        _ = munmap(UnsafeMutableRawPointer(mutating: base), length)
    }

    /// Whether `error` says the disk (or the quota) is full: `ENOSPC` or `EDQUOT`. Only an error
    /// from a write or an allocation may be taken as such and survived; a failed fsync never is.
    static func isOutOfSpace(_ error: HoltError) -> Bool {
        if case .io(let code, _) = error { return code == ENOSPC || code == EDQUOT }
        return false
    }

    // MARK: Directories

    /// Creates directory `path` and any missing parents (like `mkdir -p`).
    /// - Returns: Whether `path` itself was created (`false` when it existed).
    @discardableResult
    static func makeDirectories(_ path: String) throws(HoltError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        var code = errno
        if code == EEXIST { return false }
        if code == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
            if mkdir(path, 0o755) == 0 { return true }
            code = errno
            if code == EEXIST { return false }
        }
        throw .io(errno: code, operation: "mkdir \(path)")
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
}
