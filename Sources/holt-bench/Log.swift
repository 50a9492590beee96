#if canImport(Glibc)
import Glibc
#endif

/// Progress lines on stderr (the results table goes to stdout).
enum Log {
    /// Writes `line` and a newline to stderr.
    static func progress(_ line: String) {
        let text = line + "\n"
        _ = text.utf8CString.withUnsafeBufferPointer { bytes in
            write(STDERR_FILENO, bytes.baseAddress, bytes.count - 1)
        }
    }
}
