/// The value HoltFS stores at a node's key: one inode's metadata, small xattrs and small data.
///
/// Byte layout, version 1, little-endian, decoded field by field:
///
/// ```
/// offset size  field
///  0     3     magic FF 48 46 ("\xFFHF"; 0xFF never starts UTF-8 text)
///  3     1     version (1)
///  4     1     kind (Kind raw value)
///  5     1     flags (bit 0: data lives in chunks, not inline)
///  --- kind == hardLink: 8 bytes ino, then the checksum; nothing else ---
///  6     2     mode (permission bits with suid/sgid/sticky, & 0o7777)
///  8     4     uid
/// 12     4     gid
/// 16     4     nlink
/// 20     8     size
/// 28     8     atime, ns since the epoch (signed)
/// 36     8     mtime
/// 44     8     ctime
/// 52     8     rdev
/// 60     8     ino
/// 68     8     generation
/// 76     2     symlink target length n, then n bytes
///  .     2     xattr count m, then m times: name length u8, flags u8 (bit 0: value stored
///              outside, in `/x/`), value length u32, value bytes (inline values only)
///  .     4     inline data length k, then k bytes
///  .     4     checksum: FNV-1a 32 of every byte before it
/// ```
///
/// A value whose magic, length or checksum does not match is not a record: HoltFS shows it as a
/// regular file whose content is the value. A record with a good checksum but another version is
/// `unsupportedVersion`.
struct InodeRecord: Equatable, Sendable {
    /// What an inode is. `hardLink` is not an inode: it is a name pointing at `/i/<ino>`.
    enum Kind: UInt8, Sendable, CaseIterable {
        case regular = 1, directory, symlink, fifo, socket, charDevice, blockDevice, hardLink
    }

    /// One extended attribute kept with the record.
    struct Xattr: Equatable, Sendable {
        /// The full name, e.g. `user.comment`.
        var name: [UInt8]
        /// The value when stored inline; `nil` when it lives in `/x/<ino>/...`.
        var value: [UInt8]?
        /// The length of the value in bytes (inline or not).
        var size: Int
    }

    /// The codec version this build writes.
    static let version: UInt8 = 1
    /// The first bytes of every record.
    static let magic: [UInt8] = [0xFF, 0x48, 0x46]
    /// Flag bit: the file's data lives in chunks under `/d/<ino>/`.
    static let chunkedFlag: UInt8 = 1

    var kind: Kind
    /// Permission bits with suid, sgid and sticky (`& 0o7777`); the type comes from `kind`.
    var mode: UInt32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var nlink: UInt32 = 1
    var size: UInt64 = 0
    var atime: Int64 = 0
    var mtime: Int64 = 0
    var ctime: Int64 = 0
    var rdev: UInt64 = 0
    var ino: UInt64 = 0
    var generation: UInt64 = 0
    var symlinkTarget: [UInt8] = []
    var xattrs: [Xattr] = []
    /// The file's data when not chunked; may be shorter than `size` (the rest reads as zeros).
    var inlineData: [UInt8] = []
    /// Whether the data lives in chunks.
    var isChunked = false

    /// A hard-link name record pointing at the inode `ino`.
    static func link(to ino: UInt64) -> InodeRecord {
        InodeRecord(kind: .hardLink, ino: ino)
    }

    /// Why a value did not decode as a record.
    enum DecodeFailure: Error, Equatable {
        /// Not a record at all (no magic, bad length or checksum): a plain value.
        case notARecord
        /// A record of a version this build cannot read.
        case unsupportedVersion(UInt8)
    }

    // MARK: Encoding

    /// The record's bytes.
    func encoded() -> [UInt8] {
        var out = Self.magic
        out.reserveCapacity(96 + symlinkTarget.count + inlineData.count)
        out.append(Self.version)
        out.append(kind.rawValue)
        out.append(isChunked ? Self.chunkedFlag : 0)
        if kind == .hardLink {
            Self.put(ino, into: &out)
        } else {
            Self.put(UInt16(truncatingIfNeeded: mode & 0o7777), into: &out)
            Self.put(uid, into: &out)
            Self.put(gid, into: &out)
            Self.put(nlink, into: &out)
            Self.put(size, into: &out)
            Self.put(UInt64(bitPattern: atime), into: &out)
            Self.put(UInt64(bitPattern: mtime), into: &out)
            Self.put(UInt64(bitPattern: ctime), into: &out)
            Self.put(rdev, into: &out)
            Self.put(ino, into: &out)
            Self.put(generation, into: &out)
            Self.put(UInt16(symlinkTarget.count), into: &out)
            out += symlinkTarget
            Self.put(UInt16(xattrs.count), into: &out)
            for xattr in xattrs {
                out.append(UInt8(xattr.name.count))
                out.append(xattr.value == nil ? 1 : 0)
                Self.put(UInt32(xattr.size), into: &out)
                out += xattr.name
                if let value = xattr.value { out += value }
            }
            Self.put(UInt32(inlineData.count), into: &out)
            out += inlineData
        }
        Self.put(Self.checksum(out[...]), into: &out)
        return out
    }

