// Protects against damaged blob bytes: after flipping bytes anywhere in the ART part of a blob,
// every operation either answers or throws HoltError; none crashes or hangs. (The store adds
// checksums, so undetected damage may give wrong answers here; it must never trap.)
import Testing
@testable import HoltEngine

@Suite struct ARTCorruptionTests {
    /// Runs every read operation, ignoring HoltErrors.
    func exerciseReads(_ index: ARTIndex<MemoryBlobSource>, _ keys: [[UInt8]]) {
        for key in keys.prefix(50) {
            _ = try? index.get(key)
            _ = try? index.hasKeys(withPrefix: Array(key.prefix(3)))
        }
        _ = try? index.scan(RangeQuery())
        _ = try? index.scan(RangeQuery(prefix: ARTTest.b("d1/"), delimiter: UInt8(ascii: "/"), limit: 50))
        _ = try? index.scan(RangeQuery(startAfter: ARTTest.b("d2/f"), limit: 20))
        _ = index.verify()
    }

    func build(_ rng: inout SeededGenerator, count: Int) throws -> (ARTIndex<MemoryBlobSource>, MemoryBlobSource, [[UInt8]]) {
        let (index, source) = try ARTTest.make(capacity: 16 * 1024)
        var keys: [[UInt8]] = []
        for _ in 0..<count {
            let key = ARTTest.pathKey(&rng, depth: 3, longNames: Int.random(in: 0..<4, using: &rng) == 0)
            try index.put(key, ARTTest.value(&rng, maxLength: 60))
            keys.append(key)
        }
        return (index, source, keys)
    }

    /// A byte offset worth damaging: the header, the slot table, or node data.
    func target(_ rng: inout SeededGenerator, _ index: ARTIndex<MemoryBlobSource>, _ blob: BlobID) -> Int {
        let (slotEnd, low, end) = (try? index.source.read(blob) { (raw) throws(HoltError) in
            let page = PageView(base: raw, id: blob)
            return (page.slotTableEnd, page.dataLow, page.dataEnd)
        }) ?? (4096, 4096, 8192)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return Int.random(in: 64..<96, using: &rng)
        case 1...3: return Int.random(in: 4096..<max(slotEnd, 4097), using: &rng)
        default: return Int.random(in: min(low, end - 1)..<end, using: &rng)
        }
    }

    @Test("Reads over flipped bytes throw or answer, never trap", arguments: ARTTest.seeds([21, 22]))
    func damagedReads(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let (index, source, keys) = try build(&rng, count: 600)
        let blobs = Array(source.liveBlobs).sorted()
        for _ in 0..<(ARTTest.long ? 3_000 : 300) {
            let blob = blobs.randomElement(using: &rng)!
            let flips = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                (target(&rng, index, blob), UInt8.random(in: 1...255, using: &rng))
            }
            for (offset, mask) in flips { source.flip(blob, at: offset, xor: mask) }
            exerciseReads(index, keys)
            for (offset, mask) in flips.reversed() { source.flip(blob, at: offset, xor: mask) }
        }
        #expect(index.verify().isEmpty, "seed \(seed): restoring the bytes restores the tree")
    }

    @Test("Writes over flipped bytes throw or succeed, never trap", arguments: ARTTest.seeds([31, 32]))
    func damagedWrites(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<(ARTTest.long ? 400 : 40) {
            let (index, source, keys) = try build(&rng, count: 150)
            let blobs = Array(source.liveBlobs).sorted()
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let blob = blobs.randomElement(using: &rng)!
                source.flip(blob, at: target(&rng, index, blob), xor: UInt8.random(in: 1...255, using: &rng))
            }
            for _ in 0..<60 {
                let key = Bool.random(using: &rng) ? keys.randomElement(using: &rng)! : ARTTest.pathKey(&rng, depth: 3)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: _ = try? index.remove(key)
                case 1: _ = try? index.moveKeys(withPrefix: Array(key.prefix(2)), to: ARTTest.b("m\(Int.random(in: 0..<9, using: &rng))/"))
                default: _ = try? index.put(key, ARTTest.value(&rng, maxLength: 300))
                }
            }
            exerciseReads(index, keys)
        }
    }
}
