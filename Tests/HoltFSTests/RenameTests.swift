// Protects rename: files and whole directories move in one batch, replacement rules and Linux
// errors (EINVAL into own subtree, ENOTEMPTY, EISDIR, ENOTDIR, EEXIST with NOREPLACE, ENOENT),
// RENAME_EXCHANGE of files, directories and mixed pairs, hard-link no-ops, node table updates.
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct RenameTests {
    @Test func fileMovesWithItsContentAndIno() throws {
        let f = try FSFixture()
        try f.mkdir("a")
        try f.mkdir("b")
        try f.create("a/f")
        try f.write("a/f", [UInt8](repeating: 3, count: 50_000))
        let ino = try f.stat("a/f").ino
        let node = try f.node("a/f")
        try f.rename("a/f", "b/g")
        expectError(.notFound) { try f.stat("a/f") }
        #expect(try f.stat("b/g").ino == ino)
        #expect(try f.fs.getattr(node).ino == ino)  // the kernel's node follows the rename
        #expect(try f.read("b/g").count == 50_000)
        f.check()
    }

    @Test func directoryMovesWithItsSubtree() throws {
        let f = try FSFixture()
        try f.mkdir("src")
        try f.mkdir("src/sub")
        for index in 0..<50 { try f.create("src/sub/f\(index)") }
        let deep = try f.node("src/sub/f7")
        try f.mkdir("dst")
        try f.rename("src", "dst/moved")
        #expect(try f.list("dst/moved/sub").count == 50)
        #expect(try f.list("").sorted() == ["dst"])
        #expect(f.fs.nodes.location(of: deep) == .path(Array("dst/moved/sub/f7".utf8)))
        #expect(try f.stat("").nlink == 3)
        #expect(try f.stat("dst").nlink == 3)
        f.check()
    }

    @Test func replacementRules() throws {
        let f = try FSFixture()
        try f.mkdir("d1")
        try f.mkdir("d2")
        try f.mkdir("full")
        try f.create("full/x")
        try f.create("f1")
        try f.create("f2")
        expectError(.invalidArgument) { try f.rename("d1", "d1/inside") }
        expectError(.notEmpty) { try f.rename("d1", "full") }
        expectError(.isDirectory) { try f.rename("f1", "d1") }
        expectError(.notDirectory) { try f.rename("d1", "f1") }
        expectError(.notFound) { try f.rename("nope", "f1") }
        expectError(.exists) { try f.rename("f1", "f2", .noReplace) }
        expectError(.invalidArgument) { try f.rename("f1", "f2", [.noReplace, .exchange]) }
        try f.rename("f1", "f1")  // same name: nothing happens
        try f.rename("f1", "f2")
        expectError(.notFound) { try f.stat("f1") }
        try f.rename("d1", "d2")  // over an empty directory
        #expect(try f.stat("").nlink == 4)
        try f.rename("f2", "fresh", .noReplace)
        f.check()
    }

    @Test func renameOverAHardLinkOfItselfDoesNothing() throws {
        let f = try FSFixture()
        try f.create("a")
        _ = try f.fs.link(try f.node("a"), to: .root, as: Array("b".utf8))
        try f.rename("a", "b")
        #expect(try f.list("").sorted() == ["a", "b"])
        #expect(try f.stat("a").nlink == 2)
        f.check()
    }

    @Test func replacedOpenFileBecomesAnOrphan() throws {
        let f = try FSFixture()
        try f.create("old")
        try f.write("old", Array("old content".utf8))
        let node = try f.node("old")
        let handle = try f.fs.open(node)
        try f.create("new")
        try f.rename("new", "old")
        #expect(try f.fs.read(node, offset: 0, size: 100) == Array("old content".utf8))
        #expect(try f.read("old").isEmpty)
        try f.fs.release(handle)
        f.check()
    }

    @Test func exchangeFiles() throws {
        let f = try FSFixture()
        try f.mkdir("x")
        try f.create("a")
        try f.write("a", Array("A".utf8))
        try f.create("x/b")
        try f.write("x/b", Array("B".utf8))
        let a = try f.node("a")
        try f.rename("a", "x/b", .exchange)
        #expect(try f.read("a") == Array("B".utf8))
        #expect(try f.read("x/b") == Array("A".utf8))
        #expect(f.fs.nodes.location(of: a) == .path(Array("x/b".utf8)))
        expectError(.notFound) { try f.rename("a", "missing", .exchange) }
        f.check()
    }

    @Test func exchangeDirectoriesAndMixedPairs() throws {
        let f = try FSFixture()
        try f.mkdir("p")
        try f.mkdir("p/d1")
        try f.create("p/d1/one")
        try f.mkdir("q")
        try f.mkdir("q/d2")
        try f.mkdir("q/d2/two")
        try f.rename("p/d1", "q/d2", .exchange)
        #expect(try f.list("p/d1") == ["two"])
        #expect(try f.list("q/d2") == ["one"])
        f.check()
        // A directory and a file trade places: the parents' nlinks follow.
        try f.create("q/file")
        try f.rename("p/d1", "q/file", .exchange)
        #expect(try f.stat("p/d1").kind == .regular)
        #expect(try f.stat("q/file").kind == .directory)
        #expect(try f.stat("p").nlink == 2)
        #expect(try f.stat("q").nlink == 4)
        expectError(.invalidArgument) { try f.rename("q", "q/file", .exchange) }
        expectError(.invalidArgument) { try f.rename("q/file", "q", .exchange) }
        #expect(try f.tree.range(prefix: Array("/t/".utf8)).isEmpty)
        f.check()
    }

    @Test func directoryWithoutRecordMoves() throws {
        let f = try FSFixture(library: [.put(key: Array("lib/a/x".utf8), value: Array("1".utf8))])
        try f.mkdir("into")
        try f.rename("lib/a", "into/a")
        #expect(try f.read("into/a/x") == Array("1".utf8))
        #expect(try f.stat("lib").kind == .directory)  // materialized, so it outlives its child
        f.check()
    }
}