    /// Decodes `bytes`, or says why they are not a record this build reads.
    static func decode(_ bytes: [UInt8]) throws(DecodeFailure) -> InodeRecord {
        guard bytes.count >= 18, bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2] else {
            throw .notARecord
        }
        var reader = Reader(bytes: bytes[..<(bytes.count - 4)])
        var tail = Reader(bytes: bytes[(bytes.count - 4)...])
        guard let stored = tail.u32(), stored == checksum(bytes[..<(bytes.count - 4)]) else { throw .notARecord }
        reader.position = 3
        guard let version = reader.u8() else { throw .notARecord }
        guard version == Self.version else { throw .unsupportedVersion(version) }
        guard let kindByte = reader.u8(), let kind = Kind(rawValue: kindByte), let flags = reader.u8() else {
            throw .notARecord
        }
        var record = InodeRecord(kind: kind)
        record.isChunked = flags & chunkedFlag != 0
        if kind == .hardLink {
            guard let ino = reader.u64(), reader.atEnd else { throw .notARecord }
            record.ino = ino
            return record
        }
        guard let mode = reader.u16(), let uid = reader.u32(), let gid = reader.u32(), let nlink = reader.u32(),
            let size = reader.u64(), let atime = reader.u64(), let mtime = reader.u64(), let ctime = reader.u64(),
            let rdev = reader.u64(), let ino = reader.u64(), let generation = reader.u64(),
            let targetLength = reader.u16(), let target = reader.bytes(Int(targetLength)),
            let xattrCount = reader.u16()
        else { throw .notARecord }
        record.mode = UInt32(mode)
        record.uid = uid
        record.gid = gid
        record.nlink = nlink
        record.size = size
        record.atime = Int64(bitPattern: atime)
        record.mtime = Int64(bitPattern: mtime)
        record.ctime = Int64(bitPattern: ctime)
        record.rdev = rdev
        record.ino = ino
        record.generation = generation
        record.symlinkTarget = target
        for _ in 0..<xattrCount {
            guard let nameLength = reader.u8(), let xflags = reader.u8(), let valueLength = reader.u32(),
                let name = reader.bytes(Int(nameLength))
            else { throw .notARecord }
            if xflags & 1 != 0 {
                record.xattrs.append(Xattr(name: name, value: nil, size: Int(valueLength)))
            } else {
                guard let value = reader.bytes(Int(valueLength)) else { throw .notARecord }
                record.xattrs.append(Xattr(name: name, value: value, size: Int(valueLength)))
            }
        }
        guard let dataLength = reader.u32(), let data = reader.bytes(Int(dataLength)), reader.atEnd else {
            throw .notARecord
        }
        record.inlineData = data
        return record
    }

    /// The kind and ino of a record, read in place without decoding the rest (a plain readdir
    /// shows nothing else); nil when `bytes` is not a record of this version, in which case
    /// `decode` says why.
    static func peekKindAndIno(_ bytes: [UInt8]) -> (kind: Kind, ino: UInt64)? {
        guard bytes.count >= 18, bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2],
            bytes[3] == version, let kind = Kind(rawValue: bytes[4])
        else { return nil }
        let inoOffset = kind == .hardLink ? 6 : 60
        let body = bytes.count - 4
        guard body >= inoOffset + 8 else { return nil }
        var stored: UInt32 = 0
        var ino: UInt64 = 0
        for index in 0..<4 { stored |= UInt32(bytes[body + index]) << (8 * index) }
        guard stored == checksum(bytes[..<body]) else { return nil }
        for index in 0..<8 { ino |= UInt64(bytes[inoOffset + index]) << (8 * index) }
        return (kind, ino)
    }

    /// FNV-1a, 32 bits: cheap, and enough to tell a record from a value that merely starts with the magic.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            var hash: UInt32 = 0x811C_9DC5
            for byte in buffer {
                hash ^= UInt32(byte)
                hash = hash &* 0x0100_0193
            }
            return hash
        }
    }

    private static func put<T: FixedWidthInteger>(_ value: T, into out: inout [UInt8]) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { out.append(contentsOf: $0) }
    }

    /// A bounds-checked little-endian reader over a slice.
    private struct Reader {
        let bytes: ArraySlice<UInt8>
        var position: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            self.position = bytes.startIndex
        }

        var atEnd: Bool { position == bytes.endIndex }

        mutating func u8() -> UInt8? {
            guard position < bytes.endIndex else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func u16() -> UInt16? {
            guard let value = little(2) else { return nil }
            return UInt16(truncatingIfNeeded: value)
        }

        mutating func u32() -> UInt32? {
            guard let value = little(4) else { return nil }
            return UInt32(truncatingIfNeeded: value)
        }

        mutating func u64() -> UInt64? { little(8) }

        /// `width` bytes as a little-endian integer (plain, non-generic: fast in debug builds too).
        private mutating func little(_ width: Int) -> UInt64? {
            guard bytes.endIndex - position >= width else { return nil }
            var value: UInt64 = 0
            var shift: UInt64 = 0
            for index in position..<position + width {
                value |= UInt64(bytes[index]) << shift
                shift += 8
            }
            position += width
            return value
        }

        mutating func bytes(_ count: Int) -> [UInt8]? {
            guard count >= 0, bytes.endIndex - position >= count else { return nil }
            defer { position += count }
            return Array(bytes[position..<position + count])
        }
    }
}
