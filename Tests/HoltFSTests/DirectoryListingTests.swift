// Protects streamed readdir: resuming from the kernel's offset in small replies, constant state,
// survivors never repeated or lost while entries are added and removed mid-listing, dedupe of a
// name that is both a key and a common prefix, and skipping names that cannot be shown.
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct DirectoryListingTests {
    @Test(arguments: [1, 2, 7, 200])
    func listingResumesAcrossSmallReplies(perReply: Int) throws {
        let f = try FSFixture()
        try f.mkdir("d")
        var expected: [String] = []
        for index in 0..<300 {
            let name = "n\(String(index, radix: 7))"
            if index % 5 == 0 { try f.mkdir("d/" + name) } else { try f.create("d/" + name) }
            expected.append(name)
        }
        let listed = try f.list("d", perReply: perReply)
        #expect(listed == expected.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }))
    }

    @Test func plainListingShowsTheSameInosAndKindsAsAFullOne() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        try f.mkdir("d/sub")
        try f.create("d/file")
        _ = try f.fs.make(try f.node("d"), Array("link".utf8), kind: .symlink, permissions: 0o777, target: Array("file".utf8), caller: .root)
        _ = try f.fs.link(try f.node("d/file"), to: try f.node("d"), as: Array("second".utf8))
        try f.tree.put(Array("d/plain".utf8), Array("not a record".utf8))
        func listing(full: Bool) throws(FSError) -> [String: (UInt64, InodeRecord.Kind)] {
            let handle = try f.fs.opendir(try f.node("d"))
            defer { f.fs.releasedir(handle) }
            var seen: [String: (UInt64, InodeRecord.Kind)] = [:]
            try f.fs.readdir(handle, offset: 0, fullAttributes: full) { entry in
                seen[String(decoding: entry.name, as: UTF8.self)] = (entry.attributes.ino, entry.attributes.kind)
                return true
            }
            return seen
        }
        let full = try listing(full: true), plain = try listing(full: false)
        #expect(Set(full.keys) == [".", "..", "sub", "file", "link", "second", "plain"])
        #expect(Set(plain.keys) == Set(full.keys))
        for (name, value) in full {
            #expect(plain[name]?.0 == value.0 && plain[name]?.1 == value.1, "\(name)")
        }
        #expect(full["second"]?.0 == full["file"]?.0)
    }

    @Test func dotEntriesComeFirstWithTheirOffsets() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        try f.create("d/x")
        let handle = try f.fs.opendir(try f.node("d"))
        var seen: [(String, UInt64)] = []
        try f.fs.readdir(handle, offset: 0) { entry in
            seen.append((String(decoding: entry.name, as: UTF8.self), entry.offset))
            return true
        }
        #expect(seen.map(\.0) == [".", "..", "x"])
        #expect(seen[0].1 == 1 && seen[1].1 == 2 && seen[2].1 > 2)
        // Resuming after ".." gives the entries again; after the last, nothing.
        var again: [String] = []
        try f.fs.readdir(handle, offset: 2) { again.append(String(decoding: $0.name, as: UTF8.self)); return true }
        #expect(again == ["x"])
        var tail: [String] = []
        try f.fs.readdir(handle, offset: seen[2].1) { tail.append(String(decoding: $0.name, as: UTF8.self)); return true }
        #expect(tail.isEmpty)
        expectError(.invalidArgument) { try f.fs.readdir(handle, offset: 9_999) { _ in true } }
        f.fs.releasedir(handle)
        expectError(.badHandle) { try f.fs.readdir(handle, offset: 0) { _ in true } }
    }

    @Test func survivorsAppearExactlyOnceDespiteConcurrentChanges() throws {
        var generator = SeededGenerator(defaultSeed: 0x5EED_0D1E)
        let f = try FSFixture()
        try f.mkdir("d")
        var present = Set<String>()
        for index in 0..<400 {
            let name = "f\(index)"
            try f.create("d/" + name)
            present.insert(name)
        }
        let original = present
        let handle = try f.fs.opendir(try f.node("d"))
        var listed: [String] = []
        var offset: UInt64 = 0
        var removed = Set<String>()
        var fresh = 0
        while true {
            var taken = 0
            try f.fs.readdir(handle, offset: offset) { entry in
                guard taken < 9 else { return false }
                taken += 1
                offset = entry.offset
                let name = String(decoding: entry.name, as: UTF8.self)
                if name != ".", name != ".." { listed.append(name) }
                return true
            }
            if taken == 0 { break }
            for _ in 0..<3 {
                if Bool.random(using: &generator), let victim = present.randomElement(using: &generator) {
                    try f.unlink("d/" + victim)
                    present.remove(victim)
                    removed.insert(victim)
                } else {
                    let name = "new\(fresh)-\(UInt32.random(in: 0...9999, using: &generator))"
                    fresh += 1
                    try f.create("d/" + name)
                    present.insert(name)
                }
            }
        }
        f.fs.releasedir(handle)
        #expect(Set(listed).count == listed.count, "an entry repeated (seed \(generator.seed))")
        for survivor in original.subtracting(removed) {
            #expect(listed.contains(survivor), "survivor \(survivor) missing (seed \(generator.seed))")
        }
        f.check()
    }

    /// A listing longer than one reply reads one snapshot: renames between replies (of names
    /// listed already to names still to come, and back) never show a name twice or lose one,
    /// and the snapshot is freed at releasedir. Fails without snapshots (a renamed entry shows
    /// again under its new name).
    @Test func renamesBetweenRepliesNeverTearAListing() throws {
        var generator = SeededGenerator(defaultSeed: 0x5EED_2E4A)
        let f = try FSFixture()
        try f.mkdir("d")
        try f.mkdir("d/sub")
        var names = Set<String>(["sub"])
        for index in 0..<300 {
            try f.create("d/m\(index)")
            names.insert("m\(index)")
        }
        let original = names
        let handle = try f.fs.opendir(try f.node("d"))
        var listed: [String] = []
        var offset: UInt64 = 0
        var renames = 0
        var directory = "d"
        while true {
            var taken = 0
            var handedOut: [String] = []
            try f.fs.readdir(handle, offset: offset) { entry in
                guard taken < 9 else { return false }
                taken += 1
                offset = entry.offset
                let name = String(decoding: entry.name, as: UTF8.self)
                if name != ".", name != ".." { listed.append(name) }
                if entry.offset > 2, !entry.stale { handedOut.append(name) }
                return true
            }
            if taken == 0 { break }
            // The snapshot stays open between replies, and is let go by the reply that reads the
            // listing to its end (one that stops short of the 9 entries asked for).
            #expect(try f.tree.statistics().openSnapshots == (taken == 9 ? 1 : 0), "after a reply of \(taken) entries")
            // readdirplus hands the kernel dentries only for names that exist now.
            for name in handedOut {
                #expect((try? f.node(directory + "/" + name)) != nil, "a dentry for \(name), renamed away")
            }
            for _ in 0..<2 {
                let victim = names.filter { $0.hasPrefix("m") || $0.hasPrefix("a") || $0.hasPrefix("z") }.randomElement(using: &generator)!
                // Alternately to a name sorting first ("a…") and last ("z…").
                let target = (renames % 2 == 0 ? "a" : "z") + "\(renames)"
                renames += 1
                try f.rename(directory + "/" + victim, directory + "/" + target)
                names.remove(victim)
                names.insert(target)
            }
            // The directory itself moves too: the listing goes on where it was.
            let next = directory == "d" ? "e" : "d"
            try f.rename(directory, next)
            directory = next
        }
        #expect(listed.count == original.count, "listed \(listed.count) names of \(original.count) (seed \(generator.seed))")
        #expect(Set(listed) == original, "a torn listing (seed \(generator.seed))")
        f.fs.releasedir(handle)
        let stats = try f.tree.statistics()
        #expect(stats.openSnapshots == 0 && stats.snapshotShadowBytes == 0)
        // A listing that fits one reply takes no snapshot.
        let small = try f.fs.opendir(try f.node(directory + "/sub"))
        try f.fs.readdir(small, offset: 0) { _ in true }
        #expect(try f.tree.statistics().openSnapshots == 0)
        f.fs.releasedir(small)
        f.check()
    }

    /// A handle dropped in the middle of a long listing frees its snapshot at releasedir.
    @Test func anAbandonedListingFreesItsSnapshot() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        for index in 0..<200 { try f.create("d/e\(index)") }
        let handles = try (0..<5).map { _ in try f.fs.opendir(try f.node("d")) }
        for handle in handles {
            var taken = 0
            try f.fs.readdir(handle, offset: 0) { _ in taken += 1; return taken <= 10 }
        }
        for index in 0..<50 { try f.unlink("d/e\(index)") }
        #expect(try f.tree.statistics().openSnapshots == 5)
        #expect(try f.tree.statistics().snapshotShadowBlobs > 0)
        for handle in handles { f.fs.releasedir(handle) }
        let stats = try f.tree.statistics()
        #expect(stats.openSnapshots == 0 && stats.snapshotShadowBlobs == 0 && stats.snapshotShadowBytes == 0)
    }

    @Test func keyAndCommonPrefixOfOneNameShowOnce() throws {
        let f = try FSFixture(library: [
            .put(key: Array("a/x/child".utf8), value: Array("c".utf8)),
            .put(key: Array("a/x-sibling".utf8), value: []),
            .put(key: Array("a/y/child".utf8), value: []),
        ])
        expectError(.exists) { try f.mkdir("a/x") }  // x exists as a directory without a record
        #expect(try f.list("a") == ["x-sibling", "x", "y"])  // "-" sorts before "/"
    }

    @Test func directoryRecordWithChildrenListsOnce() throws {
        let f = try FSFixture()
        try f.mkdir("a")
        try f.mkdir("a/x")
        try f.create("a/x/child")
        try f.create("a/x-sibling")
        try f.create("a/x0")
        #expect(try f.list("a") == ["x", "x-sibling", "x0"])
        let handle = try f.fs.opendir(try f.node("a"))
        var kinds: [String: InodeRecord.Kind] = [:]
        try f.fs.readdir(handle, offset: 2) { kinds[String(decoding: $0.name, as: UTF8.self)] = $0.attributes.kind; return true }
        #expect(kinds["x"] == .directory && kinds["x0"] == .regular)
    }

    @Test func unshowableNamesAreSkipped() throws {
        let f = try FSFixture(library: [
            .put(key: Array("d/ok".utf8), value: []),
            .put(key: Array("d//empty-component".utf8), value: []),
            .put(key: Array("d/./dot".utf8), value: []),
            .put(key: Array("d/".utf8) + [UInt8](repeating: UInt8(ascii: "L"), count: 300), value: []),
        ])
        #expect(try f.list("d") == ["ok"])
        #expect(try f.list("") == ["d"])
    }
}
