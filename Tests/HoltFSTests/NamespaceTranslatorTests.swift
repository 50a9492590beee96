// Protects `holtfs watch`'s translation of the engine's change feed into namespace events:
// each FUSE-level change of the filesystem gives the event a user expects (create, mkdir,
// write, setattr, xattr, rename of a file and of a directory, link, remove), reserved keys and
// the parents' bookkeeping give none, and the subtree filter keeps what touches a directory.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct NamespaceTranslatorTests {
    /// Every event of the batches committed after `position`.
    static func events(_ f: FSFixture, after position: LSN = .zero, translator: inout NamespaceTranslator) throws -> [NamespaceEvent] {
        let feed = try f.tree.changes(after: position)
        var events: [NamespaceEvent] = []
        while let batch = try feed.next(timeout: .zero) { events += translator.events(for: batch) }
        return events
    }

    /// `op path` (or `rename from->to`) of each event.
    static func summary(_ events: [NamespaceEvent]) -> [String] {
        events.map { $0.operation == .rename ? "rename \($0.from ?? "?")->\($0.path ?? "?")" : "\($0.operation.rawValue) \($0.path ?? "?")" }
    }

    @Test("Each filesystem operation gives its event, in commit order")
    func operations() throws {
        let f = try FSFixture()
        let formatted = f.tree.lastCommittedLSN  // the root's record and the superblock
        _ = try f.mkdir("a")
        _ = try f.create("a/f")
        try f.write("a/f", Array("hello".utf8))
        _ = try f.fs.setattr(try f.node("a/f"), AttributeChanges(permissions: 0o600), caller: .root)
        try f.fs.setxattr(try f.node("a/f"), name: Array("user.tag".utf8), value: Array("v".utf8), mode: .either)
        try f.rename("a/f", "a/g")
        _ = try f.mkdir("b")
        try f.rename("a", "b/a")
        try f.write("b/a/g", [UInt8](repeating: 7, count: 100_000))
        _ = try f.create("b/tmp")
        try f.unlink("b/tmp")
        _ = try f.mkdir("b/empty")
        try f.rmdir("b/empty")
        var translator = NamespaceTranslator()
        let events = try Self.events(f, after: formatted, translator: &translator)
        #expect(Self.summary(events) == [
            "mkdir a", "create a/f", "write a/f", "setattr a/f", "xattr a/f", "rename a/f->a/g", "mkdir b",
            "rename a->b/a", "write b/a/g", "create b/tmp", "remove b/tmp", "mkdir b/empty", "remove b/empty",
        ])
        // LSNs rise, kinds and inos are there where the batch shows them.
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.lsn <= $1.lsn })
        #expect(events[0].kind == "dir" && events[1].kind == "file")
        let ino = try #require(events[1].ino)
        #expect(events[5].ino == ino && events[8].ino == ino)
        #expect(events[5].json() == "{\"lsn\":\(events[5].lsn),\"op\":\"rename\",\"from\":\"a/f\",\"to\":\"a/g\",\"kind\":\"file\",\"ino\":\(ino)}")
        #expect(events[0].text() == "\(events[0].lsn) mkdir a (dir, ino \(events[0].ino!))")
        f.check()
    }

    @Test("The subtree filter keeps what touches the directory, renames in and out included")
    func subtreeFilter() throws {
        let f = try FSFixture()
        _ = try f.mkdir("src")
        _ = try f.mkdir("other")
        _ = try f.create("src/one")
        _ = try f.create("other/two")
        try f.rename("other/two", "src/two")
        try f.rename("src/one", "other/one")
        _ = try f.create("srcfile")
        var translator = NamespaceTranslator()
        let events = try Self.events(f, translator: &translator).filter { $0.touches(subtree: "src") }
        #expect(Self.summary(events) == ["mkdir src", "create src/one", "rename other/two->src/two", "rename src/one->other/one"])
    }

    @Test("A hard link shows as link; an exchange as two renames")
    func linksAndExchange() throws {
        let f = try FSFixture()
        _ = try f.create("x")
        _ = try f.create("y")
        let start = f.tree.lastCommittedLSN
        _ = try f.fs.link(try f.node("x"), to: .root, as: Array("x2".utf8))
        try f.rename("x", "y", .exchange)
        var translator = NamespaceTranslator()
        let events = try Self.events(f, after: start, translator: &translator)
        #expect(Self.summary(events) == ["link x2", "rename y->x", "rename x->y"])
        // A write through one of the names changes the shared record: an event with the ino, no path.
        let before = f.tree.lastCommittedLSN
        try f.write("x2", Array("data".utf8))
        let write = try Self.events(f, after: before, translator: &translator)
        #expect(Self.summary(write) == ["write ?"])
        #expect(write.first?.ino == events.first?.ino && write.first?.touches(subtree: "x2") == false)
    }

    /// Every path of the filesystem (files and directories), walked through readdir.
    static func paths(_ f: FSFixture, under directory: String = "") throws -> Set<String> {
        var found: Set<String> = []
        for name in try f.list(directory) {
            let path = directory.isEmpty ? name : directory + "/" + name
            found.insert(path)
            if try f.stat(path).kind == .directory { found.formUnion(try paths(f, under: path)) }
        }
        return found
    }

    @Test("A follower of the namespace built from the events has the source's paths", arguments: [UInt64(1), 2, 3, 4])
    func followerOfTheNamespace(seed: UInt64) throws {
        let f = try FSFixture()
        var random = SeededGenerator(defaultSeed: seed)
        var follower: Set<String> = []
        var translator = NamespaceTranslator()
        var position = f.tree.lastCommittedLSN
        let names = ["a", "b", "c", "d"]
        for step in 0..<200 {
            let existing = Array(try Self.paths(f)).sorted()
            let directories = [""] + existing.filter { (try? f.stat($0).kind == .directory) ?? false }
            let parent = directories[Int(random.next() % UInt64(directories.count))]
            let target = (parent.isEmpty ? "" : parent + "/") + names[Int(random.next() % 4)]
            let victim = existing.isEmpty ? nil : existing[Int(random.next() % UInt64(existing.count))]
            // Refused operations (EEXIST, ENOTEMPTY, EINVAL for a move into itself) commit nothing.
            switch random.next() % 8 {
            case 0: _ = try? f.mkdir(target)
            case 1, 2: _ = try? f.create(target)
            case 3: if let victim { try? f.write(victim, Array("data \(step)".utf8)) }
            case 4: if let victim { try? f.unlink(victim); try? f.rmdir(victim) }
            case 5, 6: if let victim { try? f.rename(victim, target) }
            default: if let victim { _ = try? f.fs.link(try f.node(victim), to: try f.node(parent), as: Array(target.split(separator: "/").last!.utf8)) }
            }
            let feed = try f.tree.changes(after: position)
            while let batch = try feed.next(timeout: .zero) {
                position = batch.lsn
                for event in translator.events(for: batch) {
                    switch event.operation {
                    case .create, .mkdir, .symlink, .link: follower.insert(event.path!)
                    case .remove: follower.remove(event.path!)
                    case .rename:
                        let from = event.from!, to = event.path!
                        let moved = follower.filter { $0 == from || $0.hasPrefix(from + "/") }
                        follower.subtract(moved)
                        // A rename over an existing name replaces it (and it had no children).
                        follower.remove(to)
                        for path in moved { follower.insert(to + path.dropFirst(from.count)) }
                    case .write, .setattr, .xattr: #expect(event.path == nil || follower.contains(event.path!), "seed \(seed): \(event)")
                    }
                }
            }
            let source = try Self.paths(f)
            #expect(follower == source, "seed \(seed), step \(step)")
            if follower != source { return }
        }
        f.check()
    }

    @Test("Quoting: names with quotes, backslashes and control bytes stay one JSON line")
    func quoting() {
        let event = NamespaceEvent(lsn: 3, operation: .create, path: "a\"b\\c\nd\u{1}", kind: "file", ino: 9)
        #expect(event.json() == "{\"lsn\":3,\"op\":\"create\",\"path\":\"a\\\"b\\\\c\\nd\\u0001\",\"kind\":\"file\",\"ino\":9}")
    }
}
