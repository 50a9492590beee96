// basic-kv: put, get, delete and range on a holt database, through HoltEngine's public API.
//
//   swift run basic-kv [DB-DIRECTORY]
//
// Without an argument it works in a new temporary directory and removes it at the end.
import Foundation
import HoltEngine

/// The database directory: the argument, or a fresh temporary one (removed at exit).
let (path, temporary) = databasePath(example: "basic-kv")
defer { if temporary { try? FileManager.default.removeItem(atPath: path) } }

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func text(_ bytes: [UInt8]?) -> String { bytes.map { String(decoding: $0, as: UTF8.self) } ?? "(absent)" }

do {
    print("basic-kv: opening a holt database at \(path)")
    var tree = try Tree.open(path: path)

    // put and get: keys and values are bytes (at most 65,535 each; a key never holds a NUL).
    try tree.put(bytes("greeting"), bytes("hello"))
    print("put greeting = hello")
    print("get greeting -> \(text(try tree.get(bytes("greeting"))))")

    // A few keys under one prefix; put replaces a value.
    for (name, colour) in [("apple", "green"), ("banana", "yellow"), ("cherry", "red"), ("apple", "red")] {
        try tree.put(bytes("fruit/" + name), bytes(colour))
        print("put fruit/\(name) = \(colour)")
    }

    // range: every key under a prefix, in key order.
    var items = try tree.range(prefix: bytes("fruit/"))
    print("range fruit/: \(items.count) keys")
    for case .entry(let key, let value) in items { print("  \(text(key)) = \(text(value))") }

    // delete: gone for get and range; deleting an absent key is not an error.
    try tree.delete(bytes("fruit/banana"))
    try tree.delete(bytes("fruit/durian"))
    print("delete fruit/banana, fruit/durian (absent: no error)")
    print("get fruit/banana -> \(text(try tree.get(bytes("fruit/banana"))))")
    items = try tree.range(prefix: bytes("fruit/"))
    print("range fruit/: \(items.count) keys: \(items.map { text($0.position) }.joined(separator: ", "))")

    // A limited range resumes after the last position it returned.
    let first = try tree.range(prefix: bytes("fruit/"), limit: 1)
    let rest = try tree.range(prefix: bytes("fruit/"), startAfter: first.last?.position, limit: 10)
    print("range fruit/ limit 1: \(text(first.first?.position)); then after it: \(rest.map { text($0.position) }.joined(separator: ", "))")

    // Everything written is in the log: close and open again.
    try tree.close()
    tree = try Tree.open(path: path)
    print("after reopen: greeting -> \(text(try tree.get(bytes("greeting")))), fruit/cherry -> \(text(try tree.get(bytes("fruit/cherry"))))")
    try tree.close()
    print("basic-kv: ok")
} catch {
    print("basic-kv: failed: \(error)")
    exit(1)
}

/// The database directory from the first argument, or a new temporary directory.
func databasePath(example: String) -> (String, Bool) {
    if CommandLine.arguments.count > 1 { return (CommandLine.arguments[1], false) }
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(example)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))").path
    return (directory, true)
}
