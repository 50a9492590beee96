// Protects against serving damaged bytes: a flipped byte in a blob, the log or the manifest is
// reported as a typed error at open or at read, and never turns into a wrong value.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct TreeCorruptionTests {
    static let count = 3_000

    static func key(_ i: Int) -> [UInt8] { Array("dir\(i % 17)/sub\(i % 5)/file-\(i)".utf8) }
    static func value(_ i: Int) -> [UInt8] { Array("value of \(i) ".utf8) + [UInt8](repeating: UInt8(i & 0xFF), count: 20) }

    /// Writes the keys: checkpointed into blobs when `leaveInLog` is false, else only in the log
    /// (the child is killed before any checkpoint).
    static func build(_ path: String) throws {
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        for start in stride(from: 0, to: count, by: 100) {
            try tree.apply((start..<min(start + 100, count)).map { .put(key: key($0), value: value($0)) })
        }
        try tree.close()
    }

    /// Every file of the database, relative to it, except the LOCK.
    static func files(in path: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: path)
        var result: [String] = []
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory)
            if !isDirectory.boolValue && name != "LOCK" { result.append(name) }
        }
        return result.sorted()
    }

    static func flip(_ file: String, at offset: Int) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let byte = try handle.read(upToCount: 1) ?? Data([0])
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte.first! ^ 0x5A]))
    }

    /// Opens the damaged database and reads everything: each answer is right, or an error.
    static func neverWrong(_ path: String) -> (opened: Bool, errors: Int) {
        let tree: Tree
        do { tree = try Tree.open(path: path, options: Options(sync: .none)) } catch { return (false, 0) }
        defer { try? tree.close() }
        var errors = 0
        for i in 0..<count {
            do {
                let got = try tree.get(key(i))
                if got != nil && got != value(i) { Issue.record("key \(i) read a wrong value") }
                if got == nil && tree.recovery.tornBytesCut == 0 { Issue.record("key \(i) vanished without an error") }
            } catch { errors += 1 }
        }
        return (true, errors)
    }

    @Test("Flipped bytes in every file are caught", arguments: 0..<6)
    func flippedBytes(round: Int) throws {
        let dir = try TemporaryDirectory("corrupt")
        let db = dir.appending("db")
        try Self.build(db)
        var random = SeededGenerator(seed: UInt64(round + 1))
        for file in Self.files(in: db) {
            let copy = dir.appending("copy-\(file.replacingOccurrences(of: "/", with: "_"))")
            try FileManager.default.copyItem(atPath: db, toPath: copy)
            let target = copy + "/" + file
            let size = (try FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
            guard size > 0 else { continue }
            try Self.flip(target, at: Int.random(in: 0..<size, using: &random))
            _ = Self.neverWrong(copy)
            try FileManager.default.removeItem(atPath: copy)
        }
    }
}
