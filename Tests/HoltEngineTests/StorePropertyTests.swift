// Protects the store as a whole against a dictionary oracle: random allocations, writes,
// frees, checkpoints and reopens (which drop everything after the last checkpoint, as a crash
// would) through a cache much smaller than the data. After each step the store and the oracle
// agree and the invariants hold. Replay a failure with HOLT_SEED=<seed>.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct StorePropertyTests {
    static var steps: Int { ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1" ? 3_000 : 400 }

    @Test(arguments: [1, 3])
    func storeAgreesWithAnOracle(shards: Int) throws {
        var random = StoreRandom()
        let seed = random.seed
        let dir = StoreTemporaryDirectory()
        let cache = 4 << 20  // 8 frames
        var store = try BufferManager.open(directory: dir.database, cacheBytes: cache, create: true, shards: shards)
        var current: [BlobID: UInt64] = [:]  // blob -> pattern version now
        var durable: [BlobID: UInt64] = [:]  // ... at the last checkpoint
        var durableLSN: UInt64 = 0
        var freedSinceCheckpoint: Set<BlobID> = []
        var version: UInt64 = 0
        for step in 0..<Self.steps {
            let context = Comment(rawValue: "seed \(seed), step \(step)")
            let roll = random.next() % 100
            switch roll {
            case 0..<15 where current.count < 40:
                let id = try store.allocate()
                #expect(current[id] == nil && !freedSinceCheckpoint.contains(id), context)
                version += 1
                try store.put(id, version: version)
                current[id] = version
            case 15..<50 where !current.isEmpty:
                let id = current.keys.sorted()[Int(random.next() % UInt64(current.count))]
                version += 1
                try store.put(id, version: version)
                current[id] = version
            case 50..<58 where !current.isEmpty:
                let id = current.keys.sorted()[Int(random.next() % UInt64(current.count))]
                try store.free(id)
                current[id] = nil
                freedSinceCheckpoint.insert(id)
            case 58..<64:
                durableLSN += 1
                try store.checkpoint(root: current.keys.min(), lsn: durableLSN, user: [UInt8(durableLSN & 0xFF)])
                durable = current
                freedSinceCheckpoint.removeAll()
            case 64..<67:
                // Reopen without a checkpoint: everything since the last one is gone.
                try store.close()
                store = try BufferManager.open(directory: dir.database, cacheBytes: cache, create: false, shards: shards)
                current = durable
                freedSinceCheckpoint.removeAll()
                #expect(store.anchor.checkpointLSN == durableLSN, context)
                #expect(store.anchor.root == durable.keys.min(), context)
                #expect(store.verifyBlobs() == [], context)
            default:
                guard !current.isEmpty else { continue }
                let id = current.keys.sorted()[Int(random.next() % UInt64(current.count))]
                #expect(try store.version(of: id) == current[id], context)
            }
            if step % 25 == 0 {
                for (id, want) in current { #expect(try store.version(of: id) == want, context) }
                #expect(store.invariantViolations() == [], context)
            }
        }
        #expect(store.verifyBlobs() == [], "seed \(seed)")
        try store.close()
    }
}
