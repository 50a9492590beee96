// Protects the checksum of every blob, log record and manifest slot: the hardware path (three
// interleaved lanes joined by a shift over zero bytes for long inputs, one lane for the rest)
// gives CRC32C (Castagnoli) bit for bit, at every length around the lanes' edges, and
// continuing from an earlier checksum equals the checksum of the whole.
import Testing
@testable import HoltEngine

@Suite struct CRC32CTests {
    /// CRC32C a bit at a time: the definition.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func theCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test("Every length around the lanes' edges, and a whole blob", arguments: [
        1, 7, 8, 9, 4_095, 24_575, 24_576, 24_577, 24_583, 49_152, 100_003, 524_288,
    ])
    func matchesTheDefinition(length: Int) {
        var random = SeededGenerator(seed: UInt64(length))
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        let whole = CRC32C.checksum(bytes)
        #expect(whole == Self.reference(bytes))
        // Continued from a checksum of a prefix: the same as the whole.
        let cut = length / 3
        let continued = CRC32C.checksum(Array(bytes[cut...]), continuing: CRC32C.checksum(Array(bytes[..<cut])))
        #expect(continued == whole)
    }
}
