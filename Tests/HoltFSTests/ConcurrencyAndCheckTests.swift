// Protects optimistic concurrency (threads racing on one directory and one file lose no update)
// and FSCheck (clean after a workload, and it notices a wrong link count, a dangling link and
// stray chunks).
import Foundation
import HoltEngine
import Synchronization
import Testing

@testable import HoltFS

@Suite struct ConcurrencyAndCheckTests {
    @Test func threadsRacingInOneDirectoryLoseNothing() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        try f.create("counter")
        let directory = try f.node("d")
        let counter = try f.node("counter")
        let fs = f.fs
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for index in 0..<100 {
                do {
                    let entry = try fs.make(directory, Array("w\(worker)-\(index)".utf8), kind: index % 10 == 0 ? .directory : .regular, permissions: 0o644, caller: .root)
                    if index % 3 == 0, index % 10 != 0 { try fs.unlink(directory, Array("w\(worker)-\(index)".utf8)) }
                    _ = entry
                    // Each worker writes its own byte range of one shared file.
                    _ = try fs.write(counter, offset: UInt64(worker * 100 + index), data: [UInt8(worker + 1)], caller: .root)
                } catch {
                    failures.withLock { $0.append("\(worker)/\(index): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let names = try f.list("d")
        var expected = 0
        for index in 0..<100 where index % 3 != 0 || index % 10 == 0 { expected += 1 }
        #expect(names.count == 4 * expected)
        let data = try f.read("counter")
        #expect(data.count == 400)
        for worker in 0..<4 { #expect(data[(worker * 100)..<(worker * 100 + 100)].allSatisfy { $0 == UInt8(worker + 1) }) }
        f.check()
    }

    @Test func aNodeNeverLooksMissingWhileItIsRenamed() throws {
        let f = try FSFixture()
        try f.mkdir("one")
        try f.mkdir("two")
        try f.create("one/f")
        let node = try f.node("one/f")
        let handle = try f.fs.open(node)
        let fs = f.fs
        let one = try f.node("one"), two = try f.node("two")
        let misses = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            if worker == 0 {
                for index in 0..<300 {
                    let (from, to) = index % 2 == 0 ? (one, two) : (two, one)
                    try? fs.rename(from, Array("f".utf8), to: to, Array("f".utf8), flags: [])
                }
                done.store(true, ordering: .sequentiallyConsistent)
            } else {
                while !done.load(ordering: .sequentiallyConsistent) {
                    if (try? fs.getattr(node)) == nil { misses.wrappingAdd(1, ordering: .relaxed) }
                }
            }
        }
        #expect(misses.load(ordering: .relaxed) == 0)
        try fs.release(handle)
        f.check()
    }

    @Test func checkFindsDamage() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        try f.create("d/a")
        _ = try f.fs.link(try f.node("d/a"), to: try f.node("d"), as: Array("b".utf8))
        f.check()
        var record = try InodeRecord.decode(try #require(try f.tree.get(Array("d".utf8))))
        record.nlink = 7
        try f.tree.put(Array("d".utf8), record.encoded())
        try f.tree.put(Array("d/dangling".utf8), InodeRecord.link(to: 999_999).encoded())
        try f.tree.put(ReservedKeys.chunk(123_456, 0), [1])
        let problems = FSCheck.check(tree: f.tree)
        #expect(problems.contains { $0.contains("directory nlink 7") })
        #expect(problems.contains { $0.contains("missing inode 999999") })
        #expect(problems.contains { $0.contains("/d/123456") })
    }

    @Test func dumpDescribesEachKind() throws {
        let f = try FSFixture()
        try f.create("a")
        _ = try f.fs.link(try f.node("a"), to: .root, as: Array("b".utf8))
        let link = try #require(try f.tree.get(Array("a".utf8)))
        #expect(FSDump.describe(key: Array("a".utf8), value: link).contains("link -> ino"))
        let root = try #require(try f.tree.get([]))
        #expect(FSDump.describe(key: [], value: root).contains("directory ino=1"))
        #expect(FSDump.describe(key: Array("x".utf8), value: [0, 65]).contains("plain value, 2 bytes: \\x00A"))
        let superblock = try #require(try f.tree.get(ReservedKeys.superblock))
        #expect(FSDump.describe(key: ReservedKeys.superblock, value: superblock).contains("superblock next-ino="))
    }
}
