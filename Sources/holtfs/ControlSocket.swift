#if canImport(Glibc)
import Glibc
#endif

/// The daemon's control channel: the Unix socket `DB/control.sock`, through which `holtfs stats`
/// asks a live mount for its counters and `holtfs compact` asks it to compact.
///
/// The socket is mode 0600 and owned by the daemon's user (the mount's owner), so only that user
/// and root can connect; the daemon also checks the peer's credentials (`SO_PEERCRED`) and
/// answers only its own uid and root. The protocol is one request line per connection, answered
/// by one JSON object and the end of the connection: `stats` by a `StatsReport` (the live part),
/// `compact` by a `CompactReport` once the compaction is done, `watch <LSN|now> [PATH]` by a
/// stream of lines (`WatchService`). A failed request, an unknown one or a refused peer gets one
/// line starting `error `.
///
/// `sun_path` holds at most 107 bytes; a longer database path is reached through
/// `/proc/self/fd/N/control.sock`, N a descriptor of the database directory.
enum ControlSocket {
    /// The socket's name inside the database directory.
    static let fileName = "control.sock"

    /// The socket of `database`.
    static func path(database: String) -> String {
        database + "/" + fileName
    }

    /// Calls `body` with a `sockaddr_un` that names `database`'s socket (see the type's summary
    /// for long paths).
    static func withAddress<R>(
        database: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) -> Result<R, Errno> {
        var directory: Int32 = -1
        var path = Self.path(database: database)
        if path.utf8.count >= 108 {
            directory = open(database, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directory >= 0 else { return .failure(Errno(errno)) }
            path = "/proc/self/fd/\(directory)/\(fileName)"
        }
        defer { if directory >= 0 { close(directory) } }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        return .success(withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        })
    }

    /// A new Unix stream socket that closes on exec.
    private static func makeSocket() -> Result<Int32, Errno> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        return fd >= 0 ? .success(fd) : .failure(Errno(errno))
    }

    /// Binds and listens on `database`'s socket, mode 0600, replacing a socket left by a daemon
    /// that died (the caller holds the database lock, so no live daemon owns it).
    static func listen(database: String) -> Result<ListeningSocket, Errno> {
        let fd: Int32
        switch makeSocket() {
        case .success(let made): fd = made
        case .failure(let error): return .failure(error)
        }
        // The mode of the socket's inode becomes the file's (less the umask) at bind: no moment
        // with a wider mode.
        fchmod(fd, 0o600)
        let socketPath = path(database: database)
        if case .success(let info) = Posix.linkStatus(socketPath), info.st_mode & S_IFMT == S_IFSOCK {
            unlink(socketPath)
        }
        let bound = withAddress(database: database) { address, length in bind(fd, address, length) == 0 ? 0 : errno }
        switch bound {
        case .failure(let error):
            close(fd)
            return .failure(error)
        case .success(let code) where code != 0:
            close(fd)
            return .failure(Errno(code))
        case .success:
            break
        }
        chmod(socketPath, 0o600)
        guard Glibc.listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            unlink(socketPath)
            return .failure(Errno(code))
        }
        return .success(ListeningSocket(descriptor: fd))
    }

    /// The uid of the process at the other end of the connected Unix socket `fd`, or `nil`.
    static func peerUID(_ fd: Int32) -> uid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (Glibc hides it behind _GNU_SOURCE).
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        let peerCredentialsOption: Int32 = 17  // SO_PEERCRED on Linux
        guard getsockopt(fd, SOL_SOCKET, peerCredentialsOption, &credentials, &length) == 0 else { return nil }
        return credentials.uid
    }

    /// Why a request to a daemon failed.
    enum RequestFailure: Error, CustomStringConvertible {
        /// No socket, or nothing listens on it (a daemon of an older holtfs, or one that died).
        case noDaemon(Errno)
        /// The socket exists but this user may not use it.
        case refused(String)
        /// The daemon answered something that is not a report, or nothing in time.
        case badAnswer(String)

        var description: String {
            switch self {
            case .noDaemon(let error): "no daemon answers on the control socket (\(error))"
            case .refused(let reason): reason
            case .badAnswer(let reason): reason
            }
        }
    }

    /// Sends `request` to the daemon of `database` and returns its whole answer.
    static func request(database: String, _ request: String, timeoutSeconds: Int = 5) -> Result<[UInt8], RequestFailure> {
        let fd: Int32
        switch makeSocket() {
        case .success(let made): fd = made
        case .failure(let error): return .failure(.noDaemon(error))
        }
        defer { close(fd) }
        ListeningSocket.setTimeouts(fd, seconds: timeoutSeconds)
        let connected = withAddress(database: database) { address, length in
            connect(fd, address, length) == 0 ? 0 : errno
        }
        switch connected {
        case .failure(let error):
            return .failure(.noDaemon(error))
        case .success(let code) where code == EACCES || code == EPERM:
            return .failure(.refused(
                "cannot use \(path(database: database)): \(Errno(code)) (only the mount's owner and root may ask its daemon)"))
        case .success(let code) where code != 0:
            return .failure(.noDaemon(Errno(code)))
        case .success:
            break
        }
        guard ListeningSocket.send(fd, Array((request + "\n").utf8)) else {
            return .failure(.badAnswer("cannot send the request: \(Errno(errno))"))
        }
        shutdown(fd, Int32(SHUT_WR))
        let answer = ListeningSocket.read(fd, until: [], limit: 1 << 24)
        if answer.isEmpty { return .failure(.badAnswer("the daemon sent no answer")) }
        if answer.starts(with: Array("error ".utf8)) {
            let line = String(decoding: answer.dropFirst(6), as: UTF8.self)
            return .failure(.refused("the daemon refused: " + CommandFailure.oneLine(line)))
        }
        return .success(answer)
    }
}
