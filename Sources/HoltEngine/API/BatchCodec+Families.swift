/// The byte form of a batch that names column families, or creates or drops one.
///
/// ```
/// batch := count:u32 item*
/// item  := op (tags 1-4, `BatchCodec`)       an op of the current family
///        | 5 id:u32                           the ops after it belong to family `id` (0: default)
///        | 6 id:u32 name:len:u32 bytes        create family `id` named `name` (UTF-8)
///        | 7 id:u32                           drop family `id` and free its blobs
/// ```
/// The current family is the default one (0) at the start of a batch, so a batch of the default
/// family alone is written exactly as before families (`BatchCodec.encode(_:)`), and every log
/// written by an older build decodes unchanged. `count` counts every item, markers included.
/// A record with tags 5-7 is refused by builds from before families (an unknown op tag).
extension BatchCodec {
    /// Tag of the marker that switches the current family.
    static let familyTag: UInt8 = 5
    /// Tag of a family's creation.
    static let createFamilyTag: UInt8 = 6
    /// Tag of a family's drop.
    static let dropFamilyTag: UInt8 = 7

    /// The number of bytes `encode(_ ops: [ScopedOp], into:)` appends.
    static func encodedSize(_ ops: [ScopedOp]) -> Int {
        var total = 4
        var current = FamilyID.default
        for scoped in ops {
            if case .expect = scoped.op { continue }
            total += encodedSize(of: scoped.op)
            if scoped.family != current {
                total += 5
                current = scoped.family
            }
        }
        return total
    }

    /// Appends the bytes of a batch whose ops name their families (`expect` ops left out).
    static func encode(_ ops: [ScopedOp], into out: inout [UInt8]) {
        let countAt = out.count
        append(UInt32(0), to: &out)
        var count: UInt32 = 0
        var current = FamilyID.default
        for scoped in ops {
            if case .expect = scoped.op { continue }
            if scoped.family != current {
                out.append(familyTag)
                append(scoped.family.rawValue, to: &out)
                count += 1
                current = scoped.family
            }
            encode(op: scoped.op, into: &out)
            count += 1
        }
        withUnsafeBytes(of: count.littleEndian) { raw in
            for i in 0..<4 { out[countAt + i] = raw[i] }
        }
    }

    /// The bytes of a record that creates family `id` named `name`.
    static func encodeCreate(_ id: FamilyID, name: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        append(UInt32(1), to: &out)
        out.append(createFamilyTag)
        append(id.rawValue, to: &out)
        field(name, &out)
        return out
    }

    /// The bytes of a record that drops family `id`.
    static func encodeDrop(_ id: FamilyID) -> [UInt8] {
        var out: [UInt8] = []
        append(UInt32(1), to: &out)
        out.append(dropFamilyTag)
        append(id.rawValue, to: &out)
        return out
    }

    /// Decodes any batch record, with or without families.
    /// - Throws: `.corrupted(what: "log record", ...)` for bytes no encoder writes.
    static func decodeItems(_ bytes: [UInt8]) throws(HoltError) -> [LoggedItem] {
        var reader = ByteReader(bytes: bytes)
        let count = try reader.u32()
        var items: [LoggedItem] = []
        items.reserveCapacity(Int(min(count, 1 << 16)))
        var current = FamilyID.default
        for _ in 0..<count {
            let tag = try reader.u8()
            if let op = try reader.op(tag: tag) {
                items.append(.op(current, op))
                continue
            }
            switch tag {
            case familyTag: current = FamilyID(rawValue: try reader.u32())
            case createFamilyTag:
                let id = FamilyID(rawValue: try reader.u32())
                items.append(.createFamily(id, name: try reader.field()))
            case dropFamilyTag: items.append(.dropFamily(FamilyID(rawValue: try reader.u32())))
            case let tag: throw .corrupted(what: "log record", reason: "unknown op tag \(tag)")
            }
        }
        guard reader.atEnd else { throw .corrupted(what: "log record", reason: "trailing bytes after batch") }
        return items
    }

    /// The ops of `items` when all of them are ops of the default family (a record as written
    /// before families), else nil.
    static func defaultFamilyOps(_ items: [LoggedItem]) -> [TxnOp]? {
        var ops: [TxnOp] = []
        ops.reserveCapacity(items.count)
        for item in items {
            guard case .op(let family, let op) = item, family == .default else { return nil }
            ops.append(op)
        }
        return ops
    }
}

/// One item of a logged batch (`BatchCodec.decodeItems`).
enum LoggedItem: Equatable, Sendable {
    /// An op of one family.
    case op(FamilyID, TxnOp)
    /// The creation of family `id` named `name` (UTF-8).
    case createFamily(FamilyID, name: [UInt8])
    /// The drop of family `id`.
    case dropFamily(FamilyID)
}

/// An op and the family it applies to, as the tree applies and logs it.
struct ScopedOp: Sendable {
    /// The family's number.
    let family: FamilyID
    /// The op.
    let op: TxnOp
    /// Where the family is in the batch's list of families touched (`Tree.applyFamiliesLocked`).
    var slot = 0
}
