#if canImport(Glibc)
import Glibc
#endif

/// A control request answered by a stream of lines instead of one report (`holtfs watch`).
extension ControlSocket {
    /// Sends `request` to the daemon of `database` and calls `line` with each line of the answer,
    /// without its newline, until the daemon ends the connection or `line` returns false. After
    /// each read's lines, `reply` may give a line to send back (`holtfs watch`'s `ack LSN`). There
    /// is no time limit: a stream waits as long as nothing happens on the mount.
    ///
    /// - Returns: `.success` when the answer ended (or `line` stopped it); `.noDaemon` or
    ///   `.refused` when the socket cannot be used.
    static func stream(
        database: String, _ request: String, reply: () -> String? = { nil }, line: (String) -> Bool
    ) -> Result<Void, RequestFailure> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(.noDaemon(Errno(errno))) }
        defer { close(fd) }
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
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return .success(()) }
            pending.append(contentsOf: chunk[0..<count])
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                guard line(String(decoding: pending[start..<newline], as: UTF8.self)) else { return .success(()) }
                start = newline + 1
            }
            pending.removeFirst(start)
            if let answer = reply() { ListeningSocket.send(fd, Array((answer + "\n").utf8)) }
        }
    }
}
