#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A bound, listening stream socket served by one plain thread of its own (never a Swift task:
/// `accept` blocks), one connection at a time: the daemon's control socket and its metrics endpoint.
///
/// `stop()` shuts the socket down, which makes the blocked `accept` return, and the thread ends.
/// Every accepted connection gets send and receive timeouts, so a client that stalls holds the
/// thread for at most `Self.clientTimeoutSeconds` per call.
final class ListeningSocket: Sendable {
    /// The listening descriptor.
    let descriptor: Int32
    /// Set by `stop()`.
    private let stopped = Atomic<Bool>(false)
    /// Signalled when the serving thread has ended (or was never started).
    private let finished = Mutex<Bool>(true)

    /// Seconds a client may take to send its request or read the reply.
    static let clientTimeoutSeconds = 5

    /// Wraps a socket that is already bound and listening.
    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Serves connections on a thread named `name` until `stop()`: `handle` gets each connected
    /// descriptor (closed after it returns).
    func start(name: String, handle: @escaping @Sendable (Int32) -> Void) {
        finished.withLock { $0 = false }
        let thread = Thread { [self] in
            defer { finished.withLock { $0 = true } }
            while !stopped.load(ordering: .acquiring) {
                let client = accept(descriptor, nil, nil)
                if client < 0 {
                    let code = errno
                    if stopped.load(ordering: .acquiring) { return }
                    if code == EINTR || code == ECONNABORTED || code == EAGAIN { continue }
                    // EMFILE and the like: wait a little rather than spin.
                    Posix.pause(milliseconds: 100)
                    continue
                }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                Self.setTimeouts(client, seconds: Self.clientTimeoutSeconds)
                handle(client)
                close(client)
            }
        }
        thread.name = name
        thread.start()
    }

    /// Stops serving: the thread ends after the connection it is handling, if any, within
    /// about `clientTimeoutSeconds`; then the descriptor is closed.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        // A listening socket shut down makes a blocked accept fail with EINVAL.
        shutdown(descriptor, Int32(SHUT_RDWR))
        let deadline = Posix.monotonicSeconds() + Double(Self.clientTimeoutSeconds) + 1
        while !finished.withLock({ $0 }) && Posix.monotonicSeconds() < deadline { Posix.pause(milliseconds: 2) }
        close(descriptor)
    }

    /// Sets `SO_RCVTIMEO` and `SO_SNDTIMEO` of `fd`.
    static func setTimeouts(_ fd: Int32, seconds: Int) {
        var limit = timeval(tv_sec: seconds, tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, size)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, size)
    }

    /// Reads from `fd` until `terminator` has arrived, the peer closes, `limit` bytes were read
    /// or a read fails (a timeout): what was read.
    static func read(_ fd: Int32, until terminator: [UInt8], limit: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - bytes.count)) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if !terminator.isEmpty, contains(bytes, terminator) { break }
        }
        return bytes
    }

    /// Sends all of `bytes` on the connected socket `fd` without raising SIGPIPE when the peer
    /// has gone (which would kill the daemon); false on an error.
    @discardableResult
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    /// Whether `bytes` contains `pattern`.
    static func contains(_ bytes: [UInt8], _ pattern: [UInt8]) -> Bool {
        guard bytes.count >= pattern.count else { return false }
        for start in 0...(bytes.count - pattern.count) where bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
            return true
        }
        return false
    }
}
