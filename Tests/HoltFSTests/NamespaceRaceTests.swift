// Protects the namespace lock's invariant (docs/DESIGN.md, "The mount under concurrency"): a
// request on a node acts on that node whatever renames of its ancestors run at the same time.
// Each test races threads on one Filesystem the way the kernel's requests race on a mount; each
// failed on the code before the lock (writes landed in the other file, lookups said ENOENT,
// a listing resumed at the directory's old path, an orphan outlived its last close).
import Foundation
import HoltEngine
import Synchronization
import Testing

@testable import HoltFS

@Suite(.serialized) struct NamespaceRaceTests {
    /// Runs `work` on one thread and `race` on another until `work` returns.
    private func race(_ work: @Sendable () -> Void, against race: @Sendable (_ done: () -> Bool) -> Void) {
        let finished = Atomic<Bool>(false)
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            if worker == 0 {
                work()
                finished.store(true, ordering: .sequentiallyConsistent)
            } else {
                race { finished.load(ordering: .sequentiallyConsistent) }
            }
        }
    }

    @Test func writesFollowTheirFileWhileDirectoriesAreExchanged() throws {
        let f = try FSFixture()
        try f.mkdir("A")
        try f.mkdir("B")
        try f.create("A/log")
        try f.create("B/log")
        let fs = f.fs
        let a = try f.node("A/log"), b = try f.node("B/log")
        let name = Array("A".utf8), other = Array("B".utf8)
        let failures = Locked<[String]>([])
        let writes = 3000
        race({
            for index in 0..<writes {
                do {
                    _ = try fs.write(a, offset: UInt64(index), data: [UInt8(ascii: "A")], caller: .root)
                    _ = try fs.write(b, offset: UInt64(index), data: [UInt8(ascii: "B")], caller: .root)
                } catch {
                    failures.withLock { $0.append("write \(index): \(error)") }
                }
            }
        }, against: { done in
            while !done() {
                do { try fs.rename(.root, name, to: .root, other, flags: .exchange) } catch {
                    failures.withLock { $0.append("exchange: \(error)") }
                }
            }
        })
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let aData = try fs.read(a, offset: 0, size: 2 * writes)
        let bData = try fs.read(b, offset: 0, size: 2 * writes)
        let foreign = aData.filter { $0 != UInt8(ascii: "A") }.count + bData.filter { $0 != UInt8(ascii: "B") }.count
        #expect(aData.count == writes && bData.count == writes)
        #expect(foreign == 0, "\(foreign) of \(2 * writes) bytes landed in the other file")
        f.check()
    }

    @Test func lookupsInADirectoryNeverMissWhileItMovesBackAndForth() throws {
        let f = try FSFixture()
        try f.mkdir("d")
        for index in 0..<200 { try f.create("d/f\(index)") }
        let fs = f.fs
        let directory = try f.node("d")
        let misses = Locked<[String]>([])
        race({
            for round in 0..<15 {
                for index in 0..<200 {
                    do {
                        let entry = try fs.lookup(directory, Array("f\(index)".utf8))
                        fs.forget(entry.node, count: 1)
                    } catch {
                        misses.withLock { $0.append("round \(round) f\(index): \(error)") }
                    }
                }
            }
        }, against: { done in
            while !done() {
                try? fs.rename(.root, Array("d".utf8), to: .root, Array("e".utf8), flags: [])
                try? fs.rename(.root, Array("e".utf8), to: .root, Array("d".utf8), flags: [])
            }
        })
        #expect(misses.withLock { $0 }.isEmpty, "\(misses.withLock { $0.prefix(5) })")
        f.check()
    }

    @Test func aListingResumesInTheSameDirectoryAfterItsParentMoved() throws {
        let f = try FSFixture()
        try f.mkdir("p")
        try f.mkdir("p/q")
        for index in 0..<300 { try f.create("p/q/" + String(format: "f%03d", index)) }
        let fs = f.fs
        let q = try f.node("p/q")
        let handle = try fs.opendir(q)
        defer { fs.releasedir(handle) }
        var names: [String] = []
        var offset: UInt64 = 0
        var replies = 0
        while true {
            var last: UInt64? = nil
            var taken = 0
            // A reply holds 16 entries, as a small kernel buffer would.
            try fs.readdir(handle, offset: offset, expected: 16) { entry in
                guard taken < 16 else { return false }
                taken += 1
                if entry.offset > 2 { names.append(String(decoding: entry.name, as: UTF8.self)) }
                last = entry.offset
                return true
            }
            guard let last else { break }
            offset = last
            replies += 1
            // Between two replies the parent moves: the next reply must continue in the same directory.
            let (from, to) = replies % 2 == 1 ? ("p", "r") : ("r", "p")
            try fs.rename(.root, Array(from.utf8), to: .root, Array(to.utf8), flags: [])
        }
        #expect(replies > 2)
        #expect(names == (0..<300).map { String(format: "f%03d", $0) })
    }

    @Test func theLastCloseRacingAnUnlinkLeavesNoOrphan() throws {
        let f = try FSFixture()
        let fs = f.fs
        for round in 0..<200 {
            let name = "f\(round)"
            let entry = try f.create(name)
            _ = try fs.write(entry.node, offset: 0, data: Array(repeating: 7, count: 40_000), caller: .root)
            let handle = try fs.open(entry.node)
            race({ try? fs.release(handle) }, against: { _ in try? fs.unlink(.root, Array(name.utf8)) })
        }
        let orphans = try f.tree.range(RangeQuery(prefix: ReservedKeys.orphanPrefix))
        #expect(orphans.isEmpty, "\(orphans.count) orphan records left after every file was closed")
        let chunks = try f.tree.range(RangeQuery(prefix: ReservedKeys.dataRoot))
        #expect(chunks.isEmpty, "\(chunks.count) data chunks left after every file was removed")
        f.check()
    }

    @Test func anOpenRacingAnUnlinkKeepsItsData() throws {
        let f = try FSFixture()
        let fs = f.fs
        let content = [UInt8](repeating: 9, count: 70_000)
        for round in 0..<200 {
            let name = "f\(round)"
            let entry = try f.create(name)
            _ = try fs.write(entry.node, offset: 0, data: content, caller: .root)
            let opened = Locked<UInt64?>(nil)
            race({ opened.withLock { $0 = try? fs.open(entry.node) } }, against: { _ in try? fs.unlink(.root, Array(name.utf8)) })
            if let handle = opened.withLock({ $0 }) {
                // Opened: the data must stay readable until the close, whenever the unlink ran.
                #expect(try fs.read(entry.node, offset: 0, size: content.count) == content)
                try fs.release(handle)
            }
        }
        #expect(try f.tree.range(RangeQuery(prefix: ReservedKeys.orphanPrefix)).isEmpty)
        f.check()
    }

    /// Runs `request` on another thread while an exclusive operation (`exclusive`) sits between
    /// its reads and its batch (the `beforeCommit` hook), giving `request` 20 ms to get in there.
    private func interleave(_ fs: Filesystem, _ request: @escaping @Sendable () -> Void, into exclusive: () -> Void) {
        let group = DispatchGroup()
        let triggered = Atomic<Bool>(false), running = Atomic<Bool>(false)
        fs.beforeCommit.withLock {
            $0 = { access in
                guard access == .exclusive, !triggered.exchange(true, ordering: .sequentiallyConsistent) else { return }
                DispatchQueue.global().async(group: group) {
                    running.store(true, ordering: .sequentiallyConsistent)
                    request()
                }
                // Until the request runs, then 20 ms for it to get as far as it can.
                while !running.load(ordering: .sequentiallyConsistent) { sched_yield() }
                usleep(20_000)
            }
        }
        exclusive()
        fs.beforeCommit.withLock { $0 = nil }
        group.wait()
        let reached = triggered.load(ordering: .sequentiallyConsistent)
        #expect(reached, "the exclusive operation never reached beforeCommit")
    }

    @Test func anOpenInsideAnUnlinksWindowKeepsItsData() throws {
        let f = try FSFixture()
        let fs = f.fs
        let content = [UInt8](repeating: 9, count: 70_000)
        let entry = try f.create("f")
        _ = try fs.write(entry.node, offset: 0, data: content, caller: .root)
        let opened = Locked<UInt64?>(nil)
        interleave(fs, { opened.withLock { $0 = try? fs.open(entry.node) } }, into: { try? fs.unlink(.root, Array("f".utf8)) })
        // Either the open came first (the unlink then kept the data for it) or it found no file.
        if let handle = opened.withLock({ $0 }) {
            #expect(try fs.read(entry.node, offset: 0, size: content.count) == content)
            try fs.release(handle)
        }
        #expect(try f.tree.range(RangeQuery(prefix: ReservedKeys.orphanPrefix)).isEmpty)
        #expect(try f.tree.range(RangeQuery(prefix: ReservedKeys.dataRoot)).isEmpty)
        f.check()
    }

    @Test func aLastCloseInsideAnUnlinksWindowLeavesNoOrphan() throws {
        let f = try FSFixture()
        let fs = f.fs
        let entry = try f.create("f")
        _ = try fs.write(entry.node, offset: 0, data: [UInt8](repeating: 7, count: 70_000), caller: .root)
        let handle = try fs.open(entry.node)
        interleave(fs, { try? fs.release(handle) }, into: { try? fs.unlink(.root, Array("f".utf8)) })
        let orphans = try f.tree.range(RangeQuery(prefix: ReservedKeys.orphanPrefix))
        #expect(orphans.isEmpty, "an orphan record outlived the file's last close")
        #expect(try f.tree.range(RangeQuery(prefix: ReservedKeys.dataRoot)).isEmpty)
        f.check()
    }
}
