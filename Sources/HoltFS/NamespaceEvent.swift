/// One change of the namespace, as `holtfs watch` prints it: what happened to which path, in
/// which committed batch (its LSN).
///
/// Made from the engine's change feed by `NamespaceTranslator`. One batch of HoltFS (one FUSE
/// request) gives one event, two for an exchange, none for the filesystem's own bookkeeping
/// (superblock, garbage sweeps, data chunks and the parent's times, which belong to the event of
/// the name they are for).
public struct NamespaceEvent: Sendable, Equatable {
    /// What happened.
    public enum Operation: String, Sendable, Equatable, CaseIterable {
        /// A regular file, FIFO, socket or device node was created (`kind` says which).
        case create
        /// A directory was created.
        case mkdir
        /// A symbolic link was created.
        case symlink
        /// A new name (hard link) for an existing file.
        case link
        /// A name went: `unlink` or `rmdir` (the log records the removal, not which call made it).
        case remove
        /// A name moved (`from` → `to`); for a directory, with everything below it.
        case rename
        /// The content changed (a write, or a truncate).
        case write
        /// Attributes changed (mode, owner, times) without the content.
        case setattr
        /// An extended attribute was set or removed.
        case xattr
    }

    /// The LSN of the batch that made the change.
    public var lsn: UInt64
    /// What happened.
    public var operation: Operation
    /// The path the change is about, relative to the mount's root (`a/b`; the root is the empty
    /// path); for a rename, the new path. `nil` when the batch changed an inode with several
    /// names without naming one (a write through a hard link).
    public var path: String?
    /// For a rename: the old path.
    public var from: String?
    /// The inode's kind, when the batch shows it: `file`, `dir`, `symlink`, `fifo`, `socket`,
    /// `char`, `block`, `link` (a name of a file with several names).
    public var kind: String?
    /// The inode number (`st_ino`), when the batch or an earlier event showed it.
    public var ino: UInt64?

    /// An event.
    public init(lsn: UInt64, operation: Operation, path: String?, from: String? = nil, kind: String? = nil, ino: UInt64? = nil) {
        self.lsn = lsn
        self.operation = operation
        self.path = path
        self.from = from
        self.kind = kind
        self.ino = ino
    }

    /// Whether the event touches `subtree` (a path relative to the mount's root; empty: the
    /// whole namespace): its path, or either end of a rename, is `subtree` or lies below it.
    public func touches(subtree: String) -> Bool {
        guard !subtree.isEmpty else { return true }
        func inside(_ candidate: String?) -> Bool {
            guard let candidate else { return false }
            return candidate == subtree || candidate.hasPrefix(subtree + "/")
        }
        return inside(path) || inside(from)
    }

    /// One line of JSON, e.g. `{"lsn":12,"op":"rename","from":"a/b","to":"a/c","ino":7}`: a
    /// rename has `from` and `to`, other events `path`; `kind` and `ino` when known.
    public func json() -> String {
        var fields = ["\"lsn\":\(lsn)", "\"op\":\"\(operation.rawValue)\""]
        if operation == .rename {
            fields.append("\"from\":" + Self.quoted(from ?? ""))
            fields.append("\"to\":" + Self.quoted(path ?? ""))
        } else if let path {
            fields.append("\"path\":" + Self.quoted(path))
        } else {
            fields.append("\"path\":null")
        }
        if let kind { fields.append("\"kind\":\"\(kind)\"") }
        if let ino { fields.append("\"ino\":\(ino)") }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// One line of text: `LSN OP PATH` (`LSN rename FROM -> TO`), then `(kind, ino N)` when known.
    /// Paths are printed as they are; `?` stands for an unknown one.
    public func text() -> String {
        var line = "\(lsn) \(operation.rawValue) "
        line += operation == .rename ? "\(from ?? "?") -> \(path ?? "?")" : (path.map { $0.isEmpty ? "/" : $0 } ?? "?")
        let details = [kind, ino.map { "ino \($0)" }].compactMap { $0 }
        if !details.isEmpty { line += " (" + details.joined(separator: ", ") + ")" }
        return line
    }

    /// `text` as a JSON string literal (control characters, quotes and backslashes escaped).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
