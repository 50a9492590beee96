// Protects the promise that a database much larger than its cache works: keys through a cache
// a tenth of the data's size or less, built, closed, reopened and read back key by key.
// The default run (debug, in `make test`) uses 200,000 keys and a 4 MiB cache; HOLT_LONG_TESTS=1
// runs the full two million keys through 32 MiB (`make stress`).
import Testing
@testable import HoltEngine

@Suite struct TreeScaleTests {
    /// The `i`th key: ten top directories, a thousand subdirectories each, path-shaped names.
    static func key(_ i: Int) -> [UInt8] {
        Array("t\(i % 10)/bucket\(i / 10 % 1000)/obj-\(String(i, radix: 16))-name".utf8)
    }

    static func value(_ i: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt64(i).littleEndian) { Array($0) } + [UInt8](repeating: UInt8(i & 0x7F), count: 8)
    }

    @Test("A database far larger than its cache survives reopen")
    func manyKeysInASmallCache() throws {
        let count = SeededGenerator.longTests ? 2_000_000 : 200_000
        let dir = try TemporaryDirectory("scale")
        let options = Options(cacheBytes: SeededGenerator.longTests ? 32 << 20 : 4 << 20, sync: .none)
        do {
            let tree = try Tree.open(path: dir.path, options: options)
            var batch: [TxnOp] = []
            batch.reserveCapacity(1_000)
            for i in 0..<count {
                batch.append(.put(key: Self.key(i), value: Self.value(i)))
                if batch.count == 1_000 {
                    try tree.apply(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try tree.close()
        }
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        var missing = 0
        for i in 0..<count where try tree.get(Self.key(i)) != Self.value(i) { missing += 1 }
        #expect(missing == 0)
        let listing = try tree.range(prefix: bytes("t3/"), delimiter: 0x2F)
        #expect(listing.count == min(1_000, count / 10))
        #expect(try tree.verify().isEmpty)
    }
}
