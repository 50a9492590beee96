#if canImport(Glibc)
import Glibc
#endif

/// What a durable checkpoint says: the root of the tree, up to where the log is folded in, and
/// where its blob map is. Written into one manifest slot per checkpoint.
struct Anchor: Sendable, Equatable {
    /// The size of the free-form area the tree may use.
    static let userSize = 64

    /// Counts checkpoints; the map of this checkpoint is the file `MAP.<generation>`.
    var generation: UInt64
    /// Every log record up to this sequence number is in the checkpoint's blobs.
    var checkpointLSN: UInt64
    /// The tree's root blob; `nil` for a database that has none yet.
    var root: BlobID?
    /// The next never-used logical blob id.
    var nextBlobID: UInt64
    /// The byte length of `MAP.<generation>`.
    var mapLength: UInt64
    /// The CRC32C of all of `MAP.<generation>`.
    var mapCRC: UInt32
    /// 64 bytes the tree may use as it likes.
    var user: [UInt8]
    /// The root blob of the column-family catalog (`FamilyRoots`); `nil` while the database has
    /// never had a family other than the default one. A slot with a catalog is format version 2.
    var catalog: BlobID? = nil

    /// The anchor of a new, empty database.
    static func empty(mapLength: UInt64, mapCRC: UInt32) -> Anchor {
        Anchor(
            generation: 0, checkpointLSN: 0, root: nil, nextBlobID: 1, mapLength: mapLength, mapCRC: mapCRC,
            user: [UInt8](repeating: 0, count: userSize))
    }
}

/// The file `MANIFEST`: two 4 KiB anchor slots, each with a CRC32C and a generation.
///
/// Checkpoint `g` writes slot `g % 2` and fsyncs, so the slot holding the previous durable
/// checkpoint is never touched; a write torn by a crash leaves one bad slot and one good one.
/// Open picks the valid slot with the highest generation; both bad is `.corrupted`. The byte
/// layout is in docs/FORMAT.md ("Store: blob file, map and manifest").
///
/// ```
/// 0      4        8           16      24     32         40          48       52   56        64     128      4092  4096
/// | HMAN | version | generation | LSN  | root | next id | map length | map crc | 0  | catalog | user | zero… | crc |
/// ```
/// Version 1 has no catalog (bytes 52..<64 zero); version 2 names the column-family catalog's
/// root blob at byte 56. A slot without a catalog is still written as version 1, so a database
/// that never had a family stays readable by builds from before families.
final class Manifest {
    /// The size of one anchor slot.
    static let slotSize = 4096
    /// "HMAN" read as a little-endian UInt32.
    static let magic: UInt32 = 0x4E41_4D48
    /// The newest format version this build writes and reads (2: with a family catalog).
    static let formatVersion: UInt32 = 2
    /// The format version of a slot without a family catalog (still written for those).
    static let formatVersionWithoutCatalog: UInt32 = 1
    /// Where the checksum of a slot sits (it covers bytes `0..<crcOffset`).
    static let crcOffset = slotSize - 4

    /// The file's path.
    let path: String
    private let fd: Int32
    /// The anchor of the last durable checkpoint.
    private(set) var current: Anchor

    private init(path: String, fd: Int32, current: Anchor) {
        self.path = path
        self.fd = fd
        self.current = current
    }

