// Protects the chunk index limit: a chunk key keeps 8 hex digits (32 bits) of the chunk index, so
// a maximum file size past 2^32 chunks (128 TiB) is refused instead of letting a write far out
// land on chunk 0 (and a chunk key past the limit traps); at the largest allowed offset data
// keeps a chunk of its own.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct MaxFileSizeTests {
    /// 2^32 chunks of 32 KiB: 128 TiB.
    static let limit = (UInt64(1) << 32) * UInt64(Filesystem.chunkSize)

    @Test func aMaximumPastTheChunkIndexLimitIsRefused() throws {
        let f = try FSFixture()
        for size in [Self.limit + 1, Self.limit * 2, UInt64.max] {
            #expect {
                _ = try Filesystem(tree: f.tree, maxFileSize: size, owner: (0, 0))
            } throws: { error in
                guard let error = error as? FSError else { return false }
                return error.errno == EINVAL && error.description.contains(String(Self.limit))
                    && !error.description.contains("\n")
            }
        }
        _ = try Filesystem(tree: f.tree, maxFileSize: Self.limit, owner: (0, 0))
    }

    @Test func aChunkKeyPastTheIndexLimitTraps() async {
        #expect(ReservedKeys.chunk(7, (1 << 32) - 1).suffix(8) == Array("ffffffff".utf8))
        await #expect(processExitsWith: .failure) { _ = ReservedKeys.chunk(7, 1 << 32) }
    }

    @Test func theLargestOffsetAndOffsetZeroKeepDistinctData() throws {
        let f = try FSFixture(maxFileSize: Self.limit)
        try f.create("f")
        try f.write("f", [1, 2, 3])
        try f.write("f", [9], at: Self.limit - 1)
        expectError(.fileTooLarge) { try f.write("f", [8], at: Self.limit) }
        #expect(try f.stat("f").size == Self.limit)
        #expect(try f.read("f", at: 0, size: 3) == [1, 2, 3])
        #expect(try f.read("f", at: Self.limit - 1, size: 10) == [9])
        #expect(try f.read("f", at: Self.limit - 5, size: 5) == [0, 0, 0, 0, 9])
        let ino = try f.stat("f").ino
        let keys = try f.tree.range(prefix: Array("/d/".utf8)).map(\.position)
        #expect(keys == [ReservedKeys.chunk(ino, 0), ReservedKeys.chunk(ino, (1 << 32) - 1)])
        f.check()
    }
}
