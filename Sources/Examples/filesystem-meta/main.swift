// filesystem-meta: a holt database as the metadata of a file tree, through HoltEngine's public API.
// Path-shaped keys (one key per file or directory, the value its metadata), `ls` as one range
// query with a delimiter, and `mv` of a whole directory as one renamePrefix, whose cost does not
// depend on how many keys move.
//
//   swift run filesystem-meta [DB-DIRECTORY]
import Foundation
import HoltEngine

let (path, temporary) = databasePath(example: "filesystem-meta")
defer { if temporary { try? FileManager.default.removeItem(atPath: path) } }

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }


/// `ls DIR`: the children of a directory, subdirectories rolled up (one range query per page).
/// A subdirectory shows up twice in the engine's answer, as its own key (value "dir") and as the
/// common prefix of what lies below it; it is listed once, as `name/`.
func ls(_ tree: Tree, _ directory: String) throws -> [String] {
    var names: [String] = []
    var directories: Set<String> = []
    var after: [UInt8]? = nil
    let prefix = bytes(directory + "/")
    while true {
        let page = try tree.range(prefix: prefix, startAfter: after, delimiter: UInt8(ascii: "/"), limit: 100)
        for item in page {
            switch item {
            case .entry(let key, let value):
                let name = text(Array(key[prefix.count...]))
                if text(value) == "dir" {
                    directories.insert(name + "/")
                    names.append(name + "/")
                } else {
                    names.append("\(name) [\(text(value))]")
                }
            case .commonPrefix(let bytes):
                let name = text(Array(bytes[prefix.count...]))
                if !directories.contains(name) { names.append(name) }  // keys below, no directory key
            }
        }
        guard page.count == 100, let last = page.last else { return names }
        after = last.position
    }
}

/// `du DIR`: how many keys lie below a directory (a range without delimiter, borrowed items).
func count(_ tree: Tree, under directory: String) throws -> Int {
    var keys = 0
    try tree.forEach(RangeQuery(prefix: bytes(directory + "/"))) { _ in
        keys += 1
        return true
    }
    return keys
}

do {
    print("filesystem-meta: a file tree's metadata in a holt database at \(path)")
    let tree = try Tree.open(path: path)
    // Directories are keys too (value "dir"); files carry their size and mode.
    var ops: [TxnOp] = []
    for directory in ["home", "home/alice", "home/alice/docs", "home/alice/docs/2024", "home/bob"] {
        ops.append(.put(key: bytes(directory), value: bytes("dir")))
    }
    for month in 1...12 {
        for day in [1, 15] {
            ops.append(.put(key: bytes(String(format: "home/alice/docs/2024/report-%02d-%02d.pdf", month, day)), value: bytes("size=\(month * 1000 + day) mode=0644")))
        }
    }
    ops.append(.put(key: bytes("home/alice/docs/todo.txt"), value: bytes("size=42 mode=0600")))
    ops.append(.put(key: bytes("home/alice/notes.txt"), value: bytes("size=7 mode=0644")))
    try tree.apply(ops)  // one atomic batch
    print("created \(ops.count) keys in one batch")

    print("ls home/alice: \(try ls(tree, "home/alice").joined(separator: ", "))")
    print("ls home/alice/docs: \(try ls(tree, "home/alice/docs").joined(separator: ", "))")
    print("du home/alice/docs: \(try count(tree, under: "home/alice/docs")) keys below it")

    // mv home/alice/docs home/alice/documents: the directory key and every key below it, at once.
    // It fails (and changes nothing) when the destination exists.
    try tree.renamePrefix(from: bytes("home/alice/docs"), to: bytes("home/alice/documents"))
    print("renamePrefix home/alice/docs -> home/alice/documents: \(try count(tree, under: "home/alice/documents")) keys moved in one op")
    print("ls home/alice: \(try ls(tree, "home/alice").joined(separator: ", "))")
    print("get home/alice/documents/2024/report-06-15.pdf -> \(try tree.get(bytes("home/alice/documents/2024/report-06-15.pdf")).map(text) ?? "(absent)")")
    print("keys left below home/alice/docs: \(try count(tree, under: "home/alice/docs"))")

    // mv home/alice/documents home/bob: refused, home/bob exists (a condition, nothing applied).
    if let reason = try refusal({ try tree.renamePrefix(from: bytes("home/alice/documents"), to: bytes("home/bob")) }) {
        print("renamePrefix onto home/bob: refused (\(reason))")
    }
    // rmdir: delete a directory key only when nothing lies below it.
    if try refusal({
        try tree.apply([.expect(key: bytes("home/alice/documents"), .noDescendants), .delete(key: bytes("home/alice/documents"))])
    }) != nil {
        print("rmdir home/alice/documents: refused, not empty")
    }
    try tree.apply([.expect(key: bytes("home/bob"), .noDescendants), .delete(key: bytes("home/bob"))])
    print("rmdir home/bob: done; ls home: \(try ls(tree, "home").joined(separator: ", "))")
    try tree.close()
    print("filesystem-meta: ok")
} catch {
    print("filesystem-meta: failed: \(error)")
    exit(1)
}

/// Runs `change`; returns why a condition refused it, nil when it applied.
func refusal(_ change: () throws -> Void) throws -> String? {
    do {
        try change()
        return nil
    } catch let error as HoltError {
        guard case .conditionFailed(_, _, let reason) = error else { throw error }
        return reason
    }
}

func databasePath(example: String) -> (String, Bool) {
    if CommandLine.arguments.count > 1 { return (CommandLine.arguments[1], false) }
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(example)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))").path
    return (directory, true)
}