    /// The bytes of one slot holding `anchor`.
    static func encode(_ anchor: Anchor) -> [UInt8] {
        precondition(anchor.user.count <= Anchor.userSize, "user area is \(Anchor.userSize) bytes")
        var w = ByteWriter()
        w.append(magic)
        w.append(anchor.catalog == nil ? formatVersionWithoutCatalog : formatVersion)
        w.append(anchor.generation)
        w.append(anchor.checkpointLSN)
        w.append(anchor.root?.rawValue ?? 0)
        w.append(anchor.nextBlobID)
        w.append(anchor.mapLength)
        w.append(anchor.mapCRC)
        w.append(UInt32(0))
        w.append(anchor.catalog?.rawValue ?? 0)
        w.pad(to: 64)
        w.append(bytes: anchor.user)
        w.pad(to: slotSize)
        let crc = w.bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<crcOffset])) }
        w.set(crc, at: crcOffset)
        return w.bytes
    }

    /// What a slot's bytes hold.
    enum Decoded: Equatable {
        /// A valid anchor.
        case valid(Anchor)
        /// Torn, rotten or never written.
        case invalid(reason: String)
        /// A valid slot of a format version this build does not read.
        case unsupported(version: UInt32)
    }

    /// Decodes one slot's bytes.
    static func decode(_ bytes: [UInt8]) -> Decoded {
        guard bytes.count == slotSize else { return .invalid(reason: "short slot") }
        let r = ByteReader(bytes: bytes)
        let stored = r.load(UInt32.self, at: crcOffset)
        let crc = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<crcOffset])) }
        guard r.load(UInt32.self, at: 0) == magic else { return .invalid(reason: "bad magic") }
        guard stored == crc else { return .invalid(reason: "bad checksum") }
        guard let version = r.load(UInt32.self, at: 4), version == formatVersion || version == formatVersionWithoutCatalog else {
            return .unsupported(version: r.load(UInt32.self, at: 4) ?? 0)
        }
        guard let generation = r.load(UInt64.self, at: 8), let lsn = r.load(UInt64.self, at: 16),
            let root = r.load(UInt64.self, at: 24), let next = r.load(UInt64.self, at: 32),
            let mapLength = r.load(UInt64.self, at: 40), let mapCRC = r.load(UInt32.self, at: 48),
            let user = r.slice(at: 64, count: Anchor.userSize), let catalog = r.load(UInt64.self, at: 56)
        else { return .invalid(reason: "truncated") }
        if version == formatVersionWithoutCatalog && catalog != 0 { return .invalid(reason: "catalog in a version-1 slot") }
        return .valid(
            Anchor(
                generation: generation, checkpointLSN: lsn, root: root == 0 ? nil : BlobID(rawValue: root),
                nextBlobID: next, mapLength: mapLength, mapCRC: mapCRC, user: user,
                catalog: catalog == 0 ? nil : BlobID(rawValue: catalog)))
    }

    /// Creates `MANIFEST` in `directory` holding `anchor` in slot 0 (slot 1 zero), atomically:
    /// written to `MANIFEST.tmp`, fsynced, renamed, and the directory fsynced.
    static func create(directory: String, anchor: Anchor) throws(HoltError) -> Manifest {
        let path = directory + "/MANIFEST"
        let temporary = path + ".tmp"
        let fd = try Syscall.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
        do throws(HoltError) {
            var bytes = encode(anchor)
            bytes += [UInt8](repeating: 0, count: slotSize)
            try Syscall.pwrite(fd, bytes: bytes, offset: 0, temporary)
            try Syscall.fdatasync(fd, temporary)
            try Syscall.rename(temporary, path)
            try Syscall.fsyncDirectory(directory)
        } catch {
            try? Syscall.close(fd)
            throw error
        }
        return Manifest(path: path, fd: fd, current: anchor)
    }

    /// Opens `MANIFEST` in `directory` and picks the valid slot with the highest generation.
    ///
    /// - Throws: `.notADatabase` when there is no manifest, `.corrupted(what: "manifest", ...)`
    ///   when neither slot is valid, `.unsupportedFormat` for a newer format, `.io`.
    static func open(directory: String) throws(HoltError) -> Manifest {
        let path = directory + "/MANIFEST"
        guard Syscall.exists(path) else { throw .notADatabase(path: directory) }
        let fd = try Syscall.open(path, flags: O_RDWR)
        do throws(HoltError) {
            var bytes = try Syscall.readAll(fd, path)
            if bytes.count < 2 * slotSize { bytes += [UInt8](repeating: 0, count: 2 * slotSize - bytes.count) }
            let slots = [decode(Array(bytes[0..<slotSize])), decode(Array(bytes[slotSize..<(2 * slotSize)]))]
            var best: Anchor?
            var reasons: [String] = []
            for slot in slots {
                switch slot {
                case .valid(let anchor):
                    if anchor.generation >= best?.generation ?? 0 { best = anchor }
                case .invalid(let reason): reasons.append(reason)
                case .unsupported(let version): throw .unsupportedFormat(version: version)
                }
            }
            guard let best else {
                throw .corrupted(what: "manifest", reason: "no valid anchor slot (\(reasons.joined(separator: ", ")))")
            }
            return Manifest(path: path, fd: fd, current: best)
        } catch {
            try? Syscall.close(fd)
            throw error
        }
    }

    /// Writes `anchor` into slot `anchor.generation % 2` and fsyncs: when this returns, the
    /// anchor is durable. A failure leaves the other slot (the previous checkpoint) intact.
    func write(_ anchor: Anchor) throws(HoltError) {
        precondition(anchor.generation > current.generation, "generations only grow")
        let slot = Int(anchor.generation % 2)
        try Syscall.pwrite(fd, bytes: Self.encode(anchor), offset: slot * Self.slotSize, path)
        try Syscall.fdatasync(fd, path)
        current = anchor
    }

    /// Closes the file.
    func close() throws(HoltError) { try Syscall.close(fd) }
}
