#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import HoltFS
import Logging
import Prometheus

/// Where `--metrics HOST:PORT` (`-o metrics=HOST:PORT`) serves: an IPv4 address, `localhost`
/// (127.0.0.1) or a bracketed IPv6 address, and a port (0: any free port, which `holtfs stats`
/// and the log then name).
struct MetricsAddress: Equatable {
    /// The numeric host, without brackets.
    var host: String
    /// The port (0: chosen at bind).
    var port: UInt16
    /// Whether `host` is IPv6.
    var isIPv6: Bool

    /// `HOST:PORT`, IPv6 in brackets.
    var text: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Parses `HOST:PORT`.
    ///
    /// - Throws: A one-line failure naming what is wrong, for `spelled` (`--metrics` or `-o metrics`).
    static func parse(_ text: String, spelled: String = "--metrics") throws(MountOptionList.Failure) -> MetricsAddress {
        func fail(_ why: String) -> MountOptionList.Failure {
            MountOptionList.Failure(reason: "\(spelled) '\(text)': \(why) (expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)")
        }
        var host: Substring
        var portText: Substring
        var isIPv6 = false
        if text.hasPrefix("[") {
            guard let close = text.range(of: "]:") else { throw fail("an IPv6 address needs ]:PORT after it") }
            host = text[text.index(after: text.startIndex)..<close.lowerBound]
            portText = text[close.upperBound...]
            isIPv6 = true
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("no port") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw fail("put an IPv6 address in brackets") }
        }
        guard !host.isEmpty else { throw fail("no host") }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText) else {
            throw fail("the port must be a number from 0 to 65535")
        }
        if host == "localhost" { host = "127.0.0.1" }
        var buffer = [UInt8](repeating: 0, count: 16)
        guard inet_pton(isIPv6 ? AF_INET6 : AF_INET, String(host), &buffer) == 1 else {
            throw fail("'\(host)' is not a numeric \(isIPv6 ? "IPv6" : "IPv4") address")
        }
        return MetricsAddress(host: String(host), port: port, isIPv6: isIPv6)
    }

    /// A listening TCP socket on this address.
    func listen() -> Result<(socket: ListeningSocket, port: UInt16), Errno> {
        let family = isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var storage = sockaddr_storage()
        var length: socklen_t
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeBytes(of: address) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeBytes(of: address) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            return .failure(Errno(code))
        }
        // The port actually bound (port 0 asks the kernel for one).
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        let boundPort = withUnsafeBytes(of: actual) { raw -> UInt16 in
            // sin_port and sin6_port both sit at offset 2, in network order.
            UInt16(raw[2]) << 8 | UInt16(raw[3])
        }
        return .success((ListeningSocket(descriptor: fd), boundPort))
    }
}

/// The daemon's Prometheus endpoint: swift-prometheus's registry as the swift-metrics backend
/// (so HoltFS's per-request metrics land in it), rendered at `GET /metrics` by a minimal
/// HTTP/1.1 responder (one request per connection, `Connection: close`) on a thread of its own.
final class MetricsEndpoint: Sendable {
    /// The address served, with the port actually bound.
    let address: MetricsAddress
    private let listener: ListeningSocket
    private let registry: PrometheusCollectorRegistry
    private let uptime: CoreMetrics.Gauge
    private let logger: Logger

    /// The buckets of `holtfs_request_duration_seconds`: FUSE requests take microseconds, so the
    /// factory's defaults (5 ms and up) would put nearly all of them in the first bucket.
    static let requestDurationBuckets: [Duration] = [
        .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(5),
    ]

    /// Bootstraps swift-metrics with a Prometheus registry and binds `address`. Call once, before
    /// the `HoltMount` is made (it makes its metrics only when a backend exists).
    ///
    /// - Throws: The bind's errno (address in use, not an address of this machine, ...).
    init(address requested: MetricsAddress, logger: Logger) throws(Errno) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["holtfs_request_duration_seconds"] = Self.requestDurationBuckets
        switch requested.listen() {
        case .success(let (listener, port)):
            self.listener = listener
            var bound = requested
            bound.port = port
            address = bound
        case .failure(let error):
            throw error
        }
        MetricsSystem.bootstrap(factory)
        self.registry = registry
        self.logger = logger
        uptime = CoreMetrics.Gauge(label: "holtfs_uptime_seconds")
    }

    /// Serves `/metrics` for `mount` until `stop()`; `started` is the daemon's start on the
    /// monotonic clock (for `holtfs_uptime_seconds`).
    func start(mount: HoltMount, started: Double) {
        listener.start(name: "holtfs-metrics") { [self] fd in
            serve(fd, mount: mount, started: started)
        }
    }

    /// Stops serving and closes the socket.
    func stop() {
        listener.stop()
    }

    /// Answers one HTTP request on `fd`.
    private func serve(_ fd: Int32, mount: HoltMount, started: Double) {
        let request = ListeningSocket.read(fd, until: Array("\r\n\r\n".utf8), limit: 16 << 10)
        let firstLine = String(decoding: request.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = firstLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else {
            respond(fd, status: "400 Bad Request", body: "bad request\n")
            return
        }
        let method = parts[0]
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        logger.debug("metrics: \(method) \(parts[1])")
        guard method == "GET" || method == "HEAD" else {
            respond(fd, status: "405 Method Not Allowed", body: "only GET\n", extraHeaders: "Allow: GET, HEAD\r\n")
            return
        }
        switch path {
        case "/metrics":
            mount.publishMetrics()
            uptime.record(Posix.monotonicSeconds() - started)
            var body: [UInt8] = []
            registry.emit(into: &body)
            respond(fd, status: "200 OK", body: body, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    headOnly: method == "HEAD")
        case "/":
            respond(fd, status: "200 OK", body: "holtfs: metrics at /metrics\n", headOnly: method == "HEAD")
        default:
            respond(fd, status: "404 Not Found", body: "not found: the metrics are at /metrics\n")
        }
    }

    private func respond(
        _ fd: Int32, status: String, body: String, extraHeaders: String = "", headOnly: Bool = false
    ) {
        respond(fd, status: status, body: Array(body.utf8), contentType: "text/plain; charset=utf-8",
                extraHeaders: extraHeaders, headOnly: headOnly)
    }

    private func respond(
        _ fd: Int32, status: String, body: [UInt8], contentType: String, extraHeaders: String = "", headOnly: Bool = false
    ) {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
            + extraHeaders + "Connection: close\r\n\r\n"
        ListeningSocket.send(fd, Array(head.utf8) + (headOnly ? [] : body))
    }
}
