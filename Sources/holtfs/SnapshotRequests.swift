#if canImport(Glibc)
import Glibc
#endif
import HoltEngine
import HoltFS

/// `holtfs dump MNT` and `holtfs check MNT`: a mounted database read by its daemon from one
/// snapshot (`HoltMount.snapshot()`), while the mount goes on serving, and streamed back over
/// the control socket.
///
/// Requests (one line): `dump keys HEXPREFIX`, `dump keys-json HEXPREFIX` (the key listing,
/// text or JSON lines, of the keys starting with the prefix, hex-encoded, empty for all),
/// `dump fs` (the whole filesystem as JSON Lines, `FSExporter`), `check` (the engine's
/// structural check of the snapshot and `FSCheck`, one problem per frame).
///
/// The answer is a sequence of frames, each a decimal byte count, a newline and that many
/// bytes (what the offline command prints on stdout, in pieces), ended by `end\n`, or by
/// `error REASON\n` when the snapshot cannot be read to the end. A connection that closes
/// before `end` is a failure too (the daemon died or was unmounted).
///
/// The daemon answers on the control socket's thread: other control requests wait meanwhile.
/// Pages of keys are copied out of the snapshot before they are sent, so a slow reader never
/// holds a blob latch (writers are never held by a dump).
enum SnapshotRequests {
    /// How long either side waits for the other's next bytes: the daemon may walk a large tree
    /// before the first frame of `check`.
    static let timeoutSeconds = 600

    /// Keys copied per page.
    static let pageSize = 1024

    // MARK: The daemon's side

    /// Whether `line` is a request of this service.
    static func handles(_ line: String) -> Bool {
        line == "check" || line.hasPrefix("dump ")
    }

    /// Answers `line` on `fd` from a snapshot of `mount`.
    static func answer(_ fd: Int32, line: String, mount: HoltMount) {
        ListeningSocket.setTimeouts(fd, seconds: timeoutSeconds)
        let snapshot: Snapshot
        do throws(FSError) { snapshot = try mount.snapshot() } catch {
            ListeningSocket.send(fd, Array("error cannot take a snapshot: \(CommandFailure.oneLine(error.description))\n".utf8))
            return
        }
        defer { snapshot.close() }
        var frames = FrameWriter(fd: fd)
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        var failure: String? = nil
        switch (words.first, words.count > 1 ? words[1] : nil) {
        case ("check", _):
            for problem in snapshot.problems() { frames.line(problem) }
        case ("dump", "keys"?), ("dump", "keys-json"?):
            guard let prefix = Hex.decode(words.count > 2 ? words[2] : "") else {
                failure = "a bad prefix"
                break
            }
            failure = dumpKeys(snapshot, prefix: prefix, json: words[1] == "keys-json", into: &frames)
        case ("dump", "fs"?):
            let exporter = FSExporter(snapshot: snapshot)
            do throws(FSDumpError) {
                try exporter.run { (line) throws(FSDumpError) in
                    guard frames.bytes(line) else { throw .output(reason: "the client went away") }
                }
            } catch {
                failure = error.description
            }
        default:
            failure = "unknown request '\(CommandFailure.oneLine(line))'"
        }
        guard frames.flush() else { return }
        ListeningSocket.send(fd, Array((failure.map { "error " + CommandFailure.oneLine($0) } ?? "end").utf8) + [UInt8(ascii: "\n")])
    }

    /// The key listing of `snapshot` under `prefix`, as `holtfs dump DB` prints it; the reason
    /// when it failed.
    private static func dumpKeys(_ snapshot: Snapshot, prefix: [UInt8], json: Bool, into frames: inout FrameWriter) -> String? {
        var startAfter: [UInt8]? = nil
        while true {
            let page: [RangeItem]
            do { page = try snapshot.range(prefix: prefix, startAfter: startAfter, limit: pageSize) } catch {
                return error.description
            }
            for item in page {
                guard case .entry(let key, let value) = item else { continue }
                guard frames.line(DumpCommand.keyLine(key: key, value: value, json: json)) else { return "the client went away" }
            }
            guard page.count == pageSize, let last = page.last else { return nil }
            startAfter = last.position
        }
    }

