#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HoltEngine
import HoltFS
import Logging

/// The daemon's side of `holtfs watch`: streams the mount's namespace events to a client of the
/// control socket, one JSON object per line, as the batches commit.
///
/// Protocol: the request line is `watch FROM NAME [PATH]`: FROM a decimal LSN, `now`, or
/// `acked` (where consumer NAME left off); NAME a registered consumer's name or `-` for none;
/// PATH relative to the mount's root (everything after the third space; empty: everything).
/// The answer is `ok <LSN>` (the position the stream starts after), then for every batch
/// committed after that LSN one `NamespaceEvent.json()` line per event that touches PATH, or
/// `{"lsn":N,"op":"none"}` when none does (so the client always knows its position), until the
/// client hangs up or the mount stops; or one `error <reason>` line (a bad LSN, one the log no
/// longer holds, a stopping daemon). With a NAME, the daemon registers the consumer at the
/// start position (`Tree.registerConsumer`: the log keeps what it has not acknowledged, across
/// remounts) and acknowledges what the client confirms with `ack <LSN>` lines.
///
/// Each watch runs on a plain thread of its own (the control socket's thread goes back to
/// `accept` at once), reading the engine's feed with a short timeout so that it sees `stop()`
/// and a client that went away. Sends block without a time limit (a client reading slowly only
/// slows its own stream; the log keeps what it has not read, within the retention bound);
/// `stop()` shuts the sockets down, which ends such a send.
final class WatchService: Sendable {
    /// The watch threads' sockets, and whether `stop()` closed the door.
    private struct State {
        var sockets: Set<Int32> = []
        var stopped = false
    }

    /// Guarded by its own lock (a leaf).
    private let state = Locked(State())
    private let logger: Logger

    /// How long a watch thread waits for a batch before it looks at `stop()` and the client.
    static let pollMilliseconds = 200

    /// A service that logs to `logger`.
    init(logger: Logger) {
        self.logger = logger
    }

    /// Answers the request `line` (starting `watch `) on `client`, which the caller closes when
    /// this returns: the stream goes on on a thread of its own, on a duplicate of it.
    func start(_ client: Int32, request line: String, mount: HoltMount) {
        func refuse(_ reason: String) { ListeningSocket.send(client, Array("error \(CommandFailure.oneLine(reason))\n".utf8)) }
        let fields = line.dropFirst("watch ".count).split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count >= 2 else { return refuse("a watch request is 'watch FROM NAME [PATH]'") }
        let (token, name, subtree) = (String(fields[0]), fields[1] == "-" ? nil : String(fields[1]), fields.count > 2 ? String(fields[2]) : "")
        let position: LSN
        switch token {
        case "now":
            position = mount.lastCommittedLSN
        case "acked":
            // Where the consumer left off; a new one starts now.
            position = name.flatMap { mount.consumerPosition($0) } ?? mount.lastCommittedLSN
        default:
            guard let number = UInt64(token) else { return refuse("bad LSN '\(token)': a decimal number") }
            position = LSN(number)
        }
        let feed: ChangeFeed
        do throws(FSError) {
            if let name, mount.consumerPosition(name) != position { try mount.registerConsumer(name, after: position) }
            feed = try mount.changes(after: position)
        } catch {
            let reason = if case .engine(let cause) = error { cause.description } else { error.description }
            return refuse(reason)
        }
        let socket = dup(client)
        guard socket >= 0 else { return refuse("dup: \(Errno(errno))") }
        _ = fcntl(socket, F_SETFD, FD_CLOEXEC)
        let admitted = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.sockets.insert(socket)
            return true
        }
        guard admitted else {
            close(socket)
            return refuse("the daemon is unmounting")
        }
        // No send time limit (see the type's summary).
        ListeningSocket.setTimeouts(socket, seconds: 0)
        logger.info("control: watch after LSN \(position) of '\(subtree)'\(name.map { " for consumer \($0)" } ?? "")")
        let thread = Thread { [self] in
            stream(feed, to: socket, after: position, subtree: subtree, consumer: name, mount: mount)
            feed.close()
            // Removed and closed under the lock: `stop()` never shuts down a number reused since.
            state.withLock { state in
                state.sockets.remove(socket)
                close(socket)
            }
        }
        thread.name = "holtfs-watch"
        thread.start()
    }

    /// The stream of one watch; for a consumer, the client's `ack LSN` lines are acknowledged.
    private func stream(_ feed: ChangeFeed, to socket: Int32, after position: LSN, subtree: String, consumer: String?, mount: HoltMount) {
        guard ListeningSocket.send(socket, Array("ok \(position)\n".utf8)) else { return }
        var translator = NamespaceTranslator()
        var replies = ClientReplies()
        while !state.withLock({ $0.stopped }) {
            let acked = replies.read(socket)
            if let consumer, let acked, acked > 0 {
                do throws(FSError) { try mount.acknowledge(consumer: consumer, through: LSN(acked)) } catch {
                    logger.warning("control: watch: cannot acknowledge LSN \(acked) for \(consumer): \(error)")
                }
            }
            if replies.hungUp { return }
            let batch: ChangeBatch?
            do throws(HoltError) {
                batch = try feed.next(timeout: .milliseconds(Self.pollMilliseconds))
            } catch {
                if error != .closed { logger.warning("control: watch ended: \(error)") }
                ListeningSocket.send(socket, Array("error \(CommandFailure.oneLine(error.description))\n".utf8))
                return
            }
            guard let batch else { continue }
            var lines = ""
            for event in translator.events(for: batch) where event.touches(subtree: subtree) {
                lines += event.json() + "\n"
            }
            // A batch with no event here still moves the client's position (it acknowledges it).
            if lines.isEmpty { lines = "{\"lsn\":\(batch.lsn),\"op\":\"none\"}\n" }
            if !ListeningSocket.send(socket, Array(lines.utf8)) { return }
        }
    }

    /// What the client of a watch sends back: `ack LSN` lines, read without waiting.
    private struct ClientReplies {
        var pending: [UInt8] = []
        /// The client closed its end.
        var hungUp = false

        /// Reads what arrived; returns the highest LSN acknowledged in it, or nil.
        mutating func read(_ socket: Int32) -> UInt64? {
            var chunk = [UInt8](repeating: 0, count: 4096)
            var highest: UInt64?
            while true {
                let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if count == 0 { hungUp = true; break }
                if count < 0 {
                    if errno == EINTR { continue }
                    if errno != EAGAIN && errno != EWOULDBLOCK { hungUp = true }
                    break
                }
                pending.append(contentsOf: chunk[0..<count])
            }
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if line.hasPrefix("ack "), let lsn = UInt64(line.dropFirst(4)) { highest = max(highest ?? 0, lsn) }
            }
            return highest
        }
    }

    /// Ends every watch (their clients see the end of the stream) and refuses new ones; returns
    /// once their threads are done (within a few seconds), so the tree can be closed.
    func stop() {
        state.withLock { state in
            state.stopped = true
            for socket in state.sockets { shutdown(socket, Int32(SHUT_RDWR)) }
        }
        let deadline = Posix.monotonicSeconds() + 5
        while !state.withLock({ $0.sockets.isEmpty }) && Posix.monotonicSeconds() < deadline {
            Posix.pause(milliseconds: 5)
        }
    }
}
