import HoltEngine

/// Rebuilds a filesystem from the JSON Lines of `FSExporter` (`holtfs load FILE DB`), line by
/// line, into a tree that should be empty.
///
/// It writes the same keys the filesystem itself writes, in engine batches of a few MiB: records
/// at their paths (or at `/i/<ino>` with link records at each name), data chunks, xattr parts,
/// the superblock. Inode numbers, generations, times (ctime included), modes and owners are kept
/// as dumped, so the result mounts with the same `stat` answers. Xattr values are placed inline
/// or in parts by the filesystem's own rule (`Filesystem.setxattr`), and inline data longer than
/// the inline limit is split into chunks, so a hand-written dump yields valid records too.
///
/// Batches are applied as they fill, so a load that fails leaves a partial database: start again
/// with a new one. `finish()` writes the superblock and makes everything durable.
public final class FSImporter {
    /// Counters of the lines read, for progress displays and the summary.
    public typealias Counts = DumpCounts

    private let tree: Tree
    /// What was read so far.
    public private(set) var counts = Counts()
    /// Lines read so far (the number of the last line).
    public private(set) var lineNumber = 0

    private var ops: [TxnOp] = []
    private var pendingBytes = 0
    private var sawHeader = false
    private var trailer: (entries: Int, chunks: Int)?
    /// The dumped superblock's next ino, when the dump had one.
    private var headerNextIno: UInt64?
    /// The dumped superblock's longest-key bound, when the dump had one.
    private var headerLongestKey: Int?
    /// The longest path key written (outside the reserved keyspace).
    private var longestPathKey = 0
    /// The highest allocated ino seen in a record.
    private var highestIno: UInt64 = 0
    /// Every ino of a record written (an ino used twice is an error).
    private var inos: Set<UInt64> = []
    /// Inos written as shared inodes (`/i/<ino>`): link lines may name these.
    private var sharedInos: Set<UInt64> = []
    /// The chunked file whose chunk lines may follow: its ino and size.
    private var chunkedFile: (ino: UInt64, size: UInt64, lastChunk: UInt64?)?

    /// A batch is applied once it holds this many bytes of keys and values...
    static let batchBytes = 4 << 20
    /// ...or this many ops.
    static let batchOps = 8192

    public init(tree: Tree) {
        self.tree = tree
    }

    /// Reads one line (without its newline; an empty line is skipped).
    public func load(line: ArraySlice<UInt8>) throws(FSDumpError) {
        lineNumber += 1
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch { throw fail(error.reason) }
        guard case .object = value else { throw fail("not a JSON object") }
        guard trailer == nil else { throw fail("a line after the end line") }
        guard sawHeader else {
            try readHeader(value)
            return
        }
        if value["chunk"] != nil {
            try readChunk(value)
            return
        }
        chunkedFile = nil
        if value["end"] != nil {
            try readTrailer(value)
        } else if value["link"] != nil {
            try readLink(value)
        } else if value["key"] != nil || value["key_b64"] != nil {
            try readRaw(value)
        } else if value["path"] != nil || value["path_b64"] != nil {
            try readEntry(value)
        } else {
            throw fail("neither an entry, a link, a chunk, a raw key nor the end")
        }
        try flushIfFull()
    }

    /// After the last line: checks the dump was complete, writes the superblock and makes
    /// everything durable.
    public func finish() throws(FSDumpError) {
        guard sawHeader else { throw fail("empty dump (no header line)") }
        guard let trailer else { throw fail("the dump ends without its end line (truncated?)") }
        guard trailer.entries == counts.entries, trailer.chunks == counts.chunks else {
            throw fail("the end line counts \(trailer.entries) entries and \(trailer.chunks) chunks, the dump holds \(counts.entries) and \(counts.chunks)")
        }
        let next = max(headerNextIno ?? 0, highestIno + 1)
        if headerNextIno != nil || highestIno >= Superblock.firstIno {
            // The bound covers every key loaded, and is the dumped one when that is higher.
            let superblock = Superblock(nextIno: max(next, Superblock.firstIno), longestKey: max(headerLongestKey ?? 0, longestPathKey))
            try put(ReservedKeys.superblock, superblock.encoded())
        }
        try flush()
        do { try tree.sync() } catch { throw .engine(error) }
    }

