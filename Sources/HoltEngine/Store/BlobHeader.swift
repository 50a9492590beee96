/// The store's part of every blob: bytes `0..<64`, filled when the blob goes to disk and checked
/// when it comes back.
///
/// ```
/// 0      4         8         16     20          24        28          64
/// | HBLB | version | blob id | crc  | gap start | gap end | reserved… |
/// ```
/// Version 2: `gap start..<gap end` (4 KiB aligned, empty when both are 0) is the part of the
/// blob that holds nothing (`BlobUsage.gap`): it is not written but punched out of the slot, and
/// `crc` is the CRC32C of the other `blobSize` bytes with the `crc` field itself zero. Version 1
/// (no gap, every byte checksummed) is still read. Everything is little-endian; the reserved
/// bytes are zero. The ART never reads or writes these bytes.
enum BlobHeader {
    /// "HBLB" read as a little-endian UInt32.
    static let magic: UInt32 = 0x424C_4248
    /// The blob format version this build writes.
    static let formatVersion: UInt32 = 2
    /// Where the fields sit.
    static let magicOffset = 0, versionOffset = 4, idOffset = 8, crcOffset = 16, gapStartOffset = 20, gapEndOffset = 24
    /// The size of the store's part.
    static let size = BlobGeometry.artHeaderOffset

    /// What sealing a blob found: its checksum and how its bytes are used.
    struct Sealed {
        var crc: UInt32
        var usage: BlobUsage
    }

    /// Fills the header of the blob at `blob` for `id` and returns its checksum and usage (the
    /// gap, which is then left out of the checksum, comes from the ART header).
    /// The caller must be the only one touching bytes `0..<64` (readers of the ART never do).
    static func seal(_ blob: UnsafeMutableRawPointer, id: BlobID) -> Sealed {
        let usage = BlobUsage(of: UnsafeRawPointer(blob))
        (blob + 0).initializeMemory(as: UInt8.self, repeating: 0, count: size)
        blob.storeBytes(of: magic.littleEndian, toByteOffset: magicOffset, as: UInt32.self)
        blob.storeBytes(of: formatVersion.littleEndian, toByteOffset: versionOffset, as: UInt32.self)
        blob.storeBytes(of: id.rawValue.littleEndian, toByteOffset: idOffset, as: UInt64.self)
        blob.storeBytes(of: UInt32(usage.gap.lowerBound).littleEndian, toByteOffset: gapStartOffset, as: UInt32.self)
        blob.storeBytes(of: UInt32(usage.gap.upperBound).littleEndian, toByteOffset: gapEndOffset, as: UInt32.self)
        let crc = checksum(UnsafeRawPointer(blob), skipping: usage.gap)
        blob.storeBytes(of: crc.littleEndian, toByteOffset: crcOffset, as: UInt32.self)
        return Sealed(crc: crc, usage: usage)
    }

    /// The CRC32C of the blob's bytes outside `gap`.
    private static func checksum(_ blob: UnsafeRawPointer, skipping gap: Range<Int>) -> UInt32 {
        guard !gap.isEmpty else { return CRC32C.checksum(UnsafeRawBufferPointer(start: blob, count: BlobGeometry.blobSize)) }
        let head = CRC32C.checksum(UnsafeRawBufferPointer(start: blob, count: gap.lowerBound))
        return CRC32C.checksum(
            UnsafeRawBufferPointer(start: blob + gap.upperBound, count: BlobGeometry.blobSize - gap.upperBound), continuing: head)
    }

    /// The gap the header of the blob at `blob` names, or nil when it names an impossible one.
    private static func gap(_ blob: UnsafeRawPointer, version: UInt32) -> Range<Int>? {
        let start = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: gapStartOffset, as: UInt32.self)))
        let end = Int(UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: gapEndOffset, as: UInt32.self)))
        if start == 0 && end == 0 { return 0..<0 }
        let block = BlobGeometry.headerSize
        guard version >= 2, start % block == 0, end % block == 0, start >= block, start < end, end <= BlobGeometry.blobSize
        else { return nil }
        return start..<end
    }

    /// Checks the blob at `blob` read for `id` and expected (from the map) to have checksum
    /// `expected`.
    ///
    /// - Returns: `nil` when it is good, else what is wrong. Leaves the bytes as they are,
    ///   except that the `crc` field is zeroed and restored while checking.
    static func problem(_ blob: UnsafeMutableRawPointer, id: BlobID, expected: UInt32) -> String? {
        let found = UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: magicOffset, as: UInt32.self))
        guard found == magic else { return "bad magic \(String(found, radix: 16))" }
        let version = UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: versionOffset, as: UInt32.self))
        guard version == 1 || version == formatVersion else { return "unsupported blob version \(version)" }
        guard let gap = gap(UnsafeRawPointer(blob), version: version) else { return "bad gap" }
        let stored = UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self))
        blob.storeBytes(of: 0, toByteOffset: crcOffset, as: UInt32.self)
        let crc = checksum(UnsafeRawPointer(blob), skipping: gap)
        blob.storeBytes(of: stored.littleEndian, toByteOffset: crcOffset, as: UInt32.self)
        guard crc == stored else { return "bad checksum" }
        let blobID = UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: idOffset, as: UInt64.self))
        guard blobID == id.rawValue else { return "holds blob \(blobID)" }
        guard stored == expected else { return "stale: not the version the map records" }
        return nil
    }
}
