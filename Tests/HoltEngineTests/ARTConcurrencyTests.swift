// Protects concurrent reads: several threads calling get and scan at once on a tree spread over
// many blobs get the same answers as one thread (reads mutate no shared state).
import Dispatch
import Testing
@testable import HoltEngine

@Suite struct ARTConcurrencyTests {
    /// Hands the index to reader threads. Safe because nothing writes while they run.
    struct Shared: @unchecked Sendable {
        let index: ARTIndex<MemoryBlobSource>
        let keys: [[UInt8]]
    }

    @Test("Parallel gets and scans agree with the oracle")
    func parallelReads() throws {
        let (index, source) = try ARTTest.make(capacity: 32 * 1024)
        let oracle = SortedIndex()
        var keys: [[UInt8]] = []
        for n in 0..<5_000 {
            let key = ARTTest.b("p\(n % 17)/q\(n % 5)/k\(n)")
            try index.put(key, key)
            _ = oracle.put(key, key)
            keys.append(key)
        }
        #expect(source.liveBlobs.count > 5)
        let shared = Shared(index: index, keys: keys)
        let expectedListing = oracle.scan(RangeQuery(prefix: ARTTest.b("p3/"), delimiter: UInt8(ascii: "/")))
        let expectedPage = oracle.scan(RangeQuery(startAfter: ARTTest.b("p1"), limit: 100))
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for (n, key) in shared.keys.enumerated() where n % 8 == thread {
                if (try? shared.index.get(key)) != key { failures.add("get \(n)") }
                if n % 500 == 0 {
                    if (try? shared.index.scan(RangeQuery(prefix: ARTTest.b("p3/"), delimiter: UInt8(ascii: "/")))) != expectedListing {
                        failures.add("listing")
                    }
                    if (try? shared.index.scan(RangeQuery(startAfter: ARTTest.b("p1"), limit: 100))) != expectedPage {
                        failures.add("page")
                    }
                }
            }
        }
        #expect(failures.all.isEmpty)
    }
}

/// Failure messages collected from several threads.
final class Failures: @unchecked Sendable {
    // @unchecked Sendable: `messages` is guarded by `lock`.
    private let lock = ReadWriteLock()
    private var messages: [String] = []
    func add(_ message: String) { lock.withWriteLock { messages.append(message) } }
    var all: [String] { lock.withReadLock { messages } }
}
