// Protects the namespace ops on a tree without FUSE: create/lookup/mkdir/getattr, ownership and
// setgid inheritance, nlink of directories, unlink/rmdir errors, symlinks, device nodes, plain
// values and prefixes without records, the hidden reserved keyspace, and persistent inos.
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct NamespaceTests {
    @Test func createLookupAndAttributes() throws {
        let f = try FSFixture()
        let dir = try f.mkdir("d", 0o750, as: f.user)
        #expect(dir.attributes.kind == .directory)
        #expect(dir.attributes.uid == 1000 && dir.attributes.gid == 1000)
        #expect(dir.attributes.permissions == 0o750)
        let file = try f.create("d/f", 0o640, as: f.user)
        #expect(file.attributes.kind == .regular && file.attributes.size == 0 && file.attributes.nlink == 1)
        #expect(try f.stat("d/f").ino == file.attributes.ino)
        #expect(try f.stat("d").nlink == 2)
        #expect(try f.stat("").nlink == 3)
        expectError(.exists) { try f.create("d/f") }
        expectError(.exists) { try f.mkdir("d") }
        expectError(.notFound) { try f.stat("d/missing") }
        expectError(.nameTooLong) { try f.create("d/" + String(repeating: "n", count: 256)) }
        _ = try f.create("d/" + String(repeating: "n", count: 255))
        f.check()
    }

    @Test func parentTimesChangeInTheSameBatch() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        let before = try f.stat("d")
        try f.create("d/x")
        let after = try f.stat("d")
        #expect(after.mtime > before.mtime && after.ctime > before.ctime)
    }

    @Test func setgidDirectoryPassesGroupAndBit() throws {
        let f = try FSFixture()
        try f.mkdir("g", 0o2775, as: Caller(uid: 5, gid: 77))
        let file = try f.create("g/f", 0o644, as: f.user)
        #expect(file.attributes.gid == 77 && file.attributes.permissions == 0o644)
        let sub = try f.mkdir("g/s", 0o755, as: f.user)
        #expect(sub.attributes.gid == 77 && sub.attributes.permissions == 0o2755)
        f.check()
    }

    @Test func directoryLinkCountsFollowSubdirectories() throws {
        let f = try FSFixture()
        try f.mkdir("a")
        try f.mkdir("a/b")
        try f.mkdir("a/c")
        try f.create("a/file")
        #expect(try f.stat("a").nlink == 4)
        try f.rmdir("a/b")
        #expect(try f.stat("a").nlink == 3)
        try f.mkdir("z")
        try f.rename("a/c", "z/c")
        #expect(try f.stat("a").nlink == 2)
        #expect(try f.stat("z").nlink == 3)
        f.check()
    }

    @Test func unlinkAndRmdirErrors() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        try f.create("d/f")
        expectError(.notEmpty) { try f.rmdir("d") }
        expectError(.notDirectory) { try f.rmdir("d/f") }
        expectError(.isDirectory) { try f.unlink("d") }
        expectError(.notFound) { try f.unlink("d/nope") }
        expectError(.notFound) { try f.rmdir("nope") }
        try f.unlink("d/f")
        expectError(.notFound) { try f.stat("d/f") }
        try f.rmdir("d")
        #expect(try f.list("").isEmpty)
        f.check()
    }

    @Test func symlinksAndDeviceNodes() throws {
        let f = try FSFixture()
        let link = try f.fs.make(.root, Array("l".utf8), kind: .symlink, permissions: 0o777, target: Array("../target".utf8), caller: f.user)
        #expect(link.attributes.kind == .symlink && link.attributes.size == 9)
        #expect(try f.fs.readlink(link.node) == Array("../target".utf8))
        let device = try f.fs.make(.root, Array("tty".utf8), kind: .charDevice, permissions: 0o620, rdev: 0x0401, caller: .root)
        #expect(device.attributes.rdev == 0x0401 && device.attributes.mode == 0o020620)
        let fifo = try f.fs.make(.root, Array("p".utf8), kind: .fifo, permissions: 0o600, caller: .root)
        #expect(fifo.attributes.mode == 0o010600)
        let socket = try f.fs.make(.root, Array("s".utf8), kind: .socket, permissions: 0o600, caller: .root)
        #expect(socket.attributes.mode == 0o140600)
        expectError(.invalidArgument) { try f.fs.readlink(device.node) }
        #expect(try f.list("").sorted() == ["l", "p", "s", "tty"])
        f.check()
    }

    @Test func plainValuesAndPrefixesShowAsFilesAndDirectories() throws {
        let f = try FSFixture(library: [
            .put(key: Array("lib/a/one".utf8), value: Array("first".utf8)),
            .put(key: Array("lib/a/two".utf8), value: Array("second".utf8)),
            .put(key: Array("lib/b/deep/x".utf8), value: []),
        ])
        #expect(try f.list("").sorted() == ["lib"])
        #expect(try f.list("lib").sorted() == ["a", "b"])
        let dir = try f.stat("lib/a")
        #expect(dir.kind == .directory && dir.permissions == 0o755 && dir.ino & Superblock.derivedInoBit != 0)
        let file = try f.stat("lib/a/one")
        #expect(file.kind == .regular && file.size == 5 && file.permissions == 0o644)
        #expect(try f.read("lib/a/two") == Array("second".utf8))
        // Writing a plain value gives it a record and keeps its content.
        try f.write("lib/a/one", Array("F".utf8))
        #expect(try f.read("lib/a/one") == Array("First".utf8))
        #expect(try f.stat("lib/a/one").ino & Superblock.derivedInoBit == 0)
        // Removing the last child of a prefix leaves an empty directory behind.
        try f.unlink("lib/b/deep/x")
        #expect(try f.stat("lib/b/deep").kind == .directory)
        #expect(try f.list("lib/b/deep").isEmpty)
        f.check()
    }

    @Test func reservedKeyspaceIsHidden() throws {
        let f = try FSFixture()
        try f.create("x")
        try f.write("x", [UInt8](repeating: 7, count: 100_000))
        _ = try f.fs.link(try f.node("x"), to: .root, as: Array("y".utf8))
        #expect(try f.tree.hasKeys(withPrefix: Array("/".utf8)))
        #expect(try f.list("").sorted() == ["x", "y"])
        expectError(.notFound) { try f.stat("s") }
    }

    @Test func inodeNumbersPersistAcrossRemount() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        let ino = try f.create("d/f").attributes.ino
        try f.remount()
        #expect(try f.stat("d/f").ino == ino)
        let next = try f.create("d/g").attributes.ino
        #expect(next > ino)
        f.check()
    }

    @Test func hardLinksShareOneInode() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        try f.create("d/a")
        try f.write("d/a", Array("shared".utf8))
        let linked = try f.fs.link(try f.node("d/a"), to: try f.node("d"), as: Array("b".utf8))
        #expect(linked.attributes.nlink == 2)
        #expect(try f.stat("d/a").nlink == 2)
        #expect(try f.stat("d/b").ino == linked.attributes.ino)
        try f.write("d/b", Array("S".utf8))
        #expect(try f.read("d/a") == Array("Shared".utf8))
        f.check()
        expectError(.exists) { try f.fs.link(try f.node("d/a"), to: try f.node("d"), as: Array("b".utf8)) }
        expectError(.notPermitted) { try f.fs.link(try f.node("d"), to: .root, as: Array("dd".utf8)) }
        try f.unlink("d/a")
        #expect(try f.stat("d/b").nlink == 1)
        #expect(try f.read("d/b") == Array("Shared".utf8))
        f.check()
        try f.unlink("d/b")
        #expect(try f.tree.range(prefix: Array("/i/".utf8)).isEmpty)
        f.check()
    }

    @Test func garbageIsSweptAfterEveryOpThatMakesIt() throws {
        // The sweep runs only after a batch moved something into /g/ (garbageEpoch): an unlink,
        // a rename over a file and a truncate of chunked files each leave nothing behind, and
        // ops that make no garbage in between do not stop the next sweep.
        let f = try FSFixture()
        let big = [UInt8](repeating: 7, count: 100_000)
        for name in ["a", "b", "c", "d"] {
            try f.create(name)
            try f.write(name, big)
        }
        try f.unlink("a")
        #expect(try f.tree.range(prefix: Array("/g/".utf8)).isEmpty)
        try f.create("e")
        try f.unlink("e")
        try f.rename("b", "c")
        #expect(try f.tree.range(prefix: Array("/g/".utf8)).isEmpty)
        _ = try f.fs.setattr(try f.node("d"), AttributeChanges(size: 0), caller: .root)
        #expect(try f.tree.range(prefix: Array("/g/".utf8)).isEmpty)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).count == 4)  // c's chunks only
        #expect(try f.read("c") == big)
        f.check()
    }

    @Test func unlinkedOpenFileStaysReadableUntilRelease() throws {
        let f = try FSFixture()
        try f.create("f")
        try f.write("f", [UInt8](repeating: 1, count: 70_000))
        let node = try f.node("f")
        let handle = try f.fs.open(node)
        try f.unlink("f")
        #expect(try f.fs.read(node, offset: 69_999, size: 10) == [1])
        _ = try f.fs.write(node, offset: 0, data: [9], caller: .root)
        #expect(try f.fs.getattr(node).nlink == 0)
        #expect(!(try f.tree.range(prefix: Array("/o/".utf8)).isEmpty))
        try f.fs.release(handle)
        #expect(try f.tree.range(prefix: Array("/o/".utf8)).isEmpty)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)
        // The kernel may still hold the node: it shows its last attributes, with no link.
        #expect(try f.fs.getattr(node).nlink == 0)
        expectError(.notFound) { try f.fs.read(node, offset: 0, size: 1) }
        f.check()
    }

    @Test func removedDirectoryStillAnswersStatWithNlinkZero() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        let node = try f.node("d")
        let handle = try f.fs.opendir(node)
        try f.rmdir("d")
        let attributes = try f.fs.getattr(node)
        #expect(attributes.kind == .directory && attributes.nlink == 0)
        var names: [[UInt8]] = []
        try f.fs.readdir(handle, offset: 0) { names.append($0.name); return true }
        #expect(names.isEmpty)
        expectError(.notFound) { try f.fs.make(node, Array("x".utf8), kind: .regular, permissions: 0o644, caller: .root) }
        f.fs.releasedir(handle)
    }

    @Test func plainValueOpenForWritingSurvivesUnlinkUntilRelease() throws {
        let f = try FSFixture(library: [.put(key: Array("p".utf8), value: [UInt8](repeating: 5, count: 40_000))])
        let node = try f.node("p")
        let handle = try f.fs.open(node, writable: true)
        #expect(try f.fs.getattr(node).ino & Superblock.derivedInoBit == 0)
        try f.unlink("p")
        #expect(try f.fs.read(node, offset: 39_999, size: 5) == [5])
        try f.fs.release(handle)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)
        expectError(.isDirectory) { try f.fs.open(.root) }
        #expect(f.fs.openFiles.withLock { $0.isEmpty })  // every count was given back
        f.check()
    }

    @Test func orphansLeftByACrashAreReapedAtMount() throws {
        let f = try FSFixture()
        try f.create("f")
        try f.write("f", [UInt8](repeating: 1, count: 70_000))
        _ = try f.fs.open(try f.node("f"))
        try f.unlink("f")
        try f.remount()
        #expect(try f.tree.range(prefix: Array("/o/".utf8)).isEmpty)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)
        f.check()
    }
}
