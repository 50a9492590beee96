/// Little-endian encoding of the store's small files (manifest slots, blob maps), field by field.
///
/// No Swift struct is ever bound to disk bytes: each field is appended or loaded on its own.
struct ByteWriter {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []

    /// Appends `value` little-endian.
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends `raw` as it is.
    mutating func append(bytes raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// Appends zero bytes up to a total length of `count`.
    mutating func pad(to count: Int) {
        if bytes.count < count { bytes.append(contentsOf: repeatElement(0, count: count - bytes.count)) }
    }

    /// Overwrites the 4 bytes at `offset` with `value` little-endian.
    mutating func set(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }
}

/// Reads little-endian fields out of a byte array; every read is bounds-checked.
struct ByteReader {
    /// The bytes being read.
    let bytes: [UInt8]

    /// The integer at `offset`, or `nil` when it would run past the end.
    func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count - size else { return nil }
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }

    /// The `count` bytes at `offset`, or `nil` when they would run past the end.
    func slice(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset <= bytes.count - count else { return nil }
        return Array(bytes[offset..<(offset + count)])
    }
}
