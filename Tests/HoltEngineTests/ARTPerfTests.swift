// Measures (does not judge) the ART's speed: puts, gets, a full scan and a directory listing over
// path keys, printed in ns/op. Runs only with HOLT_LONG_TESTS=1; debug figures are for
// before/after comparisons of one change, not for comparing with other engines.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct ARTPerfTests {
    func time(_ label: String, _ count: Int, _ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        print("perf \(label): \(Int(elapsed) / max(count, 1)) ns/op over \(count)")
    }

    @Test("Put, get and scan speed", .enabled(if: ARTTest.long))
    func speed() throws {
        let count = Int(ProcessInfo.processInfo.environment["HOLT_PERF_KEYS"] ?? "") ?? 200_000
        var rng = SeededGenerator(seed: 5)
        var keys = (0..<count).map { n in ARTTest.b("home/user\(n % 50)/project\(n % 7)/src/file\(n).swift") }
        keys.shuffle(using: &rng)
        let value = [UInt8](repeating: 0x5A, count: 64)
        let (index, source) = try ARTTest.make()
        try time("put", count) { for key in keys { try index.put(key, value) } }
        try time("get", count) { for key in keys { _ = try index.get(key) } }
        try time("get-missing", count) { for key in keys { _ = try index.get(key + [1]) } }
        var items = 0
        try time("scan-all (per key)", count) { items = try index.scan(RangeQuery()).count }
        #expect(items == count)
        var listed = 0
        try time("list-dir (per listing)", 100) {
            for _ in 0..<100 {
                listed = try index.scan(RangeQuery(prefix: ARTTest.b("home/user3/project3/src/"), delimiter: UInt8(ascii: "/"))).count
            }
        }
        try time("list-top (per listing)", 100) {
            for _ in 0..<100 { _ = try index.scan(RangeQuery(prefix: ARTTest.b("home/"), delimiter: UInt8(ascii: "/"))) }
        }
        print("perf listing holds \(listed) entries")
        try time("remove", count) { for key in keys { try index.remove(key) } }
        print("perf blobs at peak: \(index.counters.splits + 1), \(source.liveBlobs.count) now, \(index.counters)")
    }
}
