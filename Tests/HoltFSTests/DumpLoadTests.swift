// The dump format (FSExporter) and its loader (FSImporter): a varied filesystem, with keys written
// by the engine alone, dumps, loads into a new tree and dumps again to the same bytes; the loaded
// tree passes FSCheck and answers stat, read, readlink and getxattr as the original does.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct DumpLoadTests {
    /// The dump of `tree` as lines (each ending in a newline).
    static func dump(_ tree: Tree) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        try FSExporter(tree: tree).run { line in lines.append(line) }
        return lines
    }

    /// Loads `lines` into the empty `tree`.
    static func load(_ lines: [[UInt8]], into tree: Tree) throws(FSDumpError) {
        let importer = FSImporter(tree: tree)
        for line in lines { try importer.load(line: line.last == 10 ? line.dropLast() : line[...]) }
        try importer.finish()
    }

    /// A fresh empty tree in a temporary directory (removed by the caller's `defer`).
    static func emptyTree() throws -> (Tree, String) {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("holtfs-load-XXXXXX").path
        var bytes = Array(template.utf8CString)
        let directory = String(cString: try #require(mkdtemp(&bytes)))
        return (try Tree.open(path: directory + "/db", options: Options(cacheBytes: 16 << 20, sync: .none)), directory)
    }

    /// Builds the varied filesystem on `f`.
    static func populate(_ f: FSFixture) throws {
        try f.mkdir("docs", 0o750)
        try f.mkdir("docs/deep")
        try f.mkdir("other")
        try f.create("docs/empty")
        try f.create("docs/small", 0o600)
        try f.write("docs/small", Array("hello\n".utf8))
        try f.create("docs/medium")
        try f.write("docs/medium", (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try f.create("docs/deep/big")
        try f.write("docs/deep/big", (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })
        try f.create("sparse")
        try f.write("sparse", [1, 2, 3], at: 5_000_000)
        try f.write("sparse", [9], at: 70_000)
        _ = try f.fs.make(.root, Array("link".utf8), kind: .symlink, permissions: 0o777, target: Array("docs/small".utf8), caller: .root)
        _ = try f.fs.make(.root, Array("fifo".utf8), kind: .fifo, permissions: 0o644, caller: .root)
        _ = try f.fs.make(try f.node("other"), Array("null".utf8), kind: .charDevice, permissions: 0o666, rdev: 0x103, caller: .root)
        _ = try f.fs.link(try f.node("docs/small"), to: try f.node("other"), as: Array("hard".utf8))
        _ = try f.fs.link(try f.node("docs/small"), to: .root, as: Array("a-1".utf8))
        try f.fs.setxattr(try f.node("docs/small"), name: Array("user.small".utf8), value: Array("v".utf8), mode: .either)
        try f.fs.setxattr(try f.node("docs/medium"), name: Array("user.big".utf8), value: (0..<65_536).map { UInt8(truncatingIfNeeded: $0) }, mode: .either)
        try f.fs.setxattr(try f.node("docs"), name: Array("trusted.dir".utf8), value: [0, 255, 10], mode: .either)
        _ = try f.fs.setattr(
            try f.node("docs/medium"),
            AttributeChanges(permissions: 0o4755, uid: 1234, gid: 99, atime: .set(-5_000_000_123), mtime: .set(1_234_567_890_123_456_789)),
            caller: .root)
        let name: [UInt8] = [0x62, 0x69, 0x6E, 0xFF]  // "bin\xFF", not UTF-8
        _ = try f.fs.make(try f.node("other"), name, kind: .regular, permissions: 0o644, caller: .root)
    }

    /// Keys an engine user wrote, and odd keys the filesystem does not show.
    static let library: [TxnOp] = [
        .put(key: Array("lib/a".utf8), value: Array("plain value".utf8)),
        .put(key: Array("lib/sub/b".utf8), value: [0xFF, 0x00, 0x01]),
        .put(key: Array("lib/a/under-a-file".utf8), value: Array("hidden".utf8)),
        .put(key: Array("lib!".utf8), value: []),
        .put(key: Array("x//y".utf8), value: Array("empty component".utf8)),
        .put(key: Array("/unknown/reserved".utf8), value: Array("raw".utf8)),
        .put(key: Array("/z".utf8), value: Array("raw too".utf8)),
    ]

    @Test func roundTripIsExact() throws {
        let f = try FSFixture(library: Self.library)
        try Self.populate(f)
        // FSCheck reports the keys an engine user put in the reserved keyspace, and nothing else.
        let problems = { (tree: Tree) in FSCheck.check(tree: tree).filter { !$0.contains("unknown reserved key") } }
        #expect(problems(f.tree).isEmpty, "\(problems(f.tree))")
        let lines = try Self.dump(f.tree)
        let text = String(decoding: lines.joined(), as: UTF8.self)
        #expect(text.hasPrefix("{\"format\":\"holtfs-dump\",\"version\":1,\"next_ino\":"))
        #expect(text.contains("\"path\":\"lib\",\"kind\":\"dir\",\"implicit\":true"))
        #expect(text.contains("\"path\":\"lib/a\",\"kind\":\"file\",\"plain\":true"))
        #expect(text.contains("\"path_b64\":\"b3RoZXIvYmlu/w==\""))
        #expect(text.contains("\"key\":\"/unknown/reserved\""))
        #expect(text.contains("\"link\":"))
        #expect(text.contains("\"shared\":true"))
        // The sparse file: chunks 2 (byte 70,000) and 152 (byte 5,000,000), holes between.
        let strings = lines.map { String(decoding: $0, as: UTF8.self) }
        let sparse = try #require(strings.firstIndex { $0.contains("\"path\":\"sparse\"") })
        #expect(strings[sparse + 1].hasPrefix("{\"chunk\":2,") && strings[sparse + 2].hasPrefix("{\"chunk\":152,"))
        #expect(!strings[sparse + 3].hasPrefix("{\"chunk\""))
        #expect(lines.last.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("{\"end\":true,") == true)

        let (copy, directory) = try Self.emptyTree()
        defer { try? copy.close(); try? FileManager.default.removeItem(atPath: directory) }
        try Self.load(lines, into: copy)
        #expect(problems(copy).isEmpty, "\(problems(copy))")
        #expect(FSCheck.check(tree: copy).count == 2)
        let again = try Self.dump(copy)
        #expect(again == lines)
        // The same keys and values (xattr placement follows the same rule as setxattr's).
        let original = try f.tree.range(prefix: [])
        let loaded = try copy.range(prefix: [])
        #expect(original == loaded)

        // The loaded tree answers as the original through the filesystem.
        let fs = try Filesystem(tree: copy, owner: (0, 0))
        for path in ["docs", "docs/small", "docs/medium", "docs/deep/big", "sparse", "link", "fifo", "other/null", "other/hard", "a-1", "lib", "lib/a"] {
            var node = NodeID.root
            var original = NodeID.root
            for component in path.split(separator: "/") {
                node = try fs.lookup(node, Array(component.utf8)).node
                original = try f.fs.lookup(original, Array(component.utf8)).node
            }
            var got = try fs.getattr(node)
            var want = try f.fs.getattr(original)
            if path.hasPrefix("lib") {  // shown with the mount's opening time
                got.atime = 0; got.mtime = 0; got.ctime = 0
                want.atime = 0; want.mtime = 0; want.ctime = 0
            }
            #expect(got == want, "\(path)")
            if want.kind == .regular {
                #expect(try fs.read(node, offset: 0, size: 1 << 23) == f.fs.read(original, offset: 0, size: 1 << 23), "\(path)")
            }
            #expect(try fs.listxattr(node) == f.fs.listxattr(original))
        }
        #expect(try fs.getxattr(try fs.lookup(try fs.lookup(.root, Array("docs".utf8)).node, Array("medium".utf8)).node, name: Array("user.big".utf8)).count == 65_536)
    }

    @Test func anEmptyTreeAndAFreshFilesystemRoundTrip() throws {
        for withFilesystem in [false, true] {
            let (source, sourceDirectory) = try Self.emptyTree()
            defer { try? source.close(); try? FileManager.default.removeItem(atPath: sourceDirectory) }
            if withFilesystem { _ = try Filesystem(tree: source, owner: (0, 0)) }
            let lines = try Self.dump(source)
            let (copy, directory) = try Self.emptyTree()
            defer { try? copy.close(); try? FileManager.default.removeItem(atPath: directory) }
            try Self.load(lines, into: copy)
            #expect(try Self.dump(copy) == lines)
            #expect(try copy.range(prefix: []) == source.range(prefix: []))
        }
    }

    @Test func badDumpsAreRefusedWithTheirLine() throws {
        let f = try FSFixture()
        try f.create("file")
        try f.write("file", [UInt8](repeating: 7, count: 40_000))
        let lines = try Self.dump(f.tree)
        func loading(_ lines: [[UInt8]]) -> FSDumpError? {
            guard let (tree, directory) = try? Self.emptyTree() else { return nil }
            defer { try? tree.close(); try? FileManager.default.removeItem(atPath: directory) }
            do { try Self.load(lines, into: tree) } catch { return error }
            return nil
        }
        // Truncated: no end line.
        guard case .format(_, let reason) = loading(Array(lines.dropLast())) else { Issue.record("truncated dump loaded"); return }
        #expect(reason.contains("without its end line"))
        // Not a dump.
        guard case .format(1, _) = loading([Array("{\"hello\":1}".utf8)]) else { Issue.record("a non-dump loaded"); return }
        // Bad base64 on line 3 (the file's line).
        var bad = lines
        let fileLine = try #require(bad.firstIndex { String(decoding: $0, as: UTF8.self).contains("\"path\":\"file\"") })
        bad[fileLine + 1] = Array("{\"chunk\":0,\"data\":\"@@@@\"}".utf8)
        guard case .format(let line, let why) = loading(bad) else { Issue.record("bad base64 loaded"); return }
        #expect(line == fileLine + 2 && why.contains("base64"))
        // A chunk line after something that is no chunked file.
        var orphan = lines
        orphan.insert(Array("{\"chunk\":0,\"data\":\"AA==\"}".utf8), at: 2)
        guard case .format(3, _) = loading(orphan) else { Issue.record("an orphan chunk loaded"); return }
        // JSON errors.
        guard case .format(2, _) = loading([lines[0], Array("{\"path\":\"x\",".utf8)]) else { Issue.record("broken JSON loaded"); return }
    }

    @Test func jsonAndBase64Codecs() throws {
        for count in 0..<10 {
            let data = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 5) }
            #expect(Base64.decode(Base64.encode(data)) == data)
        }
        #expect(String(decoding: Base64.encode(Array("hello".utf8)), as: UTF8.self) == "aGVsbG8=")
        #expect(Base64.decode(Array("aGVsbG8".utf8)) == nil)
        #expect(Base64.decode(Array("a=Vs".utf8)) == nil)
        let value = try JSONParser.parse(Array(#" {"a":"x\u00e9\ud83d\ude00\n\"","b":[1,-2,true,null,{}],"c":18446744073709551615} "#.utf8)[...])
        #expect(value["a"] == .string(Array("xé😀\n\"".utf8)))
        #expect(value["b"] == .array([.integer(negative: false, magnitude: 1), .integer(negative: true, magnitude: 2), .bool(true), .null, .object([])]))
        #expect(value["c"] == .integer(negative: false, magnitude: .max))
        for bad in [#"{"a":1.5}"#, #"{"a":"\ud800"}"#, #"{"a":1"#, #"{"a":1} x"#, "{\"a\":\"\u{01}\"}", #"{"a":18446744073709551616}"#] {
            #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(bad.utf8)[...]) }
        }
        var writer = JSONObjectWriter()
        writer.text("p", "p_b64", Array("tab\there \"q\" \u{7F}".utf8))
        #expect(String(decoding: writer.line(), as: UTF8.self) == "{\"p\":\"tab\\there \\\"q\\\" \\u007f\"}\n")
    }
}
