/// The reserved keyspace: every key that starts with `/`.
///
/// A path never starts with `/` and never has an empty component, so no path reaches a reserved
/// key, and a listing of the root rolls the whole reserved keyspace up into the common prefix `/`,
/// which readdir drops (its name is empty). This file is the only place that spells these keys.
///
/// | Key                                   | Value                                                |
/// |---------------------------------------|------------------------------------------------------|
/// | `/s`                                  | the superblock: version, next free ino, key bound    |
/// | `/i/<ino>`                            | the inode record of a file with more than one name   |
/// | `/o/<ino>`                            | the inode record of an unlinked file still open      |
/// | `/d/<ino>/<chunk>`                    | one data chunk of a file (absent = a hole of zeros;  |
/// |                                       | at or past the size: stale, never read)              |
/// | `/x/<ino>/<part>/<name>`              | one part of an xattr value too big for the record    |
/// | `/g/<ino>/<d|x><nonce>/...`           | garbage: discarded data and xattr keys, swept         |
/// | `/t/<n>`                              | a node parked for a moment inside one exchange batch |
///
/// `<ino>` is 16 lowercase hex digits and `<chunk>` 8 lowercase hex digits, so keys never hold a
/// NUL or a `/` inside a number and sort in numeric order.
enum ReservedKeys {
    /// The byte every reserved key starts with.
    static let marker = UInt8(ascii: "/")

    /// The superblock key.
    static let superblock: [UInt8] = Array("/s".utf8)

    /// The inode record of a hard-linked file.
    static func inode(_ ino: UInt64) -> [UInt8] { Array("/i/".utf8) + hex(ino, digits: 16) }

    /// The inode record of an unlinked file that is still open.
    static func orphan(_ ino: UInt64) -> [UInt8] { Array("/o/".utf8) + hex(ino, digits: 16) }

    /// The prefix of every orphan record (`/o/`).
    static let orphanPrefix: [UInt8] = Array("/o/".utf8)

    /// The prefix of every hard-linked inode record (`/i/`).
    static let inodePrefix: [UInt8] = Array("/i/".utf8)

    /// The prefix under which the data chunks of `ino` live, without the trailing `/`.
    static func dataPrefix(_ ino: UInt64) -> [UInt8] { Array("/d/".utf8) + hex(ino, digits: 16) }

    /// The key of chunk `index` of `ino`. The index has 8 hex digits, so it must be below 2^32
    /// (`Filesystem.largestMaxFileSize` keeps every file's chunks there).
    static func chunk(_ ino: UInt64, _ index: UInt64) -> [UInt8] {
        precondition(index < 1 << 32, "chunk index \(index) does not fit 8 hex digits")
        return dataPrefix(ino) + [UInt8(ascii: "/")] + hex(index, digits: 8)
    }

    /// The prefix of every data key (`/d/`).
    static let dataRoot: [UInt8] = Array("/d/".utf8)

    /// The prefix under which the big xattr values of `ino` live, without the trailing `/`.
    static func xattrPrefix(_ ino: UInt64) -> [UInt8] { Array("/x/".utf8) + hex(ino, digits: 16) }

    /// The key of part `part` of the big xattr `name` of `ino`.
    static func xattrPart(_ ino: UInt64, name: [UInt8], part: Int) -> [UInt8] {
        xattrPrefix(ino) + [UInt8(ascii: "/")] + hex(UInt64(part), digits: 2) + [UInt8(ascii: "/")] + name
    }

    /// The prefix of every big xattr key (`/x/`).
    static let xattrRoot: [UInt8] = Array("/x/".utf8)

    /// Where discarded keys of `ino` (`what`: `d` data, `x` xattrs) wait for the sweeper, without
    /// the trailing `/`; `nonce` makes each discard's key new (see `Filesystem.garbageNonce`).
    static func garbage(_ ino: UInt64, _ what: UInt8, nonce: UInt64) -> [UInt8] {
        Array("/g/".utf8) + hex(ino, digits: 16) + [UInt8(ascii: "/"), what] + hex(nonce, digits: 16)
    }

    /// The prefix of every garbage key (`/g/`).
    static let garbageRoot: [UInt8] = Array("/g/".utf8)

    /// A temporary key that holds a node (and its subtree) in the middle of one batch.
    static func temporary(_ number: UInt64) -> [UInt8] { Array("/t/".utf8) + hex(number, digits: 16) }

    /// Whether `key` lies in the reserved keyspace.
    static func isReserved(_ key: [UInt8]) -> Bool { key.first == marker }

    /// Parses the 16-hex-digit ino that follows a 3-byte prefix such as `/i/`, or nil.
    static func ino(after prefixLength: Int, in key: [UInt8]) -> UInt64? {
        guard key.count >= prefixLength + 16 else { return nil }
        return parseHex(key[prefixLength..<prefixLength + 16])
    }

    /// Parses the chunk index at the end of a chunk key, or nil.
    static func chunkIndex(in key: [UInt8]) -> UInt64? {
        guard key.count >= 8 else { return nil }
        return parseHex(key[(key.count - 8)...])
    }

    /// `value` as `digits` lowercase hex digits, most significant first.
    static func hex(_ value: UInt64, digits: Int) -> [UInt8] {
        let alphabet = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: digits)
        var rest = value
        for position in stride(from: digits - 1, through: 0, by: -1) {
            out[position] = alphabet[Int(rest & 0xF)]
            rest >>= 4
        }
        return out
    }

    /// Parses lowercase or uppercase hex digits, or nil when a byte is not one.
    static func parseHex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for byte in digits {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }
}
