// Protects the promise that a database much larger than its cache works: two million keys
// through a 32 MiB cache, built, closed, reopened and read back key by key.
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

    @Test("Two million keys through a 32 MiB cache survive reopen")
    func twoMillionKeysInASmallCache() throws {
        let count = 2_000_000
        let dir = try TemporaryDirectory("scale")
        let options = Options(cacheBytes: 32 << 20, sync: .none)
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
        #expect(listing.count == 1_000)
        #expect(try tree.verify().isEmpty)
    }
}