    /// Frames buffered up to 256 KiB.
    struct FrameWriter {
        let fd: Int32
        private var buffer: [UInt8] = []
        private var failed = false

        init(fd: Int32) { self.fd = fd }

        /// Adds `text` and a newline; false once sending failed.
        @discardableResult
        mutating func line(_ text: String) -> Bool {
            bytes(Array(text.utf8) + [UInt8(ascii: "\n")])
        }

        /// Adds `bytes`; false once sending failed.
        mutating func bytes(_ bytes: [UInt8]) -> Bool {
            buffer.append(contentsOf: bytes)
            return buffer.count < 1 << 18 || flush()
        }

        /// Sends what is buffered as one frame; false once sending failed.
        mutating func flush() -> Bool {
            guard !failed else { return false }
            guard !buffer.isEmpty else { return true }
            defer { buffer.removeAll(keepingCapacity: true) }
            failed = !ListeningSocket.send(fd, Array("\(buffer.count)\n".utf8) + buffer)
            return !failed
        }
    }

    // MARK: The command's side

    /// Sends `request` to the daemon of `mounted` and hands each frame's bytes to `body` until
    /// `end`.
    ///
    /// - Throws: A failure of `operation` (exit status 2) when there is no daemon, it refused,
    ///   or the answer ended early; with the daemon's reason when it sent `error`.
    static func request(
        _ request: String, to mounted: MountedDatabase, operation: String, target: String, _ body: ([UInt8]) -> Void
    ) throws(CommandFailure) {
        func failure(_ reason: String, status: Int32 = OfflineDatabase.cannotOpenStatus) -> CommandFailure {
            CommandFailure(operation: operation, path: target, reason: reason, exitCode: status)
        }
        let fd: Int32
        switch ControlSocket.send(request, to: mounted.database, timeoutSeconds: timeoutSeconds) {
        case .success(let connected): fd = connected
        case .failure(let failed): throw failure(failed.description)
        }
        defer { close(fd) }
        shutdown(fd, Int32(SHUT_WR))
        var reader = FrameReader(fd: fd)
        while true {
            guard let header = reader.line() else { throw failure("the daemon's answer ended early (unmounted, or it died)") }
            if header == "end" { return }
            if header.hasPrefix("error ") { throw failure("the daemon: " + header.dropFirst(6), status: 1) }
            guard let count = Int(header), count > 0, let bytes = reader.bytes(count) else {
                throw failure("the daemon's answer is not a frame: \(header.prefix(80))")
            }
            body(bytes)
        }
    }

    /// Reads lines and counted bytes from a socket.
    private struct FrameReader {
        let fd: Int32
        private var buffer: [UInt8] = []
        private var start = 0

        init(fd: Int32) { self.fd = fd }

        /// Reads more; false at the end or on an error.
        private mutating func fill() -> Bool {
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return false }
                buffer.append(contentsOf: chunk[0..<count])
                return true
            }
        }

        /// The next line (without its newline), or nil at the end.
        mutating func line() -> String? {
            while true {
                if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    defer { start = newline + 1 }
                    return String(decoding: buffer[start..<newline], as: UTF8.self)
                }
                guard buffer.count - start < 4096, fill() else { return nil }
            }
        }

        /// The next `count` bytes, or nil when the answer ends first.
        mutating func bytes(_ count: Int) -> [UInt8]? {
            while buffer.count - start < count {
                guard fill() else { return nil }
            }
            defer { start += count }
            return Array(buffer[start..<(start + count)])
        }
    }
}

extension Snapshot {
    /// What `holtfs check` finds wrong in the state this snapshot holds: the engine's structural
    /// check of it, then `FSCheck`'s walk (which runs it itself).
    func problems() -> [String] {
        FSCheck.check(snapshot: self)
    }
}

/// Hex encoding of a dump prefix in a control request (a prefix may hold any byte but NUL).
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }

    static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
