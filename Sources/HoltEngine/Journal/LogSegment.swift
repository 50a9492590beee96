/// The header of one log segment file, and how segment files are named.
///
/// A segment is `<wal>/NNNNNNNNNNNNNNNNNNNN.log` (its number, 20 decimal digits, so names sort
/// in number order): a 64-byte header, then records back to back. Numbers of the segments
/// present are consecutive (trimming removes the oldest first). Header, little-endian:
/// ```
/// offset  size  field
///      0     8  magic              "HOLTWAL1"
///      8     4  format version     1
///     12     4  header size        64
///     16     8  segment number     the same as in the file name
///     24     8  first LSN          the LSN the segment's first record has (or would have)
///     32     8  previous last LSN  the last LSN before this segment; firstLSN - 1 unless
///                                  `setNextLSN` skipped numbers
///     40    20  reserved           zero
///     60     4  CRC32C             of bytes 0 ..< 60
/// ```
struct LogSegment: Equatable {
    /// The header's size: records start at this offset.
    static let headerSize = 64
    /// "HOLTWAL1" read little-endian.
    static let magic: UInt64 = 0x314C_4157_544C_4F48
    /// The log format this build writes and reads.
    static let formatVersion: UInt32 = 1

    /// The segment's number (its file name).
    var number: UInt64
    /// The LSN of its first record.
    var firstLSN: UInt64
    /// The last LSN logged before this segment.
    var previousLastLSN: UInt64

    /// The file name of segment `number`, e.g. `00000000000000000001.log`.
    static func fileName(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    /// The segment number a file name stands for, or `nil` when the name is not a segment's.
    static func number(fromFileName name: String) -> UInt64? {
        guard name.utf8.count == 24, name.hasSuffix(".log") else { return nil }
        let digits = name.utf8.prefix(20)
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }

    /// The 64 header bytes.
    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerSize)
        JournalBytes.append(Self.magic, to: &bytes)
        JournalBytes.append(Self.formatVersion, to: &bytes)
        JournalBytes.append(UInt32(Self.headerSize), to: &bytes)
        JournalBytes.append(number, to: &bytes)
        JournalBytes.append(firstLSN, to: &bytes)
        JournalBytes.append(previousLastLSN, to: &bytes)
        bytes.append(contentsOf: repeatElement(0, count: 20))
        JournalBytes.append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Decodes a header from the start of `bytes`.
    ///
    /// - Returns: the header, or `nil` when the bytes are not an intact header (torn or damaged).
    /// - Throws: `.unsupportedFormat` when the header is intact but of another format version.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(HoltError) -> LogSegment? {
        guard bytes.count >= headerSize,
              JournalBytes.load(UInt64.self, bytes, 0) == magic,
              JournalBytes.load(UInt32.self, bytes, 60) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<60]))
        else { return nil }
        let version = JournalBytes.load(UInt32.self, bytes, 8)
        guard version == formatVersion, JournalBytes.load(UInt32.self, bytes, 12) == UInt32(headerSize) else {
            throw .unsupportedFormat(version: version)
        }
        return LogSegment(
            number: JournalBytes.load(UInt64.self, bytes, 16),
            firstLSN: JournalBytes.load(UInt64.self, bytes, 24),
            previousLastLSN: JournalBytes.load(UInt64.self, bytes, 32))
    }
}
