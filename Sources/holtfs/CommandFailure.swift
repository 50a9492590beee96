/// A failure the command reports as one line, `holtfs: <operation> <path>: <reason>`, and an exit status.
///
/// Every subcommand throws only this type out of `run()`; `main` prints it and exits. Library
/// errors (`HoltError`, `FSError`) are turned into one of these where they are caught, so the
/// line names the path the user typed.
struct CommandFailure: Error, CustomStringConvertible {
    /// The subcommand: `mount`, `umount`, `check`, `stats`, `compact`, `dump`, `load`.
    var operation: String
    /// The path the failure is about (the database or the mount point).
    var path: String
    /// One line of English, without a trailing period.
    var reason: String
    /// The process exit status (1 unless a subcommand documents otherwise).
    var exitCode: Int32 = 1

    /// The line printed on stderr, without its newline.
    var description: String {
        "holtfs: \(operation) \(path): \(Self.oneLine(reason))"
    }

    /// `text` with line breaks turned into spaces, so a message never spans lines.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 }).trimmingTrailingSpaces()
    }
}

extension String {
    /// The string without trailing spaces.
    func trimmingTrailingSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
