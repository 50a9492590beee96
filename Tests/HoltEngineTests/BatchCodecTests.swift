// Protects the byte form of a batch in the log: encoding straight into a buffer that already
// holds bytes gives the same bytes as encoding alone, `encodedSize` is exact, `.expect` ops are
// left out, and decoding gives back the logged ops.
import Testing
@testable import HoltEngine

@Suite struct BatchCodecTests {
    @Test("Encode into a buffer, size, and round trip", arguments: ARTTest.seeds([5, 6]))
    func roundTrip(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<50 {
            let ops: [TxnOp] = (0..<Int.random(in: 0...20, using: &rng)).map { _ in
                let a = ARTTest.pathKey(&rng, depth: 3, longNames: true)
                let b = ARTTest.pathKey(&rng, depth: 2, longNames: false)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: return .put(key: a, value: ARTTest.value(&rng, maxLength: 300))
                case 1: return .delete(key: a)
                case 2: return .rename(from: a, to: b)
                case 3: return .renamePrefix(from: a, to: b)
                default: return .expect(key: a, .value(b))
                }
            }
            let alone = BatchCodec.encode(ops)
            #expect(alone.count == BatchCodec.encodedSize(ops), "seed \(seed)")
            var buffer: [UInt8] = [9, 9, 9]
            BatchCodec.encode(ops, into: &buffer)
            #expect(Array(buffer.dropFirst(3)) == alone, "seed \(seed)")
            let logged = ops.filter { if case .expect = $0 { false } else { true } }
            #expect(try BatchCodec.decode(alone) == logged, "seed \(seed)")
        }
    }

    @Test func aRecordEncodedInPlaceMatchesOneEncodedFromAPayload() throws {
        let payload: [UInt8] = Array(0..<200)
        var a: [UInt8] = [1, 2], b: [UInt8] = [1, 2]
        LogRecord.encode(lsn: 42, durableMark: 40, payload: payload, into: &a)
        LogRecord.encode(lsn: 42, durableMark: 40, payloadSize: payload.count, into: &b) { $0.append(contentsOf: payload) }
        #expect(a == b)
        let decoded = a.withUnsafeBytes { LogRecord.decode($0, at: 2) }
        #expect(try decoded.get().lsn == 42)
        #expect(try decoded.get().payload == 30..<230)
    }
}
