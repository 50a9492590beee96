/// The value at `/s`: the filesystem's format version, the next inode number never handed out,
/// and a bound on the length of every path key.
///
/// Layout, little-endian: magic `FF 48 53` ("\xFFHS"), version u8, next ino u64; version 2 adds
/// the longest-key bound u32 (16 bytes; version 1, 12 bytes, has no bound and is still read).
/// Inode numbers are reserved in blocks (the counter moves by `InodeAllocator.blockSize` in its
/// own batch before any number of the block is used), so a number is never handed out twice,
/// even after a crash; a crash only skips the rest of a block. The bound is kept by
/// `Filesystem+KeyLength.swift`.
struct Superblock: Equatable, Sendable {
    /// The first ino HoltFS allocates; 1 is the root.
    static let firstIno: UInt64 = 2
    /// Inos with this bit set are derived from a key's hash (prefixes and plain values); the
    /// counter never reaches it.
    static let derivedInoBit: UInt64 = 1 << 63

    /// The next ino that has never been reserved.
    var nextIno: UInt64
    /// No path key (outside the reserved keyspace) is longer than this many bytes; nil when
    /// unknown (a version-1 superblock, written before the bound existed).
    var longestKey: Int? = nil

    /// The encoded value: version 2, or version 1 when the bound is unknown.
    func encoded() -> [UInt8] {
        var out: [UInt8] = [0xFF, 0x48, 0x53, longestKey == nil ? 1 : 2]
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: nextIno >> UInt64(shift))) }
        if let longestKey {
            let bound = UInt32(clamping: longestKey)
            for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: bound >> UInt32(shift))) }
        }
        return out
    }

    /// Decodes a superblock value of version 1 or 2, or nil when it is not one.
    static func decode(_ bytes: [UInt8]) -> Superblock? {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0x48, bytes[2] == 0x53,
            (bytes[3] == 1 && bytes.count == 12) || (bytes[3] == 2 && bytes.count == 16)
        else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[4 + index]) << UInt64(8 * index) }
        var superblock = Superblock(nextIno: value)
        if bytes[3] == 2 {
            var bound: UInt32 = 0
            for index in 0..<4 { bound |= UInt32(bytes[12 + index]) << UInt32(8 * index) }
            superblock.longestKey = Int(bound)
        }
        return superblock
    }

    /// The ino shown for a key with no record (a prefix or a plain value): FNV-1a 64 of the key
    /// with the top bit set, so it never meets an allocated ino. Stable across remounts, changes
    /// with the key.
    static func derivedIno(for key: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash | derivedInoBit
    }
}
