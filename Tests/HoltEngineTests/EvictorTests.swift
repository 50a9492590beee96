// Protects the background evictor and the cache's bound: a tree many times larger than its cache
// gets its dirty blobs written out ahead of the misses that need frames, the cache stays within
// its budget while checkpoints hold frames, and nothing is lost by it.
import Testing
@testable import HoltEngine

@Suite struct EvictorTests {
    static func key(_ i: Int) -> [UInt8] { Array("d\(i * 7919 % 97)/k\(i * 104_729 % 1_000_003)".utf8) }
    static func value(_ i: Int) -> [UInt8] { [UInt8](repeating: UInt8(i % 251), count: 60 + i % 80) }

    @Test func dirtyBlobsAreWrittenOutAheadOfMisses() throws {
        let dir = try TemporaryDirectory("evictor")
        let options = Options(cacheBytes: 4 << 20, sync: .none)
        let count = 150_000
        do {
            let tree = try Tree.open(path: dir.path, options: options)
            for start in stride(from: 0, to: count, by: 500) {
                try tree.apply((start..<start + 500).map { .put(key: Self.key($0), value: Self.value($0)) })
            }
            let stats = try tree.statistics()
            #expect(stats.dataFileBytes + stats.dirtyBytes > 4 * options.cacheBytes, "the data must not fit in the cache")
            #expect(stats.blobsCleanedAhead > 0, "the evictor never wrote a blob out: \(stats)")
            // Frames are never given back, so their count is the peak: within the budget (8
            // frames) and its slack (2) although checkpoints held most frames while they wrote.
            #expect(stats.cachedFrames <= 10, "the cache grew past its budget: \(stats.cachedFrames) frames")
            for i in stride(from: 0, to: count, by: 997) { #expect(try tree.get(Self.key(i)) == Self.value(i)) }
            #expect(try tree.verify().isEmpty)
            try tree.close()
        }
        let reopened = try Tree.open(path: dir.path, options: options)
        defer { try? reopened.close() }
        for i in stride(from: 1, to: count, by: 1_009) { #expect(try reopened.get(Self.key(i)) == Self.value(i)) }
        #expect(try reopened.range(prefix: Array("d5/".utf8)).count == (0..<count).filter { $0 * 7919 % 97 == 5 }.count)
    }
}
