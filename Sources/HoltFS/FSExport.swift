#if canImport(Glibc)
import Glibc
#endif
import HoltEngine

/// Why a dump or a load failed.
public enum FSDumpError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The engine failed.
    case engine(HoltError)
    /// The database holds something the dump cannot describe faithfully (a record of another
    /// version, a link to a missing inode, a missing xattr part).
    case damaged(key: [UInt8], reason: String)
    /// A line of the dump is not what the format allows (1-based line number).
    case format(line: Int, reason: String)
    /// The sink refused the bytes (a full disk, a closed pipe).
    case output(reason: String)

    public var description: String {
        switch self {
        case .engine(let error): "engine: \(error)"
        case .damaged(let key, let reason): "\(key.isEmpty ? "(root)" : FSDump.printable(key)): \(reason)"
        case .format(let line, let reason): "line \(line): \(reason)"
        case .output(let reason): reason
        }
    }
}

/// The dump format's names for the kinds of inodes.
enum DumpKind {
    static func name(_ kind: InodeRecord.Kind) -> String {
        switch kind {
        case .regular: "file"
        case .directory: "dir"
        case .symlink: "symlink"
        case .fifo: "fifo"
        case .socket: "socket"
        case .charDevice: "chardev"
        case .blockDevice: "blockdev"
        case .hardLink: "link"
        }
    }

    static func kind(_ name: [UInt8]) -> InodeRecord.Kind? {
        switch String(decoding: name, as: UTF8.self) {
        case "file": .regular
        case "dir": .directory
        case "symlink": .symlink
        case "fifo": .fifo
        case "socket": .socket
        case "chardev": .charDevice
        case "blockdev": .blockDevice
        default: nil
        }
    }

