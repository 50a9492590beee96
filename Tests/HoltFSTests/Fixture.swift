// Shared helpers for the HoltFS tests: a filesystem on a fresh tree in a temporary directory,
// path-based shortcuts over the node-id API, and a seeded generator.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

/// A filesystem over a fresh tree; `check()` runs FSCheck and the node table's invariants.
final class FSFixture {
    let directory: String
    private(set) var tree: Tree
    private(set) var fs: Filesystem
    let user = Caller(uid: 1000, gid: 1000)

    /// A fixture whose tree first receives `library` (keys written through the engine alone).
    init(maxFileSize: UInt64 = 1 << 40, library: [TxnOp] = []) throws {
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("holtfs-test-XXXXXX").path
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw FSError.fuseSetup(reason: "mkdtemp failed") }
        directory = String(cString: made)
        // No fsync per batch: these tests are about the namespace, not durability.
        tree = try Tree.open(path: directory + "/db", options: Options(cacheBytes: 16 << 20, sync: .none))
        if !library.isEmpty { try tree.apply(library) }
        fs = try Filesystem(tree: tree, maxFileSize: maxFileSize, owner: (0, 0))
    }

    deinit {
        try? tree.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new `Filesystem` on the same tree, as after a remount (the node table starts empty).
    func remount(maxFileSize: UInt64 = 1 << 40) throws {
        fs = try Filesystem(tree: tree, maxFileSize: maxFileSize, owner: (0, 0))
    }

    /// Closes the tree and opens it again with a new `Filesystem`, as after a crash or a restart
    /// (the engine replays or loads what was committed; the node table starts empty).
    func reopen(maxFileSize: UInt64 = 1 << 40) throws {
        try tree.close()
        tree = try Tree.open(path: directory + "/db", options: Options(cacheBytes: 16 << 20, sync: .none))
        fs = try Filesystem(tree: tree, maxFileSize: maxFileSize, owner: (0, 0))
    }

    /// The node of `path` ("" is the root), looked up component by component.
    func node(_ path: String) throws(FSError) -> NodeID {
        var current = NodeID.root
        for component in path.split(separator: "/") {
            current = try fs.lookup(current, Array(component.utf8)).node
        }
        return current
    }

    /// The parent node and last name of `path`.
    func split(_ path: String) throws(FSError) -> (NodeID, [UInt8]) {
        var components = path.split(separator: "/").map(String.init)
        let name = components.removeLast()
        return (try node(components.joined(separator: "/")), Array(name.utf8))
    }

    @discardableResult
    func mkdir(_ path: String, _ mode: UInt32 = 0o755, as caller: Caller = .root) throws(FSError) -> Entry {
        let (parent, name) = try split(path)
        return try fs.make(parent, name, kind: .directory, permissions: mode, caller: caller)
    }

    @discardableResult
    func create(_ path: String, _ mode: UInt32 = 0o644, as caller: Caller = .root) throws(FSError) -> Entry {
        let (parent, name) = try split(path)
        return try fs.make(parent, name, kind: .regular, permissions: mode, caller: caller)
    }

    func write(_ path: String, _ data: [UInt8], at offset: UInt64 = 0, as caller: Caller = .root) throws(FSError) {
        _ = try fs.write(try node(path), offset: offset, data: data, caller: caller)
    }

    func read(_ path: String, at offset: UInt64 = 0, size: Int = 1 << 24) throws(FSError) -> [UInt8] {
        try fs.read(try node(path), offset: offset, size: size)
    }

    func stat(_ path: String) throws(FSError) -> Attributes {
        try fs.getattr(try node(path))
    }

    func unlink(_ path: String) throws(FSError) {
        let (parent, name) = try split(path)
        try fs.unlink(parent, name)
    }

    func rmdir(_ path: String) throws(FSError) {
        let (parent, name) = try split(path)
        try fs.rmdir(parent, name)
    }

    func rename(_ from: String, _ to: String, _ flags: RenameFlags = []) throws(FSError) {
        let (parent, name) = try split(from)
        let (newParent, newName) = try split(to)
        try fs.rename(parent, name, to: newParent, newName, flags: flags)
    }

    /// Every name in directory `path` (without `.` and `..`), listing `perReply` entries per reply.
    func list(_ path: String, perReply: Int = 1000) throws(FSError) -> [String] {
        let handle = try fs.opendir(try node(path))
        defer { fs.releasedir(handle) }
        var names: [String] = []
        var offset: UInt64 = 0
        while true {
            var taken = 0
            var last = offset
            try fs.readdir(handle, offset: offset) { entry in
                guard taken < perReply else { return false }
                taken += 1
                last = entry.offset
                if entry.name != Array(".".utf8), entry.name != Array("..".utf8) {
                    names.append(String(decoding: entry.name, as: UTF8.self))
                }
                return true
            }
            if taken == 0 { return names }
            offset = last
        }
    }

    /// Expects FSCheck and the node table to find nothing wrong.
    func check(sourceLocation: SourceLocation = #_sourceLocation) {
        let problems = FSCheck.check(tree: tree)
        #expect(problems.isEmpty, "FSCheck: \(problems)", sourceLocation: sourceLocation)
        let table = fs.nodes.invariantViolations()
        #expect(table.isEmpty, "node table: \(table)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw `expected`.
func expectError<T>(
    _ expected: FSError, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) {
    do {
        _ = try body()
        Issue.record("expected \(expected), got success", sourceLocation: sourceLocation)
    } catch {
        #expect(error as? FSError == expected, "got \(error)", sourceLocation: sourceLocation)
    }
}

/// A small seeded generator (SplitMix64); the seed comes from HOLT_SEED when set.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    let seed: UInt64

    init(defaultSeed: UInt64) {
        let environment = ProcessInfo.processInfo.environment["HOLT_SEED"].flatMap(UInt64.init)
        seed = environment ?? defaultSeed
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    init(_ string: String) { self = Array(string.utf8) }
}
