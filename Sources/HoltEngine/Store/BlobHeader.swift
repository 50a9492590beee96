/// The store's part of every blob: bytes `0..<64`, filled when the blob goes to disk and checked
/// when it comes back.
///
/// ```
/// 0      4         8         16     20         24          64
/// | HBLB | version | blob id | crc  | reserved | reserved… |
/// ```
/// `crc` is the CRC32C of all `blobSize` bytes with the `crc` field itself zero. Everything is
/// little-endian; the reserved bytes are zero. The ART never reads or writes these bytes.
enum BlobHeader {
    /// "HBLB" read as a little-endian UInt32.
    static let magic: UInt32 = 0x424C_4248
    /// The blob format version.
    static let formatVersion: UInt32 = 1
    /// Where the fields sit.
    static let magicOffset = 0, versionOffset = 4, idOffset = 8, crcOffset = 16
    /// The size of the store's part.
    static let size = BlobGeometry.artHeaderOffset

    /// Fills the header of the blob at `blob` for `id` and returns its checksum.
    /// The caller must be the only one touching bytes `0..<64` (readers of the ART never do).
    static func seal(_ blob: UnsafeMutableRawPointer, id: BlobID) -> UInt32 {
        (blob + 0).initializeMemory(as: UInt8.self, repeating: 0, count: size)
        blob.storeBytes(of: magic.littleEndian, toByteOffset: magicOffset, as: UInt32.self)
        blob.storeBytes(of: formatVersion.littleEndian, toByteOffset: versionOffset, as: UInt32.self)
        blob.storeBytes(of: id.rawValue.littleEndian, toByteOffset: idOffset, as: UInt64.self)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: blob, count: BlobGeometry.blobSize))
        blob.storeBytes(of: crc.littleEndian, toByteOffset: crcOffset, as: UInt32.self)
        return crc
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
        guard version == formatVersion else { return "unsupported blob version \(version)" }
        let stored = UInt32(littleEndian: blob.loadUnaligned(fromByteOffset: crcOffset, as: UInt32.self))
        blob.storeBytes(of: 0, toByteOffset: crcOffset, as: UInt32.self)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: blob, count: BlobGeometry.blobSize))
        blob.storeBytes(of: stored.littleEndian, toByteOffset: crcOffset, as: UInt32.self)
        guard crc == stored else { return "bad checksum" }
        let blobID = UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: idOffset, as: UInt64.self))
        guard blobID == id.rawValue else { return "holds blob \(blobID)" }
        guard stored == expected else { return "stale: not the version the map records" }
        return nil
    }
}