    /// `mode` as four octal digits, e.g. "0755".
    static func octal(_ mode: UInt32) -> String {
        let digits = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Writes the whole filesystem kept in a tree as JSON Lines (`holtfs dump DB --json`), streaming:
/// one object per line, in key order, parents before children; a file's data follows its line
/// in chunk lines, so memory stays bounded whatever the tree holds. `FSImporter` reads it back.
/// The format is described in docs/FORMAT.md, "The dump format".
///
/// What is written is the filesystem the mount shows, with its storage where the mount's view
/// depends on it: records (with ino, generation, times in ns, xattrs including values kept
/// outside the record, inline or chunked data with its holes), hard-linked inodes once (at their
/// first name, `"shared":true`) and their other names as link lines, plain values (`"plain"`),
/// prefixes without a value (`"implicit"`), and keys the filesystem does not interpret as raw
/// lines. Not written: the garbage keyspace, temporaries and orphans (unlinked files still open
/// when the database was last mounted, which the next mount discards).
public final class FSExporter {
    /// Counters of the lines written, for progress displays and the summary.
    public typealias Counts = DumpCounts

    private let tree: any KeyReader
    /// What was written so far.
    public private(set) var counts = Counts()
    /// Called after every page of keys (about 1,000 entries), with the counts so far.
    public var progress: ((Counts) -> Void)?

    /// Ancestors of the last path written that are known to exist (with a value or as an
    /// implicit directory line), nested, shallowest first.
    private var chain: [[UInt8]] = []
    /// Inos of shared inodes (`/i/<ino>`) already written at their first name.
    private var sharedWritten: Set<UInt64> = []
    private var sink: ([UInt8]) throws(FSDumpError) -> Void = { _ throws(FSDumpError) in }

    /// Entries read per engine call.
    static let pageSize = 1024
    /// Chunks read per engine call (1 MiB).
    static let chunkPage = 32

    public init(tree: Tree) {
        self.tree = tree
    }

    /// An exporter of the state `snapshot` holds (`holtfs dump MNT --json`: a mounted
    /// database, while it goes on serving). The snapshot must stay open until `run` returns.
    public init(snapshot: Snapshot) {
        self.tree = snapshot
    }

    /// Writes the dump: each line (ending in a newline) is handed to `sink` as soon as it is built.
    public func run(_ sink: @escaping ([UInt8]) throws(FSDumpError) -> Void) throws(FSDumpError) {
        self.sink = sink
        counts = Counts()
        chain = []
        sharedWritten = []
        try writeHeader()
        try writeRoot()
        // Every path key, bucket by first byte: the reserved keyspace ("/...") lies between
        // buckets and is left to `writeReserved`.
        for first in UInt8(1)...UInt8(255) where first != ReservedKeys.marker {
            try scan(prefix: [first])
        }
        try writeReserved()
        var trailer = JSONObjectWriter()
        trailer.bool("end", true)
        trailer.integer("entries", counts.entries)
        trailer.integer("chunks", counts.chunks)
        try sink(trailer.line())
        progress?(counts)
    }

    // MARK: Engine access

    private func get(_ key: [UInt8]) throws(FSDumpError) -> [UInt8]? {
        do { return try tree.get(key) } catch { throw .engine(error) }
    }

    private func range(_ query: RangeQuery) throws(FSDumpError) -> [RangeItem] {
        do { return try tree.range(query) } catch { throw .engine(error) }
    }

    // MARK: Lines

    private func writeHeader() throws(FSDumpError) {
        var header = JSONObjectWriter()
        header.string("format", "holtfs-dump")
        header.integer("version", 1)
        if let bytes = try get(ReservedKeys.superblock), let superblock = Superblock.decode(bytes) {
            header.integer("next_ino", superblock.nextIno)
            if let longest = superblock.longestKey { header.integer("longest_key", UInt64(longest)) }
        }
        try sink(header.line())
    }

    /// The root: its record, an implicit directory, or (a value that is no directory record,
    /// which a mount would replace) a raw line and an implicit directory.
    private func writeRoot() throws(FSDumpError) {
        guard let value = try get([]) else {
            try writeImplicit([])
            return
        }
        switch try decode(value, at: []) {
        case .some(let record) where record.kind == .directory:
            try writeInode(path: [], record: record, shared: false)
        default:
            try writeRaw(key: [], value: value)
            try writeImplicit([])
        }
    }

    /// Every entry below `prefix` (a first byte), page by page.
    private func scan(prefix: [UInt8]) throws(FSDumpError) {
        var after: [UInt8]? = nil
        while true {
            let page = try range(RangeQuery(prefix: prefix, startAfter: after, limit: Self.pageSize))
            for item in page {
                if case .entry(let key, let value) = item { try visit(key, value) }
            }
            progress?(counts)
            guard page.count == Self.pageSize, let last = page.last else { return }
            after = last.position
        }
    }

    /// One path key and its value.
    private func visit(_ key: [UInt8], _ value: [UInt8]) throws(FSDumpError) {
        try writeMissingAncestors(of: key)
        chain.append(key)
        guard let record = try decode(value, at: key) else {
            var line = JSONObjectWriter(capacity: value.count * 4 / 3 + 64)
            line.text("path", "path_b64", key)
            line.string("kind", "file")
            line.bool("plain", true)
            line.base64("data", value)
            counts.entries += 1
            counts.dataBytes += value.count
            try sink(line.line())
            return
        }
        guard record.kind == .hardLink else {
            try writeInode(path: key, record: record, shared: false)
            return
        }
        if sharedWritten.contains(record.ino) {
            var line = JSONObjectWriter()
            line.text("path", "path_b64", key)
            line.integer("link", record.ino)
            counts.entries += 1
            try sink(line.line())
            return
        }
        let inodeKey = ReservedKeys.inode(record.ino)
        guard let bytes = try get(inodeKey), let inode = try decode(bytes, at: inodeKey), inode.kind != .hardLink,
            inode.ino == record.ino
        else { throw .damaged(key: key, reason: "link to missing inode \(record.ino)") }
        sharedWritten.insert(record.ino)
        try writeInode(path: key, record: inode, shared: true)
    }

    /// Writes implicit directory lines for the ancestors of `key` that have no value, and
    /// leaves `chain` holding every ancestor of `key`.
    private func writeMissingAncestors(of key: [UInt8]) throws(FSDumpError) {
        while let last = chain.last, !Self.isAncestor(last, of: key) { chain.removeLast() }
        var position = chain.last.map { $0.count + 1 } ?? 0
        while let slash = key[position...].firstIndex(of: UInt8(ascii: "/")) {
            let ancestor = Array(key[..<slash])
            // An ancestor with a value sorts before `key` and was written already.
            if try get(ancestor) == nil { try writeImplicit(ancestor) }
            chain.append(ancestor)
            position = slash + 1
        }
    }

    /// Whether `key` lies below `ancestor/`.
    static func isAncestor(_ ancestor: [UInt8], of key: [UInt8]) -> Bool {
        key.count > ancestor.count && key[ancestor.count] == UInt8(ascii: "/") && key.starts(with: ancestor)
    }

    private func writeImplicit(_ path: [UInt8]) throws(FSDumpError) {
        var line = JSONObjectWriter()
        line.text("path", "path_b64", path)
        line.string("kind", "dir")
        line.bool("implicit", true)
        counts.entries += 1
        try sink(line.line())
    }

    private func writeRaw(key: [UInt8], value: [UInt8]) throws(FSDumpError) {
        var line = JSONObjectWriter(capacity: value.count * 4 / 3 + 64)
        line.text("key", "key_b64", key)
        line.base64("value", value)
        counts.entries += 1
        try sink(line.line())
    }

    /// The record in `value`, nil for a plain value; a record of another version is an error.
    private func decode(_ value: [UInt8], at key: [UInt8]) throws(FSDumpError) -> InodeRecord? {
        do {
            return try InodeRecord.decode(value)
        } catch {
            switch error {
            case .notARecord: return nil
            case .unsupportedVersion(let version): throw .damaged(key: key, reason: "record of unsupported version \(version)")
            }
        }
    }

    /// One inode's line (and its chunk lines).
    private func writeInode(path: [UInt8], record: InodeRecord, shared: Bool) throws(FSDumpError) {
        var line = JSONObjectWriter(capacity: 256 + record.inlineData.count * 4 / 3)
        line.text("path", "path_b64", path)
        line.string("kind", DumpKind.name(record.kind))
        line.integer("ino", record.ino)
        line.integer("gen", record.generation)
        line.string("mode", DumpKind.octal(record.mode))
        line.integer("uid", record.uid)
        line.integer("gid", record.gid)
        line.integer("nlink", record.nlink)
        line.integer("size", record.size)
        line.integer("atime", record.atime)
        line.integer("mtime", record.mtime)
        line.integer("ctime", record.ctime)
        if record.rdev != 0 || record.kind == .charDevice || record.kind == .blockDevice {
            line.integer("rdev", record.rdev)
        }
        if record.kind == .symlink || !record.symlinkTarget.isEmpty {
            line.text("target", "target_b64", record.symlinkTarget)
        }
        if shared { line.bool("shared", true) }
        if !record.xattrs.isEmpty {
            var list: [UInt8] = [UInt8(ascii: "[")]
            for (index, xattr) in record.xattrs.enumerated() {
                if index > 0 { list.append(UInt8(ascii: ",")) }
                var item = JSONObjectWriter()
                item.text("name", "name_b64", xattr.name)
                item.base64("value", try xattrValue(xattr, ino: record.ino, at: path))
                list += item.closed()
            }
            list.append(UInt8(ascii: "]"))
            line.raw("xattrs", list)
        }
        if record.isChunked {
            line.bool("chunked", true)
        } else if !record.inlineData.isEmpty {
            line.base64("data", record.inlineData)
            counts.dataBytes += record.inlineData.count
        }
        counts.entries += 1
        try sink(line.line())
        if record.isChunked { try writeChunks(of: record.ino) }
    }

    /// The value of an xattr, read from its parts when it is kept outside the record.
    private func xattrValue(_ xattr: InodeRecord.Xattr, ino: UInt64, at path: [UInt8]) throws(FSDumpError) -> [UInt8] {
        if let value = xattr.value { return value }
        var value: [UInt8] = []
        var part = 0
        while value.count < xattr.size {
            let key = ReservedKeys.xattrPart(ino, name: xattr.name, part: part)
            guard let bytes = try get(key), !bytes.isEmpty else {
                throw .damaged(key: path, reason: "missing part \(part) of xattr \(FSDump.printable(xattr.name))")
            }
            value += bytes
            part += 1
        }
        guard value.count == xattr.size else {
            throw .damaged(key: path, reason: "xattr \(FSDump.printable(xattr.name)) has \(value.count) bytes, its record says \(xattr.size)")
        }
        return value
    }

    /// The stored chunks of `ino`, one line each, a page at a time (holes have no line).
    private func writeChunks(of ino: UInt64) throws(FSDumpError) {
        let prefix = ReservedKeys.dataPrefix(ino) + [UInt8(ascii: "/")]
        var after: [UInt8]? = nil
        while true {
            let page = try range(RangeQuery(prefix: prefix, startAfter: after, limit: Self.chunkPage))
            for item in page {
                guard case .entry(let key, let value) = item else { continue }
                guard key.count == prefix.count + 8, let index = ReservedKeys.chunkIndex(in: key) else {
                    throw .damaged(key: key, reason: "malformed chunk key")
                }
                var line = JSONObjectWriter(capacity: value.count * 4 / 3 + 48)
                line.integer("chunk", index)
                line.base64("data", value)
                counts.chunks += 1
                counts.dataBytes += value.count
                try sink(line.line())
            }
            guard page.count == Self.chunkPage, let last = page.last else { return }
            after = last.position
        }
    }

    /// The reserved keyspace: the parts the filesystem knows are written with their inodes (or
    /// dropped: garbage, temporaries, orphans); anything else is written raw.
    private func writeReserved() throws(FSDumpError) {
        let known: [[UInt8]] = [
            ReservedKeys.inodePrefix, ReservedKeys.orphanPrefix, ReservedKeys.dataRoot, ReservedKeys.xattrRoot,
            ReservedKeys.garbageRoot, Array("/t/".utf8),
        ]
        var after: [UInt8]? = nil
        while true {
            let page = try range(RangeQuery(prefix: [ReservedKeys.marker], startAfter: after, delimiter: ReservedKeys.marker, limit: Self.pageSize))
            for item in page {
                switch item {
                case .entry(let key, let value):
                    if key == ReservedKeys.superblock, Superblock.decode(value) != nil { continue }
                    try writeRaw(key: key, value: value)
                case .commonPrefix(let prefix):
                    if known.contains(prefix) { continue }
                    try writeRawKeys(prefix: prefix)
                }
            }
            guard page.count == Self.pageSize, let last = page.last else { return }
            after = last.position
        }
    }

    private func writeRawKeys(prefix: [UInt8]) throws(FSDumpError) {
        var after: [UInt8]? = nil
        while true {
            let page = try range(RangeQuery(prefix: prefix, startAfter: after, limit: Self.pageSize))
            for item in page {
                if case .entry(let key, let value) = item { try writeRaw(key: key, value: value) }
            }
            guard page.count == Self.pageSize, let last = page.last else { return }
            after = last.position
        }
    }
}
