// Protects the whole checkpoint protocol against kills at random moments: a child process runs
// a seeded workload (allocate, write, free, checkpoint) through a small cache until a failpoint
// kills it on its Nth hit; the reopened database must hold exactly the state of the checkpoint
// its manifest names, as the child recorded it just before asking for that checkpoint.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct StoreRandomCrashTests {
    static var seeds: [UInt64] {
        ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1" ? Array(1...200) : [3, 9, 11, 16, 19, 24, 35, 38]
    }

    /// The failpoint and hit count seed `seed` kills at.
    static func killPoint(_ seed: UInt64) -> (name: String, hit: Int) {
        let name = StoreCrashTests.failpoints[Int(seed % UInt64(StoreCrashTests.failpoints.count))]
        let hit = name.hasPrefix("store.") ? 1 + Int((seed / 5) % 40) : 1 + Int((seed / 5) % 8)
        return (name, hit)
    }

    /// Where the child writes the state it expects checkpoint `lsn` to hold.
    static func expectedPath(_ directory: String, _ lsn: UInt64) -> String { "\(directory)-expected.\(lsn)" }

    /// The child: random work until the armed failpoint kills it.
    static func runUntilKilled(directory: String, seed: UInt64) throws {
        var random = StoreRandom(seed: seed)
        let store = try BufferManager.open(directory: directory, cacheBytes: 4 << 20, create: true, shards: 2)
        var current: [BlobID: UInt64] = [:]
        var lsn: UInt64 = 0
        var version: UInt64 = 0
        for _ in 0..<20_000 {
            switch random.next() % 100 {
            case 0..<20 where current.count < 30:
                let id = try store.allocate()
                version += 1
                try store.put(id, version: version)
                current[id] = version
            case 20..<75 where !current.isEmpty:
                let id = current.keys.sorted()[Int(random.next() % UInt64(current.count))]
                version += 1
                try store.put(id, version: version)
                current[id] = version
            case 75..<82 where !current.isEmpty:
                let id = current.keys.sorted()[Int(random.next() % UInt64(current.count))]
                try store.free(id)
                current[id] = nil
            case 82..<90:
                lsn += 1
                let lines = current.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: "\n")
                try lines.write(toFile: expectedPath(directory, lsn), atomically: true, encoding: .utf8)
                try store.checkpoint(root: current.keys.min(), lsn: lsn, user: [])
            default:
                if let (id, want) = current.first, try store.version(of: id) != want { exit(20) }
            }
        }
        exit(21)  // never killed: the kill point is out of reach
    }

    @Test(arguments: seeds)
    func killAtARandomMomentLeavesTheLastCheckpoint(seed: UInt64) async throws {
        let dir = StoreTemporaryDirectory()
        let (name, hit) = Self.killPoint(seed)
        await #expect(processExitsWith: .signal(SIGKILL), "seed \(seed): \(name) hit \(hit)") {
            [directory = dir.database as String, seed = seed as UInt64, name = name as String, hit = hit as Int] in
            Failpoints.arm(name, .kill, onHit: hit)
            try StoreRandomCrashTests.runUntilKilled(directory: directory, seed: seed)
        }
        let store = try BufferManager.open(directory: dir.database, cacheBytes: 4 << 20, create: false)
        defer { try? store.close() }
        let lsn = store.anchor.checkpointLSN
        var expected: [BlobID: UInt64] = [:]
        if lsn > 0 {
            let text = try String(contentsOfFile: Self.expectedPath(dir.database, lsn), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ").compactMap { UInt64($0) }
                expected[BlobID(rawValue: fields[0])] = fields[1]
            }
        }
        let context = Comment(rawValue: "seed \(seed), killed at \(name) hit \(hit), checkpoint \(lsn)")
        #expect(store.anchor.root == expected.keys.min(), context)
        #expect(store.statistics.blobsLive == expected.count, context)
        for (id, version) in expected { #expect(try store.version(of: id) == version, context) }
        #expect(store.verifyBlobs() == [], context)
        #expect(store.invariantViolations() == [], context)
    }
}
