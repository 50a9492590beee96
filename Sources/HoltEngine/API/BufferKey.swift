/// A key of the write buffer's dictionaries with its 64-bit hash computed once, eight bytes at a
/// time.
///
/// `[UInt8]`'s own `Hashable` feeds `Hasher` one byte at a time; in a load of random puts
/// through a full cache that hashing (an insert, a removal and the readers' lookups per key) took
/// about a tenth of the CPU. Here `hash(into:)` combines the one stored word, and the shard a key
/// belongs to comes from the same word.
struct BufferKey: Hashable {
    /// The key's bytes.
    let bytes: [UInt8]
    /// A hash of every byte of `bytes` (`hashOf`).
    let hash: UInt64

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.hash = Self.hashOf(bytes)
    }

    static func == (a: BufferKey, b: BufferKey) -> Bool {
        a.hash == b.hash && a.bytes == b.bytes
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }

    /// Multiply-and-fold over 8-byte words, then the tail bytes and the length; a final mix
    /// spreads every input bit over the high bits, which pick the shard.
    static func hashOf(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { raw -> UInt64 in
            let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
            var h: UInt64 = 0x2545_F491_4F6C_DD1D ^ UInt64(raw.count)
            var offset = 0
            while offset + 8 <= raw.count {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                h = (h ^ word) &* multiplier
                h ^= h >> 29
                offset += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < raw.count {
                tail |= UInt64(raw[offset]) << shift
                shift += 8
                offset += 1
            }
            h = (h ^ tail) &* multiplier
            h ^= h >> 32
            h = h &* 0xD6E8_FEB8_6659_FD93
            h ^= h >> 32
            return h
        }
    }
}
