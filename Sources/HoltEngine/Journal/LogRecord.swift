/// The byte form of one log record: the unit the write-ahead log appends, syncs and replays.
///
/// One record holds one batch (an opaque payload made by `BatchCodec`). Layout, little-endian,
/// `32 + n` bytes, no padding:
/// ```
/// offset  size  field
///      0     4  magic           0x52574C48 (bytes "HLWR")
///      4     4  payload length  n, at most `maxPayload`
///      8     8  LSN             this record's sequence number (consecutive in the log)
///     16     8  durable mark    every LSN <= this was durable (fdatasync done) before this
///                               record was appended; tells mid-log damage from a torn tail
///     24     1  type            1 = batch
///     25     3  reserved        zero
///     28     n  payload
///   28+n     4  CRC32C          of bytes 0 ..< 28+n
/// ```
enum LogRecord {
    /// The magic number that opens every record.
    static let magic: UInt32 = 0x5257_4C48
    /// Bytes before the payload.
    static let headerSize = 28
    /// Bytes a record adds to its payload (header and CRC).
    static let overhead = 32
    /// The largest payload a record can hold (1 GiB).
    static let maxPayload = 1 << 30
    /// The type of a record that holds a batch.
    static let batchType: UInt8 = 1

    /// A record read from disk: its fields and where its payload lies in the bytes it came from.
    struct Decoded: Equatable {
        /// The record's LSN.
        var lsn: UInt64
        /// The durable mark the writer stored (see the layout).
        var durableMark: UInt64
        /// Where the payload lies in the scanned bytes.
        var payload: Range<Int>
        /// The whole record's size in bytes.
        var size: Int
    }

    /// Appends the record for `payload` with `lsn` and `durableMark` to `buffer`.
    static func encode(lsn: UInt64, durableMark: UInt64, payload: [UInt8], into buffer: inout [UInt8]) {
        encode(lsn: lsn, durableMark: durableMark, payloadSize: payload.count, into: &buffer) { $0.append(contentsOf: payload) }
    }

    /// Appends a record with `lsn` and `durableMark` to `buffer` whose payload `writePayload`
    /// appends in place (exactly `payloadSize` bytes), so the payload is never copied twice.
    static func encode(
        lsn: UInt64, durableMark: UInt64, payloadSize: Int, into buffer: inout [UInt8],
        writePayload: (inout [UInt8]) -> Void
    ) {
        precondition(payloadSize <= maxPayload, "log payload of \(payloadSize) bytes")
        let start = buffer.count
        let needed = start + overhead + payloadSize
        // Grow geometrically: the log's buffer takes many records between writes.
        if buffer.capacity < needed { buffer.reserveCapacity(max(needed, 2 * buffer.capacity)) }
        JournalBytes.append(magic, to: &buffer)
        JournalBytes.append(UInt32(payloadSize), to: &buffer)
        JournalBytes.append(lsn, to: &buffer)
        JournalBytes.append(durableMark, to: &buffer)
        JournalBytes.append(UInt32(batchType), to: &buffer)
        writePayload(&buffer)
        precondition(buffer.count == start + headerSize + payloadSize, "log payload is not \(payloadSize) bytes")
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        JournalBytes.append(crc, to: &buffer)
    }

    /// Decodes the record at `offset` of `bytes`, or says why there is no whole, intact record there.
    ///
    /// - Returns: the record, or a reason (bad magic, a length past the end, a CRC mismatch, ...).
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Result<Decoded, DecodeFailure> {
        let available = bytes.count - offset
        guard available >= overhead else { return .failure(.init("only \(available) bytes left, a record needs \(overhead)")) }
        let found = JournalBytes.load(UInt32.self, bytes, offset)
        guard found == magic else { return .failure(.init("bad magic 0x\(String(found, radix: 16))")) }
        let length = Int(JournalBytes.load(UInt32.self, bytes, offset + 4))
        guard length <= maxPayload else { return .failure(.init("payload length \(length) is too large")) }
        guard length + overhead <= available else {
            return .failure(.init("payload length \(length) runs past the end (\(available) bytes left)"))
        }
        let crcOffset = offset + headerSize + length
        let stored = JournalBytes.load(UInt32.self, bytes, crcOffset)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<crcOffset]))
        guard stored == computed else { return .failure(.init("CRC mismatch")) }
        // The CRC held, so these fields are what some writer wrote: a bad one is not a torn write.
        let type = bytes[offset + 24]
        guard type == batchType, bytes[offset + 25] == 0, bytes[offset + 26] == 0, bytes[offset + 27] == 0 else {
            return .failure(.init("unknown record type \(type)"))
        }
        return .success(Decoded(
            lsn: JournalBytes.load(UInt64.self, bytes, offset + 8),
            durableMark: JournalBytes.load(UInt64.self, bytes, offset + 16),
            payload: (offset + headerSize)..<crcOffset,
            size: length + overhead))
    }

    /// Why no record could be decoded at an offset.
    struct DecodeFailure: Error, Equatable {
        /// A short English reason.
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
