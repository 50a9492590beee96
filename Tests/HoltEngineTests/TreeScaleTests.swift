// Protects the promise that a database much larger than its cache works: two million keys
// through a 32 MiB cache (the data takes several times that), built, closed, reopened and read
// back key by key, then half of it deleted and compacted while a reader reads the rest (about
// 2 minutes in a debug build).
import Testing
@testable import HoltEngine

@Suite struct TreeScaleTests {
    /// The `i`th key, in key order: ten top directories, a thousand subdirectories spread over
    /// them, path-shaped names. Keys are written and read back in order, as a bulk load and a
    /// listing do; a cache of 512 KiB blobs answers random reads over a database 50 times its
    /// size mostly from disk, which is measured by holt-bench, not here.
    static func key(_ i: Int, of count: Int) -> [UInt8] {
        let perTop = (count + 9) / 10, perBucket = (perTop + 999) / 1000
        let top = i / perTop, bucket = i % perTop / perBucket
        return Array("t\(top)/bucket\(pad(bucket, 4))/obj-\(pad(i, 8))-name".utf8)
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    static func value(_ i: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(i).littleEndian) { Array($0) } + [UInt8](repeating: UInt8(i & 0x7F), count: 8)
    }

    @Test("A database far larger than its cache survives reopen")
    func manyKeysInASmallCache() throws {
        let count = 2_000_000
        let dir = try TemporaryDirectory("scale")
        let options = Options(cacheBytes: 32 << 20, sync: .none)
        do {
            let tree = try Tree.open(path: dir.path, options: options)
            var batch: [TxnOp] = []
            batch.reserveCapacity(1_000)
            for i in 0..<count {
                batch.append(.put(key: Self.key(i, of: count), value: Self.value(i)))
                if batch.count == 1_000 {
                    try tree.apply(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try tree.close()
        }
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        // Every key, in order, through the range API, a page at a time.
        var next = 0, after: [UInt8]? = nil, wrong = 0
        while true {
            let page = try tree.range(startAfter: after, limit: 10_000)
            guard let last = page.last else { break }
            for item in page {
                guard case .entry(let key, let value) = item, next < count,
                      key == Self.key(next, of: count), value == Self.value(next) else { wrong += 1; continue }
                next += 1
            }
            after = last.position
        }
        #expect(wrong == 0)
        #expect(next == count)
        // And a sample through get, spread over the whole database.
        var random = SeededGenerator(seed: 42)
        for _ in 0..<2_000 {
            let i = Int.random(in: 0..<count, using: &random)
            #expect(try tree.get(Self.key(i, of: count)) == Self.value(i))
        }
        let listing = try tree.range(prefix: bytes("t3/"), delimiter: 0x2F)
        #expect(listing.count == 1_000)
        #expect(try tree.verify().isEmpty)
        let stats = try tree.statistics()
        #expect(stats.dataFileBytes > 2 * options.cacheBytes, "the data must not fit in the cache")

        // Space comes back through the small cache too: half the keys go, a compaction runs
        // while a reader keeps reading the other half, and the disk use falls.
        let peak = try tree.spaceStatistics()
        #expect(peak.amplification < 2, "\(peak)")
        for start in stride(from: 0, to: count / 2, by: 1_000) {
            try tree.apply((start..<start + 1_000).map { .delete(key: Self.key($0, of: count)) })
        }
        let reader = PlainThread {
            var random = SeededGenerator(seed: 7)
            for _ in 0..<2_000 {
                let i = Int.random(in: count / 2..<count, using: &random)
                #expect((try? tree.get(Self.key(i, of: count))) == Self.value(i))
            }
        }
        let report = try tree.compact()
        reader.join()
        let compacted = try tree.spaceStatistics()
        print("2M keys, 32 MiB cache: at the peak \(peak.allocatedBytes >> 20) MiB allocated (amplification \(peak.amplification)),",
              "after deleting half and compacting \(compacted.allocatedBytes >> 20) MiB, file \(peak.fileBytes >> 20) → \(compacted.fileBytes >> 20) MiB; \(report)")
        #expect(compacted.allocatedBytes < peak.allocatedBytes * 2 / 3, "\(report)")
        #expect(compacted.fileBytes < peak.fileBytes, "\(report)")
        #expect(try tree.range(prefix: bytes("t3/"), limit: 1).isEmpty)
        #expect(try tree.range(prefix: bytes("t7/"), delimiter: 0x2F).count == 1_000)
        #expect(try tree.verify().isEmpty)
    }
}
