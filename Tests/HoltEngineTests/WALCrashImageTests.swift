// Protects the torn-tail rule against every state a power cut can leave: the bytes after the
// last completed fdatasync are persisted sector by sector in any order (new bytes, zeros or
// garbage, file cut anywhere). Replay must then never report corruption, must keep every
// record acknowledged before the crash, and must return only intact records in LSN order.
// Seeded: HOLT_SEED replays a failure.
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import HoltEngine

@Suite struct WALCrashImageTests {
    @Test func aPowerCutNeverLooksLikeCorruptionAndLosesNoAcknowledgedRecord() throws {
        var random = WALRandom()
        let dir = WALTestDirectory()
        // A log written in groups: each group appended, then one write + one fdatasync.
        var syncedSizes: [Int] = []       // the end of the records after each group's fdatasync
        var acknowledged: [UInt64] = []   // the last LSN of each group
        do {
            let (log, _, _) = try walOpenAndReplay(dir)
            var lsn: UInt64 = 0
            for _ in 0..<40 {
                let count = 1 + random.below(6)
                try walAppend(log, (lsn + 1)...(lsn + UInt64(count)))
                lsn += UInt64(count)
                try log.waitDurable(lsn)
                acknowledged.append(lsn)
                syncedSizes.append(log.io.size)
            }
            try log.close()
        }
        let name = try dir.segments()[0]
        let final = try dir.read(name)
        let iterations = getenv("HOLT_LONG_TESTS") != nil ? 3000 : 300
        for iteration in 0..<iterations {
            // Crash during group k+1's fdatasync: group k is durable, group k+1's bytes are anywhere.
            let k = random.below(syncedSizes.count - 1)
            let durable = syncedSizes[k]
            let written = syncedSizes[k + 1]
            var image = Array(final[..<durable])
            var offset = durable
            while offset < written {
                let sectorEnd = min(written, (offset / 512 + 1) * 512)
                switch random.below(4) {
                case 0, 1: image += final[offset..<sectorEnd]                       // persisted
                case 2: image += [UInt8](repeating: 0, count: sectorEnd - offset)   // not yet
                default: image += (offset..<sectorEnd).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                }
                offset = sectorEnd
            }
            if random.below(3) == 0 {
                image = Array(image[..<(durable + random.below(written - durable + 1))])
            } else {
                image += [UInt8](repeating: 0, count: final.count - written)  // the preallocated room
            }
            try dir.write(name, image)
            let context = "seed \(random.seed), iteration \(iteration), durable group \(k)"
            do {
                let (log, replayed, _) = try walOpenAndReplay(dir)
                #expect(replayed.count >= Int(acknowledged[k]), "\(context): acknowledged records lost")
                #expect(replayed.map(\.0) == (0..<replayed.count).map { UInt64($0) + 1 }, "\(context)")
                #expect(replayed.allSatisfy { $0.1 == walPayload($0.0) }, "\(context)")
                #expect(replayed.count <= Int(acknowledged[k + 1]), "\(context)")
                try log.close()
            } catch {
                Issue.record("\(context): \(error)")
                return
            }
        }
    }
}
