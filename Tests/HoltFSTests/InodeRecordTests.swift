// Protects the inode record codec: every field round-trips, a value that is not a record is
// recognised as such (so plain values show as files), and another version is refused.
import Testing

@testable import HoltFS

@Suite struct InodeRecordTests {
    private static func randomRecord(_ generator: inout SeededGenerator) -> InodeRecord {
        let kinds: [InodeRecord.Kind] = [.regular, .directory, .symlink, .fifo, .socket, .charDevice, .blockDevice]
        var record = InodeRecord(kind: kinds.randomElement(using: &generator)!)
        record.mode = UInt32.random(in: 0...0o7777, using: &generator)
        record.uid = UInt32.random(in: 0...UInt32.max, using: &generator)
        record.gid = UInt32.random(in: 0...UInt32.max, using: &generator)
        record.nlink = UInt32.random(in: 0...70_000, using: &generator)
        record.size = UInt64.random(in: 0...(1 << 41), using: &generator)
        record.atime = Int64.random(in: Int64.min...Int64.max, using: &generator)
        record.mtime = Int64.random(in: -1_000_000...Int64.max, using: &generator)
        record.ctime = Int64.random(in: 0...Int64.max, using: &generator)
        record.rdev = UInt64.random(in: 0...UInt64.max, using: &generator)
        record.ino = UInt64.random(in: 0...UInt64.max, using: &generator)
        record.generation = UInt64.random(in: 0...9, using: &generator)
        record.symlinkTarget = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 1...255, using: &generator) }
        for index in 0..<Int.random(in: 0...5, using: &generator) {
            let inline = Bool.random(using: &generator)
            let size = Int.random(in: 0...600, using: &generator)
            let value = inline ? (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) } : nil
            record.xattrs.append(.init(name: Array("user.a\(index)".utf8), value: value, size: size))
        }
        record.isChunked = Bool.random(using: &generator)
        if !record.isChunked {
            record.inlineData = (0..<Int.random(in: 0...2048, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        return record
    }

    @Test func randomRecordsRoundTrip() throws {
        var generator = SeededGenerator(defaultSeed: 0x5EED_0001)
        for _ in 0..<500 {
            let record = Self.randomRecord(&generator)
            let decoded = try InodeRecord.decode(record.encoded())
            #expect(decoded == record, "seed \(generator.seed)")
        }
    }

    @Test func peekAgreesWithDecode() throws {
        var generator = SeededGenerator(defaultSeed: 0x5EED_0003)
        for _ in 0..<300 {
            let record = Self.randomRecord(&generator)
            let peeked = try #require(InodeRecord.peekKindAndIno(record.encoded()), "seed \(generator.seed)")
            #expect(peeked.kind == record.kind && peeked.ino == record.ino, "seed \(generator.seed)")
        }
        let link = try #require(InodeRecord.peekKindAndIno(InodeRecord.link(to: 77).encoded()))
        #expect(link.kind == .hardLink && link.ino == 77)
        // Not records, damaged records and other versions: nil, so the caller decodes and learns why.
        var damaged = InodeRecord(kind: .regular).encoded()
        damaged[30] ^= 0x01
        var otherVersion = InodeRecord(kind: .directory).encoded()
        otherVersion[3] = 2
        for value in [[], Array("hello".utf8), [0xFF, 0x48, 0x46, 1, 1], damaged, otherVersion] {
            #expect(InodeRecord.peekKindAndIno(value) == nil)
        }
    }

    @Test func linkRecordIsSmallAndRoundTrips() throws {
        let link = InodeRecord.link(to: 0xDEAD_BEEF)
        let bytes = link.encoded()
        #expect(bytes.count == 18)
        let decoded = try InodeRecord.decode(bytes)
        #expect(decoded.kind == .hardLink)
        #expect(decoded.ino == 0xDEAD_BEEF)
    }

    @Test func plainValuesAreNotRecords() {
        var generator = SeededGenerator(defaultSeed: 0x5EED_0002)
        let samples: [[UInt8]] = [[], Array("hello".utf8), [0xFF], [0xFF, 0x48, 0x46, 1, 1]]
        for value in samples { #expect(throws: InodeRecord.DecodeFailure.notARecord) { try InodeRecord.decode(value) } }
        for _ in 0..<200 {
            var value = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if Bool.random(using: &generator), value.count > 3 { value.replaceSubrange(0..<3, with: InodeRecord.magic) }
            #expect(throws: InodeRecord.DecodeFailure.notARecord) { try InodeRecord.decode(value) }
        }
    }

    @Test func damagedRecordIsNotARecord() {
        var record = InodeRecord(kind: .regular)
        record.inlineData = Array("content".utf8)
        var bytes = record.encoded()
        bytes[30] ^= 0x01
        #expect(throws: InodeRecord.DecodeFailure.notARecord) { try InodeRecord.decode(bytes) }
        #expect(throws: InodeRecord.DecodeFailure.notARecord) { try InodeRecord.decode(Array(record.encoded().dropLast())) }
    }

    @Test func otherVersionIsRefused() {
        var bytes = InodeRecord(kind: .directory).encoded()
        bytes[3] = 2
        let body = bytes.dropLast(4)
        let checksum = InodeRecord.checksum(body)
        bytes = Array(body) + withUnsafeBytes(of: checksum.littleEndian) { Array($0) }
        #expect(throws: InodeRecord.DecodeFailure.unsupportedVersion(2)) { try InodeRecord.decode(bytes) }
    }

    @Test func layoutOffsetsArePinned() {
        var record = InodeRecord(kind: .regular)
        record.mode = 0o4755
        record.uid = 0x0102_0304
        record.ino = 0x1122_3344_5566_7788
        let bytes = record.encoded()
        #expect(Array(bytes[0..<4]) == [0xFF, 0x48, 0x46, 1])
        #expect(bytes[4] == InodeRecord.Kind.regular.rawValue)
        #expect(bytes[6] == 0xED && bytes[7] == 0x09)  // 0o4755 little-endian
        #expect(Array(bytes[8..<12]) == [4, 3, 2, 1])
        #expect(Array(bytes[60..<68]) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(bytes.count == 76 + 2 + 2 + 4 + 4)
    }

    @Test func superblockRoundTripsAndDerivedInosStayApart() {
        let superblock = Superblock(nextIno: 123_456)
        #expect(Superblock.decode(superblock.encoded()) == superblock)
        #expect(Superblock.decode(Array("plain".utf8)) == nil)
        #expect(Superblock.derivedIno(for: Array("a/b".utf8)) & Superblock.derivedInoBit != 0)
        #expect(Superblock.derivedIno(for: Array("a/b".utf8)) == Superblock.derivedIno(for: Array("a/b".utf8)))
        #expect(Superblock.derivedIno(for: Array("a/b".utf8)) != Superblock.derivedIno(for: Array("a/c".utf8)))
    }
}
