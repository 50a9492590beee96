/// The byte form of a batch inside a log record.
///
/// ```
/// batch := count:u32 op*
/// op    := tag:u8 field*        (fields per tag below; every field is len:u32 bytes)
///   1 put(key, value)  2 delete(key)  3 rename(from, to)  4 renamePrefix(from, to)
/// ```
/// Batches that name column families, create or drop one, use three more tags
/// (`BatchCodec+Families.swift`): 5 family(id:u32), 6 createFamily(id:u32, name), 7 dropFamily(id:u32).
/// `expect` ops are not logged: a batch is logged only after its conditions held, and replay
/// applies the same ops to the same state, so they hold again. All integers little-endian.
enum BatchCodec {
    /// The batch's bytes, as a new array (tests, and callers without a log buffer at hand).
    static func encode(_ ops: [TxnOp]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedSize(ops))
        encode(ops, into: &out)
        return out
    }

    /// The number of bytes `encode(ops, into:)` appends.
    static func encodedSize(_ ops: [TxnOp]) -> Int {
        var total = 4
        ops.withUnsafeBufferPointer { buffer in
            for position in buffer.indices { total += encodedSize(of: buffer[position]) }
        }
        return total
    }

    /// The number of bytes `encode(op:into:)` appends for `op` (0 for `expect`, not logged).
    @inline(__always)
    static func encodedSize(of op: TxnOp) -> Int {
        switch op {
        case .put(let k, let v): 9 + k.count + v.count
        case .delete(let k): 5 + k.count
        case .rename(let a, let b), .renamePrefix(let a, let b): 9 + a.count + b.count
        case .expect: 0
        }
    }

    /// Appends `op`'s tag and fields (nothing for `expect`, which is not logged).
    @inline(__always)
    static func encode(op: TxnOp, into out: inout [UInt8]) {
        switch op {
        case .put(let key, let value): out.append(1); field(key, &out); field(value, &out)
        case .delete(let key): out.append(2); field(key, &out)
        case .rename(let from, let to): out.append(3); field(from, &out); field(to, &out)
        case .renamePrefix(let from, let to): out.append(4); field(from, &out); field(to, &out)
        case .expect: break
        }
    }

    /// Appends the batch's bytes to `out`: the log encodes a record's payload straight into its
    /// write buffer this way, with no payload array of its own.
    static func encode(_ ops: [TxnOp], into out: inout [UInt8]) {
        // Through a buffer pointer: ops are borrowed in place, not copied (retained) out of the array.
        ops.withUnsafeBufferPointer { buffer in
            var logged: UInt32 = 0
            for position in buffer.indices { if case .expect = buffer[position] {} else { logged += 1 } }
            append(logged, to: &out)
            for position in buffer.indices { encode(op: buffer[position], into: &out) }
        }
    }

    static func decode(_ bytes: [UInt8]) throws(HoltError) -> [TxnOp] {
        var reader = ByteReader(bytes: bytes)
        let count = try reader.u32()
        var ops: [TxnOp] = []
        ops.reserveCapacity(Int(min(count, 1 << 16)))
        for _ in 0..<count {
            let tag = try reader.u8()
            guard let op = try reader.op(tag: tag) else {
                throw .corrupted(what: "log record", reason: "unknown op tag \(tag)")
            }
            ops.append(op)
        }
        guard reader.atEnd else { throw .corrupted(what: "log record", reason: "trailing bytes after batch") }
        return ops
    }

    static func append(_ value: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func field(_ bytes: [UInt8], _ out: inout [UInt8]) {
        append(UInt32(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    /// A bounds-checked cursor over a record's bytes.
    struct ByteReader {
        let bytes: [UInt8]
        var offset = 0
        var atEnd: Bool { offset == bytes.count }

        mutating func u8() throws(HoltError) -> UInt8 {
            guard offset < bytes.count else { throw .corrupted(what: "log record", reason: "batch ends early") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u32() throws(HoltError) -> UInt32 {
            guard bytes.count - offset >= 4 else { throw .corrupted(what: "log record", reason: "batch ends early") }
            var value: UInt32 = 0
            for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * i) }
            offset += 4
            return value
        }

        /// The fields of the op tagged `tag` (1-4), read; nil for another tag (nothing read).
        mutating func op(tag: UInt8) throws(HoltError) -> TxnOp? {
            switch tag {
            case 1: .put(key: try field(), value: try field())
            case 2: .delete(key: try field())
            case 3: .rename(from: try field(), to: try field())
            case 4: .renamePrefix(from: try field(), to: try field())
            default: nil
            }
        }

        mutating func field() throws(HoltError) -> [UInt8] {
            let length = Int(try u32())
            guard bytes.count - offset >= length else { throw .corrupted(what: "log record", reason: "field overruns batch") }
            defer { offset += length }
            return Array(bytes[offset..<offset + length])
        }
    }
}
