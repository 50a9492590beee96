// Protects the manifest and the blob map file: their byte layouts (pinned against
// docs/FORMAT.md), slot alternation, choice of the newest valid slot, and the shadow-paging
// rules of the blob map.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct StoreManifestTests {
    let sample = Anchor(
        generation: 5, checkpointLSN: 0x1122_3344_5566_7788, root: BlobID(rawValue: 9), nextBlobID: 12,
        mapLength: 100, mapCRC: 0xDEAD_BEEF, user: (0..<64).map { UInt8($0) })

    @Test func slotLayoutIsPinned() throws {
        let bytes = Manifest.encode(sample)
        #expect(bytes.count == 4096)
        #expect(Array(bytes[0..<4]) == Array("HMAN".utf8))
        #expect(bytes[4] == 1 && bytes[5...7].allSatisfy { $0 == 0 })
        #expect(bytes[8] == 5)
        #expect(Array(bytes[16..<24]) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(bytes[24] == 9 && bytes[32] == 12 && bytes[40] == 100)
        #expect(Array(bytes[48..<52]) == [0xEF, 0xBE, 0xAD, 0xDE])
        #expect(bytes[52..<64].allSatisfy { $0 == 0 })
        #expect(Array(bytes[64..<128]) == sample.user)
        #expect(bytes[128..<4092].allSatisfy { $0 == 0 })
        let crc = CRC32C.checksum(Array(bytes[0..<4092]))
        #expect(ByteReader(bytes: bytes).load(UInt32.self, at: 4092) == crc)
        #expect(Manifest.decode(bytes) == .valid(sample))
        var noRoot = sample
        noRoot.root = nil
        #expect(Manifest.decode(Manifest.encode(noRoot)) == .valid(noRoot))
    }

    @Test("A slot with a column-family catalog is version 2, the catalog's blob id at byte 56")
    func catalogSlotLayoutIsPinned() throws {
        var withCatalog = sample
        withCatalog.catalog = BlobID(rawValue: 0x0102_0304)
        let bytes = Manifest.encode(withCatalog)
        #expect(bytes[4] == 2 && bytes[5...7].allSatisfy { $0 == 0 })
        #expect(bytes[52..<56].allSatisfy { $0 == 0 })
        #expect(Array(bytes[56..<64]) == [4, 3, 2, 1, 0, 0, 0, 0])
        #expect(Manifest.decode(bytes) == .valid(withCatalog))
        // A version-1 slot names no catalog: one that does is not a slot this build wrote.
        var forged = bytes
        forged[4] = 1
        let crc = CRC32C.checksum(Array(forged[0..<4092]))
        for i in 0..<4 { forged[4092 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        #expect(Manifest.decode(forged) == .invalid(reason: "catalog in a version-1 slot"))
    }

    @Test func newerFormatIsUnsupportedNotCorrupted() {
        var bytes = Manifest.encode(sample)
        bytes[4] = 3
        let crc = CRC32C.checksum(Array(bytes[0..<4092]))
        for i in 0..<4 { bytes[4092 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        #expect(Manifest.decode(bytes) == .unsupported(version: 3))
        #expect(Manifest.decode([UInt8](repeating: 0, count: 4096)) == .invalid(reason: "bad magic"))
    }

    @Test func writesAlternateSlotsAndOpenPicksTheNewest() throws {
        let dir = StoreTemporaryDirectory()
        try Syscall.makeDirectory(dir.database)
        var anchor = Anchor.empty(mapLength: 0, mapCRC: 0)
        let manifest = try Manifest.create(directory: dir.database, anchor: anchor)
        for generation in 1...3 as ClosedRange<UInt64> {
            anchor.generation = generation
            anchor.checkpointLSN = generation * 10
            try manifest.write(anchor)
            let reopened = try Manifest.open(directory: dir.database)
            #expect(reopened.current == anchor)
            try reopened.close()
        }
        try manifest.close()
        // Generation 3 is in slot 1; tear it and generation 2 (slot 0) is what open finds.
        try storeFlipByte(path: dir.database + "/MANIFEST", offset: Manifest.slotSize + 100)
        let fallback = try Manifest.open(directory: dir.database)
        #expect(fallback.current.generation == 2)
        #expect(fallback.current.checkpointLSN == 20)
        try fallback.close()
    }

    @Test func mapFileRoundTripsAndLayoutIsPinned() throws {
        var map = BlobMap(durable: [:], nextID: 1, fileSlots: 0)
        let a = map.newID(), b = map.newID()
        map.record(a, slot: map.target(for: a), crc: 0xAABB_CCDD)
        map.record(b, slot: map.target(for: b), crc: 7)
        let bytes = map.encode(generation: 3)
        #expect(bytes.count == 32 + 2 * 24 + 4)
        #expect(Array(bytes[0..<4]) == Array("HMAP".utf8))
        #expect(bytes[4] == 1 && bytes[8] == 3 && bytes[16] == 2)
        #expect(bytes[32] == 1 && bytes[40] == 0 && Array(bytes[48..<52]) == [0xDD, 0xCC, 0xBB, 0xAA])
        #expect(bytes[56] == 2 && bytes[64] == 1 && bytes[72] == 7)
        let decoded = try BlobMap.decode(bytes, generation: 3, what: "map")
        #expect(decoded == map.entries)
        #expect(throws: HoltError.self) { try BlobMap.decode(bytes, generation: 4, what: "map") }
    }

    @Test func durableSlotsAreNeverRewrittenBeforeTheNextCheckpoint() throws {
        var random = StoreRandom()
        var map = BlobMap(durable: [:], nextID: 1, fileSlots: 0)
        var live: [BlobID] = []
        for round in 0..<50 {
            let durable = Set(map.entries.values.map(\.slot))
            // A burst of writes, allocations and frees between two checkpoints.
            for _ in 0..<20 {
                switch random.next() % 4 {
                case 0:
                    live.append(map.newID())
                case 1 where !live.isEmpty:
                    let id = live.remove(at: Int(random.next() % UInt64(live.count)))
                    map.release(id)
                default:
                    guard !live.isEmpty else { continue }
                    let id = live[Int(random.next() % UInt64(live.count))]
                    let slot = map.target(for: id)
                    #expect(!durable.contains(slot), "round \(round), seed \(random.seed)")
                    map.record(id, slot: slot, crc: UInt32(round))
                }
                #expect(map.invariantViolations() == [], "seed \(random.seed)")
            }
            map.checkpointed()
            // A reopened map agrees with the live one.
            let reopened = BlobMap(durable: map.entries, nextID: map.nextID, fileSlots: map.slotCount)
            #expect(reopened.entries == map.entries)
        }
        // Slots are reused: the file holds at most the live blobs twice plus one burst.
        #expect(map.slotCount <= UInt64(2 * live.count + 40), "seed \(random.seed)")
    }
}
