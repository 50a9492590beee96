import ArgumentParser
import HoltEngine
import HoltFS

/// `holtfs dump DB [PREFIX]`: lists the keys of a database offline with their decoded records.
struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "List the keys of a database offline, with their decoded inode records.",
        discussion: "One key per line, decoded by HoltFS (FSDump); --json prints JSON lines {\"key\", \"size\", \"record\"}.")

    @Argument(help: "The database directory.")
    var database: String

    @Argument(help: "Only keys starting with these bytes (e.g. a/b).")
    var prefix: String = ""

    @Flag(help: "Print one JSON object per line.")
    var json = false

    /// Opens, lists, closes.
    func run() throws(CommandFailure) {
        guard !database.isEmpty else { throw CommandFailure(operation: "dump", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        let db = Posix.absolute(database)
        let opened = try OfflineDatabase(path: db, operation: "dump")
        defer { opened.finish() }
        var output = BufferedOutput()
        try opened.forEachEntry(prefix: Array(prefix.utf8), operation: "dump") { key, value in
            let record = FSDump.describe(key: key, value: value)
            if json {
                output.write(
                    "{\"key\":\(JSON.string(key)),\"size\":\(value.count),\"record\":\(JSON.string(Array(record.utf8)))}")
            } else {
                output.write(CommandFailure.oneLine(record))
            }
        }
        output.flush()
    }
}

/// Lines for stdout, written in large chunks.
struct BufferedOutput {
    private var buffer: [UInt8] = []

    /// Adds `line` and a newline; flushes past 64 KiB.
    mutating func write(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes what is buffered.
    mutating func flush() {
        Posix.writeAll(1, buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// The few JSON encodings the command prints.
enum JSON {
    /// `bytes` as a JSON string: UTF-8 text escaped; a byte that is not valid UTF-8 becomes U+FFFD
    /// unless the whole string is invalid, in which case it is `"hex:<hex digits>"`.
    static func string(_ bytes: [UInt8]) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return "\"hex:" + bytes.map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined() + "\""
        }
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let digits = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
