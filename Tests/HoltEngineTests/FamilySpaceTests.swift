// Protects column families on a full disk and the space a drop gives back: a family's creation
// refused by the log (ENOSPC) leaves no blob behind and no catalog entry, and the tree goes on;
// a drop, which frees space, passes on a full disk (it may use the log's reserve); after a drop,
// compaction gives the family's slots back to the file system. Failpoints are armed in a child
// process (an exit test), as in ENOSPCTests.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import HoltEngine

@Suite struct FamilySpaceTests {
    /// Runs `body` with the disk full: the log's next allocation fails with ENOSPC (disarmed after).
    private static func whileFull<T>(_ body: () throws -> T) rethrows -> T {
        Failpoints.arm("wal.beforeAllocate", .fail(errno: ENOSPC))
        defer { Failpoints.disarmAll() }
        return try body()
    }

    private static func isENOSPC(_ error: any Error) -> Bool {
        if case .io(let code, _)? = error as? HoltError { return code == ENOSPC }
        return false
    }

    @Test("A creation refused by a full log leaves nothing behind; a drop passes on a full disk")
    func fullDisk() async throws {
        let dir = try TemporaryDirectory("fam-enospc")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let tree = try Tree.open(path: path)
            let value = [UInt8](repeating: 0x41, count: 100)
            try tree.createFamily(named: "keep").put(Array("k".utf8), value)
            let doomed = try tree.createFamily(named: "doomed")
            try doomed.put(Array("k".utf8), value)
            let blobsBefore = try tree.spaceStatistics().blobs
            // Fill the log's room up to its reserve, with smaller and smaller puts until even a
            // 1-byte one is refused.
            var i = 0
            for length in [4000, 1000, 200, 50, 1] {
                var filled = false
                while !filled && i < 10_000 {
                    do { try Self.whileFull { try tree.put(Array("fill/\(i)".utf8), [UInt8](repeating: 1, count: length)) } } catch {
                        #expect(Self.isENOSPC(error), "\(error)")
                        filled = true
                    }
                    i += 1
                }
                #expect(filled)
            }
            let blobsFull = try tree.spaceStatistics().blobs
            do {
                try Self.whileFull { _ = try tree.createFamily(named: "new") }
                Issue.record("a creation used the reserve")
            } catch {
                #expect(Self.isENOSPC(error), "\(error)")
            }
            #expect(try tree.spaceStatistics().blobs == blobsFull, "the refused creation's blobs are freed")
            #expect(try tree.familyNames() == ["default", "doomed", "keep"])
            #expect(try tree.verify() == [])
            // A drop frees space: it passes with only the reserve left.
            try Self.whileFull { try tree.dropFamily(named: "doomed") }
            #expect(try tree.familyNames() == ["default", "keep"])
            #expect(try tree.spaceStatistics().blobs == blobsFull - 1)
            #expect(blobsFull >= blobsBefore)
            // Room again: the creation goes through.
            try tree.createFamily(named: "new").put(Array("k".utf8), value)
            #expect(try tree.verify() == [])
            try tree.close()
            let again = try Tree.open(path: path)
            #expect(try again.familyNames() == ["default", "keep", "new"])
            #expect(try again.family(named: "keep").get(Array("k".utf8)) == value)
            #expect(try again.family(named: "new").get(Array("k".utf8)) == value)
            #expect(try again.verify() == [])
            try again.close()
        }
    }

    @Test("After a drop, compaction gives the family's space back to the file system")
    func dropThenCompact() throws {
        let dir = try TemporaryDirectory("fam-compact")
        let tree = try Tree.open(path: dir.appending("db"))
        defer { try? tree.close() }
        try tree.put(Array("keep".utf8), Array("1".utf8))
        let big = try tree.createFamily(named: "big")
        let value = [UInt8](repeating: 0x61, count: 2000)
        for chunk in 0..<30 {
            try big.apply((0..<100).map { .put(key: Array("d\(chunk % 5)/f-\(chunk)-\($0)".utf8), value: value) })
        }
        try tree.checkpoint()
        let before = try tree.spaceStatistics()
        try tree.dropFamily(named: "big")
        try tree.checkpoint()
        let report = try tree.compact()
        let after = try tree.spaceStatistics()
        #expect(after.blobs < before.blobs / 2, "\(before.blobs) blobs before, \(after.blobs) after")
        #expect(after.allocatedBytes < before.allocatedBytes / 2, "\(before.allocatedBytes) bytes allocated before, \(after.allocatedBytes) after, \(report)")
        #expect(try tree.get(Array("keep".utf8)) == Array("1".utf8))
        #expect(try tree.verify() == [])
    }
}