    // MARK: Lines

    private func readHeader(_ value: JSONValue) throws(FSDumpError) {
        guard case .string(let format) = value["format"], format == Array("holtfs-dump".utf8) else {
            throw fail("not a holtfs dump (the first line has no \"format\":\"holtfs-dump\")")
        }
        let version = try integer(value, "version", max: UInt64(UInt32.max))
        guard version == 1 else { throw fail("dump format version \(version); this holtfs reads version 1") }
        if value["next_ino"] != nil { headerNextIno = try integer(value, "next_ino") }
        if value["longest_key"] != nil { headerLongestKey = Int(try integer(value, "longest_key", max: UInt64(Tree.maxKeyLength))) }
        sawHeader = true
    }

    private func readTrailer(_ value: JSONValue) throws(FSDumpError) {
        guard value["end"] == .bool(true) else { throw fail("\"end\" must be true") }
        trailer = (Int(try integer(value, "entries", max: UInt64(Int.max))), Int(try integer(value, "chunks", max: UInt64(Int.max))))
    }

    private func readRaw(_ value: JSONValue) throws(FSDumpError) {
        let key = try text(value, "key", "key_b64")
        let bytes = try base64(value, "value")
        counts.entries += 1
        try put(key, bytes)
    }

    private func readLink(_ value: JSONValue) throws(FSDumpError) {
        let path = try pathKey(value)
        let ino = try integer(value, "link")
        guard sharedInos.contains(ino) else { throw fail("link to inode \(ino), which no earlier shared entry holds") }
        counts.entries += 1
        try put(path, InodeRecord.link(to: ino).encoded())
    }

    private func readChunk(_ value: JSONValue) throws(FSDumpError) {
        guard let file = chunkedFile else { throw fail("a chunk line that follows no chunked file") }
        let index = try integer(value, "chunk", max: UInt64(UInt32.max))
        if let last = file.lastChunk, index <= last { throw fail("chunk \(index) after chunk \(last)") }
        let data = try base64(value, "data")
        guard data.count <= Filesystem.chunkSize else { throw fail("chunk of \(data.count) bytes (at most \(Filesystem.chunkSize))") }
        guard data.isEmpty || index * UInt64(Filesystem.chunkSize) + UInt64(data.count) <= file.size else {
            throw fail("chunk \(index) lies past the file's size \(file.size)")
        }
        chunkedFile = (file.ino, file.size, index)
        counts.chunks += 1
        counts.dataBytes += data.count
        try put(ReservedKeys.chunk(file.ino, index), data)
    }

