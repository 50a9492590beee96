// Protects removing files on a full disk: once the log has only the room it keeps for batches
// that free space, unlink, rmdir and a rename over an existing file still work through the
// filesystem (each also rewrites its parent's record, so none is a batch of deletes alone), while
// mkdir and create get ENOSPC. The full disk is the engine's failpoint on the log's allocation,
// armed inside a child process (an exit test), so no other test can hit it.
#if canImport(Glibc)
import Glibc
#endif
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct FullDiskTests {
    /// Runs `body` with the disk full: the log's next allocation fails with ENOSPC (disarmed after).
    static func whileFull<T>(_ body: () throws -> T) rethrows -> T {
        Failpoints.arm("wal.beforeAllocate", .fail(errno: ENOSPC))
        defer { Failpoints.disarmAll() }
        return try body()
    }

    /// Fills the log's room up to the reserve it keeps: puts of smaller and smaller values under
    /// `fill/` until even a 1-byte one is refused.
    static func fillLog(_ tree: Tree) {
        var index = 0
        for length in [4000, 1000, 200, 50, 1] {
            var refused = false
            while !refused && index < 10_000 {
                do {
                    try whileFull { try tree.put(Array("fill/\(index)".utf8), [UInt8](repeating: 7, count: length)) }
                } catch {
                    refused = true
                }
                index += 1
            }
            #expect(refused, "the log never ran out of room")
        }
    }

    @Test func removingWorksOnAFullDiskAndCreatingDoesNot() async throws {
        await #expect(processExitsWith: .success) {
            let f = try FSFixture()
            try f.mkdir("d")
            try f.mkdir("d/empty")
            for index in 0..<4 {
                try f.create("d/f\(index)")
                try f.write("d/f\(index)", [UInt8](repeating: UInt8(index), count: 100))
            }
            try f.create("d/big")
            try f.write("d/big", [UInt8](repeating: 9, count: 100_000))
            Self.fillLog(f.tree)
            func removes(_ what: String, _ body: () throws -> Void) {
                do {
                    try Self.whileFull(body)
                } catch {
                    Issue.record("\(what) on a full disk: \(error)")
                }
            }
            removes("unlink") { try f.unlink("d/f0") }
            removes("unlink of a chunked file") { try f.unlink("d/big") }
            removes("rmdir") { try f.rmdir("d/empty") }
            removes("rename over a file") { try f.rename("d/f1", "d/f2") }
            for (what, body) in [("mkdir", { try f.mkdir("d/new") }), ("create", { try f.create("d/new") })] as [(String, () throws -> Entry)] {
                do {
                    _ = try Self.whileFull(body)
                    Issue.record("\(what) used the room kept for freeing space")
                } catch {
                    #expect((error as? FSError)?.errno == ENOSPC, "\(what): \(error)")
                }
            }
            #expect(try f.list("d").sorted() == ["f2", "f3"])
            #expect(try f.read("d/f2") == [UInt8](repeating: 1, count: 100))
            #expect(try f.tree.range(prefix: ReservedKeys.dataRoot).isEmpty, "the chunks were swept")
            // The filler keys are an implicit directory the root's nlink does not count.
            try f.tree.apply(try f.tree.range(prefix: Array("fill/".utf8)).map { .delete(key: $0.position) })
            f.check()
        }
    }
}
