/// Little-endian integer fields for the log's byte layouts (records, segment headers).
enum JournalBytes {
    /// Appends `value` little-endian to `buffer`.
    @inline(__always)
    static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    /// The little-endian `T` at `offset` of `bytes` (the caller has bounds-checked it).
    @inline(__always)
    static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count)
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension JournalBytes {
    /// `bytes.withUnsafeBytes(body)` for a body with typed throws (the standard library's is
    /// `rethrows`, which erases the error type). The pointer is valid only inside `body`.
    static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(HoltError) -> R in try body(raw) } }
        return try result.get()
    }
}
