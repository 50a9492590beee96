#if canImport(Glibc)
import Glibc
#endif

/// Small wrappers over the system calls the command makes, each returning a Swift value or an errno.
///
/// The command is not on a hot path: these favour clarity (one call, `errno` read at once) over speed.
enum Posix {
    /// The text of an errno value, e.g. "No such file or directory".
    static func describe(errno code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// `stat(2)` of `path`, or the errno it failed with.
    static func fileStatus(_ path: String) -> Result<Glibc.stat, Errno> {
        var info = Glibc.stat()
        if stat(path, &info) == 0 { return .success(info) }
        return .failure(Errno(errno))
    }

    /// `lstat(2)` of `path`, or the errno it failed with.
    static func linkStatus(_ path: String) -> Result<Glibc.stat, Errno> {
        var info = Glibc.stat()
        if lstat(path, &info) == 0 { return .success(info) }
        return .failure(Errno(errno))
    }

    /// Whether `info` describes a directory.
    static func isDirectory(_ info: Glibc.stat) -> Bool {
        (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// `path` made absolute against the current directory, without resolving symlinks or touching
    /// the file system (a dead FUSE mount answers `ENOTCONN` to anything that looks at it).
    static func absolute(_ path: String) -> String {
        var joined = path
        if !path.hasPrefix("/") {
            if let directory = getcwd(nil, 0) {
                joined = String(cString: directory) + "/" + path
                free(directory)
            }
        }
        return normalize(joined)
    }

    /// `path` with `.`, `..`, repeated and trailing slashes removed, lexically.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `path` with symlinks resolved by `realpath(3)`, or the lexical absolute path when that fails.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return absolute(path) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `path` with symlinks resolved as far as it exists: the canonical form of its deepest
    /// existing ancestor, followed by the missing components as written.
    static func canonicalAllowingMissingLeaf(_ path: String) -> String {
        var existing = absolute(path)
        var missing: [Substring] = []
        while existing != "/", realpath(existing, nil).map({ free($0); return false }) ?? true {
            guard let slash = existing.lastIndex(of: "/") else { break }
            missing.insert(existing[existing.index(after: slash)...], at: 0)
            existing = slash == existing.startIndex ? "/" : String(existing[..<slash])
        }
        let base = canonical(existing)
        return missing.isEmpty ? base : (base == "/" ? "" : base) + "/" + missing.joined(separator: "/")
    }

    /// Creates `path` and its missing parents as directories (mode 0755), like `mkdir -p`.
    static func makeDirectories(_ path: String) -> Result<Void, Errno> {
        var current = ""
        for part in absolute(path).split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { return .failure(Errno(errno)) }
        }
        switch fileStatus(path) {
        case .success(let info): return isDirectory(info) ? .success(()) : .failure(Errno(ENOTDIR))
        case .failure(let error): return .failure(error)
        }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and `EINTR`; false on another error.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// Writes `text` to standard error.
    static func printError(_ text: String) {
        writeAll(STDERR_FILENO, Array((text + "\n").utf8))
    }

    /// The whole content of the file at `path`, or `nil` when it cannot be read.
    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { return result }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    /// Replaces the file at `path` with `text` atomically (write a temporary file, then rename).
    static func writeFileAtomically(_ path: String, _ text: String) -> Result<Void, Errno> {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        let ok = writeAll(fd, Array(text.utf8))
        let code = errno
        close(fd)
        guard ok else { unlink(temporary); return .failure(Errno(code)) }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            return .failure(Errno(code))
        }
        return .success(())
    }

    /// A pipe whose both ends close on exec: (read end, write end).
    static func makePipe() -> Result<(Int32, Int32), Errno> {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return .failure(Errno(errno)) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return .success((ends[0], ends[1]))
    }

    /// Seconds on the monotonic clock.
    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Sleeps `milliseconds`; only for poll loops that check a condition with a deadline.
    static func pause(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// An errno value from a failed system call.
struct Errno: Error, Equatable, CustomStringConvertible {
    /// The raw value (`ENOENT`, ...).
    var code: Int32
    /// Wraps `code`.
    init(_ code: Int32) { self.code = code }
    /// The `strerror` text.
    var description: String { Posix.describe(errno: code) }
}
