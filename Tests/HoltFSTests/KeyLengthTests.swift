// Protects the engine's key limit (65,535 bytes) across directory renames: a rename, move or
// exchange that would push a key below the moved directory past the limit fails with
// ENAMETOOLONG and changes nothing (such keys could be neither listed nor removed, and
// `holtfs check` would call the database corrupted); one that fits works.
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct KeyLengthTests {
    /// Makes directory `top` at the root and below it a chain of directories with long names
    /// ending in one file whose key is `deepest` bytes long; returns that file's path.
    @discardableResult
    static func buildChain(_ f: FSFixture, top: String, deepest: Int) throws -> String {
        var node = try f.mkdir(top).node
        var path = top
        var remaining = deepest - top.utf8.count
        while remaining > 256 {
            let name = String(repeating: "d", count: min(255, remaining - 3))
            node = try f.fs.make(node, Array(name.utf8), kind: .directory, permissions: 0o755, caller: .root).node
            path += "/" + name
            remaining -= name.utf8.count + 1
        }
        let name = String(repeating: "f", count: remaining - 1)
        _ = try f.fs.make(node, Array(name.utf8), kind: .regular, permissions: 0o644, caller: .root)
        path += "/" + name
        #expect(path.utf8.count == deepest)
        return path
    }

    @Test func aRenameThatWouldPushAKeyPastTheLimitFailsAndChangesNothing() throws {
        let f = try FSFixture()
        let deepest = try Self.buildChain(f, top: "t", deepest: Tree.maxKeyLength - 5)
        try f.mkdir("other")
        try f.mkdir("longer-name")
        expectError(.nameTooLong) { try f.rename("t", "t0123456789") }
        expectError(.nameTooLong) { try f.rename("t", "other/t") }
        expectError(.nameTooLong) { try f.rename("t", "longer-name", .exchange) }
        expectError(.nameTooLong) { try f.rename("longer-name", "t", .exchange) }
        #expect(try f.list("").sorted() == ["longer-name", "other", "t"])
        #expect(try f.stat(deepest).kind == .regular)
        f.check()
        // Up to the limit exactly is fine.
        try f.rename("t", "t1234")
        #expect(try f.stat("t1234" + deepest.dropFirst()).kind == .regular)
        // And a shorter name always is.
        try f.rename("t1234", "u")
        // An exchange of names of one length: the batch parks the subtree under a longer
        // temporary key for a moment, which is fine.
        try f.mkdir("v")
        try f.rename("u", "v", .exchange)
        try f.unlink("v" + deepest.dropFirst())
        f.check()
    }

    /// The superblock's longest-key bound.
    static func bound(_ f: FSFixture) throws -> Int? {
        try f.tree.get(ReservedKeys.superblock).flatMap(Superblock.decode)?.longestKey
    }

    @Test func theBoundRisesOnlyToLengthsKeysReallyHave() throws {
        let f = try FSFixture()
        #expect(try Self.bound(f) == 0, "an empty filesystem: only the root key")
        try f.mkdir("a")
        try f.mkdir("a/b")
        try f.create("a/b/file")
        #expect(try Self.bound(f) == 8)
        let long = String(repeating: "n", count: 200)
        try f.fs.link(try f.node("a/b/file"), to: try f.node("a"), as: Array(long.utf8))
        #expect(try Self.bound(f) == 202)
        try f.unlink("a/" + long)
        // A small directory renamed to longer names and back: the bound follows its real keys.
        for round in 0..<20 {
            try f.rename(round % 2 == 0 ? "a" : "a-much-longer-name", round % 2 == 0 ? "a-much-longer-name" : "a")
        }
        #expect(try Self.bound(f) == 202)
        try f.rename("a", String(repeating: "x", count: 250))
        #expect(try Self.bound(f) == 250 + 7)
        // A file renamed to a longer name.
        try f.create("short")
        try f.rename("short", String(repeating: "y", count: 255))
        #expect(try Self.bound(f) == 257)
        f.check()
    }

    @Test func aBigDirectoryRenameTrustsTheBoundWithoutWalking() throws {
        let f = try FSFixture()
        try f.mkdir("big")
        let big = try f.node("big")
        for index in 0...Filesystem.keyLengthWalkLimit {
            _ = try f.fs.make(big, Array("f\(index)".utf8), kind: .regular, permissions: 0o644, caller: .root)
        }
        let before = try #require(try Self.bound(f))
        try f.rename("big", "bigger")
        #expect(try Self.bound(f) == before + 3, "more keys than a rename walks: the bound grows by the difference")
        try f.rename("bigger", "b")
        #expect(try Self.bound(f) == before + 3, "a shorter name never lowers it")
        // The next open computes it again only once it passed half the limit.
        try f.remount()
        #expect(try Self.bound(f) == before + 3)
        var superblock = try #require(try f.tree.get(ReservedKeys.superblock).flatMap(Superblock.decode))
        superblock.longestKey = Tree.maxKeyLength / 2 + 1
        try f.tree.put(ReservedKeys.superblock, superblock.encoded())
        try f.remount()
        #expect(try Self.bound(f) == "b/f256".utf8.count)
        f.check()
    }

    @Test func aDatabaseWithoutTheBoundGetsItAtOpen() throws {
        // Keys written through the engine alone, and a version-1 superblock.
        let deep = Array(("p/" + String(repeating: "q", count: 300) + "/r").utf8)
        let f = try FSFixture(library: [
            .put(key: deep, value: Array("plain".utf8)),
            .put(key: ReservedKeys.superblock, value: Superblock(nextIno: 5000).encoded()),
        ])
        #expect(try f.tree.get(ReservedKeys.superblock)?.count == 16, "rewritten as version 2")
        #expect(try Self.bound(f) == deep.count)
        #expect(try f.tree.get(ReservedKeys.superblock).flatMap(Superblock.decode)?.nextIno == 5000)
        #expect(try f.create("new").attributes.ino == 5000)
        f.check()
    }

    @Test func aLongerKeyAddedAfterTheMeasurementMakesTheRenameTryAgain() throws {
        let f = try FSFixture()
        try f.mkdir(String(repeating: "l", count: 100))  // a bound high enough: no superblock write below
        try f.mkdir("d")
        try f.create("d/x")
        let source = try #require(try f.fs.resolve(key: Array("d".utf8)))
        var batch = Batch()
        try f.fs.checkKeyLengths(renaming: source, from: Array("d".utf8), to: Array("dd".utf8), exchangingWith: nil, into: &batch)
        #expect(batch.ops == [.expect(key: Array("d".utf8), .noDescendantLongerThan(3))])
        try f.create("d/a-longer-name")
        #expect(try f.fs.commit(batch) == false, "the measurement's guard fails: the rename reads again")
        var again = Batch()
        try f.fs.checkKeyLengths(renaming: source, from: Array("d".utf8), to: Array("dd".utf8), exchangingWith: nil, into: &again)
        #expect(try f.fs.commit(again))
    }

    @Test func theSuperblockCodecReadsBothVersions() throws {
        let old = Superblock(nextIno: 0x0102_0304_0506_0708)
        #expect(old.encoded() == [0xFF, 0x48, 0x53, 1, 8, 7, 6, 5, 4, 3, 2, 1])
        #expect(Superblock.decode(old.encoded()) == old)
        let new = Superblock(nextIno: 77, longestKey: 65_535)
        #expect(new.encoded().count == 16)
        #expect(Superblock.decode(new.encoded()) == new)
        #expect(Superblock.decode(Array(new.encoded().prefix(12))) == nil)
        var wrong = new.encoded()
        wrong[3] = 3
        #expect(Superblock.decode(wrong) == nil)
    }

    @Test func reservingInodeNumbersKeepsTheBound() throws {
        let f = try FSFixture()
        try f.mkdir(String(repeating: "z", count: 100))
        let allocator = InodeAllocator(tree: f.tree)
        for _ in 0...InodeAllocator.blockSize { _ = try allocator.allocate() }
        #expect(try Self.bound(f) == 100)
    }

    @Test func checkReportsABoundBelowTheLongestKey() throws {
        let f = try FSFixture()
        try f.mkdir(String(repeating: "z", count: 100))
        var superblock = try #require(try f.tree.get(ReservedKeys.superblock).flatMap(Superblock.decode))
        superblock.longestKey = 50
        try f.tree.put(ReservedKeys.superblock, superblock.encoded())
        #expect(FSCheck.check(tree: f.tree) == ["/s: longest-key bound 50 below the longest path key (100 bytes)"])
    }
}