    private func readEntry(_ value: JSONValue) throws(FSDumpError) {
        let path = try pathKey(value)
        guard case .string(let kindName) = value["kind"], let kind = DumpKind.kind(kindName) else {
            throw fail("missing or unknown \"kind\"")
        }
        counts.entries += 1
        if value["implicit"] == .bool(true) {
            guard kind == .directory else { throw fail("only a directory can be implicit") }
            return  // a prefix: its children's keys make it
        }
        if value["plain"] == .bool(true) {
            guard kind == .regular else { throw fail("only a file can be plain") }
            guard !path.isEmpty else { throw fail("the root cannot be a plain file") }
            let data = try base64(value, "data", optional: true)
            counts.dataBytes += data.count
            try put(path, data)
            return
        }
        var record = InodeRecord(kind: kind)
        record.ino = try integer(value, "ino")
        guard record.ino & Superblock.derivedInoBit == 0, record.ino != 0 else { throw fail("ino \(record.ino) cannot be allocated") }
        guard !path.isEmpty || kind == .directory else { throw fail("the root must be a directory") }
        guard !inos.contains(record.ino) else { throw fail("ino \(record.ino) used twice") }
        record.generation = try integer(value, "gen", optional: true)
        record.mode = try mode(value)
        record.uid = UInt32(try integer(value, "uid", max: UInt64(UInt32.max)))
        record.gid = UInt32(try integer(value, "gid", max: UInt64(UInt32.max)))
        record.nlink = UInt32(try integer(value, "nlink", max: UInt64(UInt32.max)))
        record.size = try integer(value, "size", optional: true)
        record.atime = try signed(value, "atime")
        record.mtime = try signed(value, "mtime")
        record.ctime = try signed(value, "ctime")
        record.rdev = try integer(value, "rdev", optional: true)
        if value["target"] != nil || value["target_b64"] != nil {
            record.symlinkTarget = try text(value, "target", "target_b64")
            guard record.symlinkTarget.count <= Filesystem.maxSymlinkLength else { throw fail("symlink target too long") }
        }
        if kind == .symlink {
            guard !record.symlinkTarget.isEmpty else { throw fail("a symlink without a target") }
        }
        let shared = value["shared"] == .bool(true)
        guard !shared || (kind != .directory && !path.isEmpty) else { throw fail("a directory cannot be shared") }
        var batchExtras: [(key: [UInt8], value: [UInt8])] = []
        // Xattrs, in order, placed by the filesystem's rule.
        if let list = value["xattrs"] {
            guard case .array(let items) = list else { throw fail("\"xattrs\" must be an array") }
            var inlineTotal = 0
            for item in items {
                let name = try text(item, "name", "name_b64")
                guard !name.isEmpty, name.count <= 255, Filesystem.keepsXattr(name) else {
                    throw fail("xattr name \(FSDump.printable(name)) is not one holtfs keeps")
                }
                guard !record.xattrs.contains(where: { $0.name == name }) else { throw fail("xattr \(FSDump.printable(name)) twice") }
                let bytes = try base64(item, "value", optional: true)
                guard bytes.count <= Filesystem.maxXattrValue else { throw fail("xattr value of \(bytes.count) bytes") }
                if bytes.count <= Filesystem.inlineXattrValue, inlineTotal + bytes.count <= Filesystem.inlineXattrTotal {
                    record.xattrs.append(.init(name: name, value: bytes, size: bytes.count))
                    inlineTotal += bytes.count
                } else {
                    record.xattrs.append(.init(name: name, value: nil, size: bytes.count))
                    var part = 0, offset = 0
                    repeat {
                        let end = min(offset + Filesystem.xattrPartSize, bytes.count)
                        batchExtras.append((ReservedKeys.xattrPart(record.ino, name: name, part: part), Array(bytes[offset..<end])))
                        part += 1
                        offset = end
                    } while offset < bytes.count
                }
            }
            let nameBytes = record.xattrs.reduce(0) { $0 + $1.name.count + 6 }
            guard nameBytes <= Filesystem.maxXattrNameBytes else { throw fail("xattr names take \(nameBytes) bytes") }
        }
        // Data.
        let chunked = value["chunked"] == .bool(true)
        let inline = try base64(value, "data", optional: true)
        if !inline.isEmpty || chunked {
            guard kind == .regular else { throw fail("only a file has data") }
        }
        guard !(chunked && !inline.isEmpty) else { throw fail("both \"data\" and \"chunked\"") }
        guard UInt64(inline.count) <= record.size else { throw fail("\(inline.count) bytes of data, more than the size \(record.size)") }
        counts.dataBytes += inline.count
        if chunked || inline.count > Filesystem.inlineLimit {
            record.isChunked = true
            var index: UInt64 = 0, offset = 0
            while offset < inline.count {
                let end = min(offset + Filesystem.chunkSize, inline.count)
                batchExtras.append((ReservedKeys.chunk(record.ino, index), Array(inline[offset..<end])))
                index += 1
                offset = end
            }
            if chunked { chunkedFile = (record.ino, record.size, nil) }
        } else {
            record.inlineData = inline
        }
        if kind == .directory, record.nlink < 2 { throw fail("a directory's nlink is at least 2") }
        inos.insert(record.ino)
        if record.ino > highestIno { highestIno = record.ino }
        if shared {
            sharedInos.insert(record.ino)
            try put(ReservedKeys.inode(record.ino), record.encoded())
            try put(path, InodeRecord.link(to: record.ino).encoded())
        } else {
            try put(path, record.encoded())
        }
        for extra in batchExtras { try put(extra.key, extra.value) }
    }

    // MARK: Fields

    private func fail(_ reason: String) -> FSDumpError {
        .format(line: lineNumber, reason: reason)
    }

