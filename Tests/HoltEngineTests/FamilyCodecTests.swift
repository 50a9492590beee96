// Protects the log payload of column families (docs/FORMAT.md, "Batch payload"): a batch of the
// default family is byte for byte what builds before families wrote, so old logs replay
// unchanged; family markers, creations and drops round-trip; bad bytes are `.corrupted`.
import Testing
@testable import HoltEngine

@Suite struct FamilyCodecTests {
    let ops: [TxnOp] = [
        .put(key: bytes("a/b"), value: bytes("1")), .delete(key: bytes("c")), .expect(key: bytes("a"), .absent),
        .rename(from: bytes("x"), to: bytes("y")), .renamePrefix(from: bytes("d"), to: bytes("e")),
    ]

    @Test("A default-family batch is encoded exactly as before families and decodes as default ops")
    func defaultBatchIsUnchanged() throws {
        let old = BatchCodec.encode(ops)
        var scoped: [UInt8] = []
        BatchCodec.encode(ops.map { ScopedOp(family: .default, op: $0) }, into: &scoped)
        #expect(scoped == old)
        #expect(BatchCodec.encodedSize(ops.map { ScopedOp(family: .default, op: $0) }) == old.count)
        let items = try BatchCodec.decodeItems(old)
        let logged = ops.filter { if case .expect = $0 { false } else { true } }
        #expect(items == logged.map { .op(.default, $0) })
        #expect(BatchCodec.defaultFamilyOps(items) == logged)
        #expect(try BatchCodec.decode(old) == logged)
    }

    @Test("Family markers, creations and drops round-trip; an unknown tag is corruption")
    func familyItemsRoundTrip() throws {
        let a = FamilyID(rawValue: 3), b = FamilyID(rawValue: 70_000)
        let scoped = [
            ScopedOp(family: a, op: .put(key: bytes("k"), value: bytes("v"))),
            ScopedOp(family: a, op: .delete(key: bytes("j"))),
            ScopedOp(family: .default, op: .put(key: bytes("k"), value: bytes("w"))),
            ScopedOp(family: b, op: .expect(key: bytes("k"), .exists)),
            ScopedOp(family: b, op: .renamePrefix(from: bytes("p"), to: bytes("q"))),
        ]
        var encoded: [UInt8] = []
        BatchCodec.encode(scoped, into: &encoded)
        #expect(encoded.count == BatchCodec.encodedSize(scoped))
        let items = try BatchCodec.decodeItems(encoded)
        #expect(items == [
            .op(a, .put(key: bytes("k"), value: bytes("v"))), .op(a, .delete(key: bytes("j"))),
            .op(.default, .put(key: bytes("k"), value: bytes("w"))), .op(b, .renamePrefix(from: bytes("p"), to: bytes("q"))),
        ])
        #expect(BatchCodec.defaultFamilyOps(items) == nil)
        #expect(try BatchCodec.decodeItems(BatchCodec.encodeCreate(a, name: bytes("inodes"))) == [.createFamily(a, name: bytes("inodes"))])
        #expect(try BatchCodec.decodeItems(BatchCodec.encodeDrop(b)) == [.dropFamily(b)])
        // Builds before families refuse such a record rather than misread it.
        #expect(throws: HoltError.self) { try BatchCodec.decode(encoded) }
        var bad = BatchCodec.encodeDrop(b)
        bad[4] = 9
        #expect(throws: HoltError.corrupted(what: "log record", reason: "unknown op tag 9")) { try BatchCodec.decodeItems(bad) }
        #expect(throws: HoltError.self) { try BatchCodec.decodeItems(Array(encoded.dropLast())) }
    }
}
