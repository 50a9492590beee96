#if canImport(Glibc)
import Glibc
#endif
import Logging

/// A swift-log handler that appends one line per message to file descriptors:
/// `2026-11-25T13:40:00.123Z info holtfs[4242]: message key=value`.
///
/// Each line goes out in one `write(2)` to a descriptor opened with `O_APPEND`, so lines from
/// several threads never interleave inside a line; no lock is needed.
struct FileLogHandler: LogHandler {
    /// The descriptors every line is written to (the log file; stderr in an interactive `-f`).
    let descriptors: [Int32]
    /// The logger's label.
    let label: String
    /// Messages below this level are dropped.
    var logLevel: Logger.Level = .info
    /// Metadata added to every line.
    var metadata: Logger.Metadata = [:]

    /// The metadata value for `key`.
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Formats and writes one message.
    func log(event: LogEvent) {
        var line = "\(Self.timestamp()) \(event.level) \(label)[\(getpid())]: \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        let bytes = Array((CommandFailure.oneLine(line) + "\n").utf8)
        for fd in descriptors { Posix.writeAll(fd, bytes) }
    }

    /// The current UTC time as ISO 8601 with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            + ".\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }
}

/// Sets up logging for this process once: every `Logger` then writes through `FileLogHandler`.
enum CommandLogging {
    /// Opens `path` for appending and routes all logging to it (and to stderr when `echo`),
    /// keeping messages of `level` and more severe.
    ///
    /// - Returns: The log file's descriptor (kept open for the life of the process).
    static func start(path: String, echoToStandardError echo: Bool, level: Logger.Level = .info) -> Result<Int32, Errno> {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        let descriptors = echo ? [fd, STDERR_FILENO] : [fd]
        LoggingSystem.bootstrap { label in FileLogHandler(descriptors: descriptors, label: label, logLevel: level) }
        return .success(fd)
    }
}
