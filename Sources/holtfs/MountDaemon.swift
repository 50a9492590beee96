#if canImport(Glibc)
import Glibc
#endif

/// Starts the mount daemon and waits until it says the mount is ready or why it is not.
///
/// Forking a Swift process is only safe before it has threads, which is hard to promise, so the
/// daemon is this same executable (`/proc/self/exe`) started again with `mount ... --foreground
/// --ready-fd 3`, in a new session (`setsid`), with stdin/stdout/stderr on `/dev/null` (it moves
/// them to its log once open) and default signal dispositions. The child opens the database
/// before mounting, so a locked or damaged database is reported here, by the parent.
///
/// The protocol on the pipe (fd 3 in the child) is one line: `ready`, or `error <the whole
/// one-line failure>`. End of file without a line means the child died: the parent says so and
/// points at the log.
enum MountDaemon {
    /// How long the parent waits for the child's line before giving up.
    static let readyTimeoutSeconds = 120.0
    /// The descriptor number the pipe has in the child.
    static let childReadyDescriptor: Int32 = 3

    /// Spawns the daemon for `settings` and returns once the mount is ready.
    ///
    /// - Throws: The child's own failure line, or a failure saying it died or hung.
    static func start(settings: MountSettings) throws(CommandFailure) {
        func fail(_ reason: String) -> CommandFailure {
            CommandFailure(operation: "mount", path: settings.mountpoint, reason: reason)
        }
        let readEnd: Int32
        let writeEnd: Int32
        switch Posix.makePipe() {
        case .success(let ends): (readEnd, writeEnd) = ends
        case .failure(let error): throw fail("pipe: \(error)")
        }
        defer { close(readEnd) }

        let arguments = ["holtfs"] + settings.daemonArguments(readyFD: childReadyDescriptor)
        let child: pid_t
        do { child = try spawn(arguments: arguments, readyPipe: writeEnd) } catch {
            close(writeEnd)
            throw fail("cannot start the daemon: \(error)")
        }
        close(writeEnd)

        switch readLine(from: readEnd, timeoutSeconds: readyTimeoutSeconds) {
        case .line(let line) where line == "ready":
            return
        case .line(let line) where line.hasPrefix("error "):
            _ = reap(child)
            throw PrintedFailure(line: String(line.dropFirst("error ".count))).asCommandFailure(settings: settings)
        case .line(let line):
            throw fail("the daemon said '\(line)' instead of ready; see \(settings.logPath)")
        case .endOfFile:
            let status = reap(child)
            throw fail("the daemon \(status) before the mount was ready; see \(settings.logPath)")
        case .timeout:
            kill(child, SIGTERM)
            throw fail("the daemon was not ready after \(Int(readyTimeoutSeconds)) s; see \(settings.logPath)")
        }
    }

    /// A failure line the child already formatted; printed as is.
    struct PrintedFailure {
        /// The child's line, starting `holtfs: mount `.
        var line: String

        /// A `CommandFailure` whose description is exactly `line`.
        func asCommandFailure(settings: MountSettings) -> CommandFailure {
            let prefix = "holtfs: mount "
            guard line.hasPrefix(prefix), let colon = line.dropFirst(prefix.count).range(of: ": ") else {
                return CommandFailure(operation: "mount", path: settings.mountpoint, reason: line)
            }
            return CommandFailure(
                operation: "mount", path: String(line.dropFirst(prefix.count)[..<colon.lowerBound]),
                reason: String(line[colon.upperBound...]))
        }
    }

    /// Starts `/proc/self/exe` with `arguments`, the pipe's write end as fd 3, in a new session.
    private static func spawn(arguments: [String], readyPipe: Int32) throws(Errno) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 onto fd 3 clears close-on-exec there; 0, 1 and 2 go to /dev/null.
        posix_spawn_file_actions_adddup2(&actions, readyPipe, childReadyDescriptor)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        // POSIX_SPAWN_SETSID (glibc 2.26+) is hidden from Swift behind _GNU_SOURCE: 0x80 in <spawn.h>.
        let setSessionID: Int32 = 0x80
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | setSessionID))

        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, "/proc/self/exe", &actions, &attributes, &cArguments, environ)
        guard result == 0 else { throw Errno(result) }
        return child
    }

    /// What came out of the pipe.
    private enum PipeResult {
        case line(String)
        case endOfFile
        case timeout
    }

    /// Reads up to the first newline from `fd`, waiting at most `timeoutSeconds` in all.
    private static func readLine(from fd: Int32, timeoutSeconds: Double) -> PipeResult {
        let deadline = Posix.monotonicSeconds() + timeoutSeconds
        var bytes: [UInt8] = []
        while true {
            let remaining = deadline - Posix.monotonicSeconds()
            if remaining <= 0 { return .timeout }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(remaining * 1000, 1000)))
            if ready < 0 && errno != EINTR { return .endOfFile }
            if ready <= 0 { continue }
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return bytes.isEmpty ? .endOfFile : .line(String(decoding: bytes, as: UTF8.self)) }
            if byte == UInt8(ascii: "\n") { return .line(String(decoding: bytes, as: UTF8.self)) }
            bytes.append(byte)
        }
    }

    /// Waits for `child` to exit and describes how it ended ("exited with status 1").
    private static func reap(_ child: pid_t) -> String {
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            if errno != EINTR { return "exited" }
        }
        let signal = status & 0x7f
        if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
        return "was killed by signal \(signal)"
    }
}