    /// The path of an entry or link line: a key outside the reserved keyspace.
    private func pathKey(_ value: JSONValue) throws(FSDumpError) -> [UInt8] {
        let path = try text(value, "path", "path_b64")
        guard !ReservedKeys.isReserved(path) else { throw fail("path \(FSDump.printable(path)) starts with '/'") }
        guard !path.contains(0) else { throw fail("a path with a NUL byte") }
        guard path.count <= Tree.maxKeyLength else { throw fail("a path of \(path.count) bytes") }
        return path
    }

    /// The bytes of a field spelled `name` (a string) or `b64Name` (base64).
    private func text(_ value: JSONValue, _ name: String, _ b64Name: String) throws(FSDumpError) -> [UInt8] {
        if case .string(let bytes) = value[name] { return bytes }
        if value[name] != nil { throw fail("\"\(name)\" must be a string") }
        if value[b64Name] != nil { return try base64(value, b64Name) }
        throw fail("missing \"\(name)\"")
    }

    private func base64(_ value: JSONValue, _ name: String, optional: Bool = false) throws(FSDumpError) -> [UInt8] {
        guard let field = value[name] else {
            if optional { return [] }
            throw fail("missing \"\(name)\"")
        }
        guard case .string(let text) = field, let bytes = Base64.decode(text) else { throw fail("\"\(name)\" is not base64") }
        return bytes
    }

    private func integer(_ value: JSONValue, _ name: String, max: UInt64 = .max, optional: Bool = false) throws(FSDumpError) -> UInt64 {
        guard let field = value[name] else {
            if optional { return 0 }
            throw fail("missing \"\(name)\"")
        }
        guard case .integer(let negative, let magnitude) = field, !negative || magnitude == 0, magnitude <= max else {
            throw fail("\"\(name)\" must be an integer from 0 to \(max)")
        }
        return magnitude
    }

    private func signed(_ value: JSONValue, _ name: String) throws(FSDumpError) -> Int64 {
        guard let field = value[name] else { throw fail("missing \"\(name)\"") }
        guard case .integer(let negative, let magnitude) = field else { throw fail("\"\(name)\" must be an integer") }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw fail("\"\(name)\" out of range") }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { throw fail("\"\(name)\" out of range") }
        return Int64(magnitude)
    }

    /// The permission bits: an octal string ("0755") or an integer.
    private func mode(_ value: JSONValue) throws(FSDumpError) -> UInt32 {
        switch value["mode"] {
        case .string(let digits):
            guard !digits.isEmpty, digits.count <= 6, let mode = UInt32(String(decoding: digits, as: UTF8.self), radix: 8), mode <= 0o7777 else {
                throw fail("\"mode\" must be octal permission bits such as \"0755\"")
            }
            return mode
        case .integer(negative: false, magnitude: let magnitude) where magnitude <= 0o7777:
            return UInt32(magnitude)
        case nil:
            throw fail("missing \"mode\"")
        default:
            throw fail("\"mode\" must be octal permission bits such as \"0755\"")
        }
    }

    // MARK: Batches

    private func put(_ key: [UInt8], _ value: [UInt8]) throws(FSDumpError) {
        guard key.count <= Tree.maxKeyLength, !key.contains(0) else { throw fail("a key of \(key.count) bytes or with a NUL byte") }
        if !ReservedKeys.isReserved(key) { longestPathKey = max(longestPathKey, key.count) }
        guard value.count <= Tree.maxValueLength else {
            throw fail("\(FSDump.printable(Array(key.prefix(64)))): a value of \(value.count) bytes (records, plain values and raw values are at most \(Tree.maxValueLength))")
        }
        ops.append(.put(key: key, value: value))
        pendingBytes += key.count + value.count + 16
    }

    private func flushIfFull() throws(FSDumpError) {
        if pendingBytes >= Self.batchBytes || ops.count >= Self.batchOps { try flush() }
    }

    private func flush() throws(FSDumpError) {
        guard !ops.isEmpty else { return }
        do {
            try tree.apply(ops)
        } catch {
            switch error {
            case .keyTooLong, .valueTooLarge, .invalidKey:
                throw fail("a line before this one does not fit the engine: \(error)")
            default:
                throw .engine(error)
            }
        }
        ops.removeAll(keepingCapacity: true)
        pendingBytes = 0
    }
}
