/// The value at `/s`: the filesystem's format version and the next inode number never handed out.
///
/// Layout: magic `FF 48 53` ("\xFFHS"), version u8 (1), next ino u64 little-endian (12 bytes).
/// Inode numbers are reserved in blocks (the counter moves by `InodeAllocator.blockSize` in its
/// own batch before any number of the block is used), so a number is never handed out twice,
/// even after a crash; a crash only skips the rest of a block.
struct Superblock: Equatable, Sendable {
    /// The first ino HoltFS allocates; 1 is the root.
    static let firstIno: UInt64 = 2
    /// Inos with this bit set are derived from a key's hash (prefixes and plain values); the
    /// counter never reaches it.
    static let derivedInoBit: UInt64 = 1 << 63

    /// The next ino that has never been reserved.
    var nextIno: UInt64

    /// The encoded value.
    func encoded() -> [UInt8] {
        var out: [UInt8] = [0xFF, 0x48, 0x53, 1]
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: nextIno >> UInt64(shift))) }
        return out
    }

    /// Decodes a superblock value, or nil when it is not one.
    static func decode(_ bytes: [UInt8]) -> Superblock? {
        guard bytes.count == 12, bytes[0] == 0xFF, bytes[1] == 0x48, bytes[2] == 0x53, bytes[3] == 1 else { return nil }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[4 + index]) << UInt64(8 * index) }
        return Superblock(nextIno: value)
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
