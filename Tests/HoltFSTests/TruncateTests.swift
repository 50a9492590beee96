// Protects truncates of big chunked files: a truncate to a smaller non-zero size commits no batch
// bigger than the bound (the size first, then the chunks past the end in bounded batches), and
// chunks left past the end (stale: by a crash between those batches) never show, whether the file
// then grows by a truncate up, a write past the end with a gap, or a write into such a chunk;
// FSCheck accepts them (not bytes past the end in the last chunk) and an unlink removes them.
// Also: a plain value (no record yet) truncated or written keeps the right bytes.
import Foundation
import HoltEngine
import Synchronization
import Testing

@testable import HoltFS

@Suite struct TruncateTests {
    static let chunk = Filesystem.chunkSize

    /// `count` bytes of a pattern that differs from chunk to chunk.
    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 % 251 + 1) } }

    /// Every byte of `path` (the fixture's `read` stops at 16 MiB).
    static func readAll(_ f: FSFixture, _ path: String) throws -> [UInt8] {
        try f.read(path, size: Int(try f.stat(path).size) + 1)
    }

    /// Expects `got` to equal `expected`, naming the first difference (not the arrays: megabytes).
    static func expectBytes(
        _ got: [UInt8], _ expected: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        if got == expected { return }
        let common = min(got.count, expected.count)
        let index = (0..<common).first { got[$0] != expected[$0] } ?? common
        Issue.record(
            "\(what): \(got.count) bytes, expected \(expected.count); first difference at byte \(index)",
            sourceLocation: sourceLocation)
    }

    /// The chunk keys of `path`.
    static func chunkKeys(_ f: FSFixture, _ path: String) throws -> [[UInt8]] {
        let ino = try f.stat(path).ino
        return try f.tree.range(prefix: ReservedKeys.dataPrefix(ino) + [UInt8(ascii: "/")]).map(\.position)
    }

    /// Makes `path` a file of `chunks` chunks: the first `full` whole (the pattern), then one byte
    /// (its index, mod 256) at the start of each chunk after them.
    static func makeFile(_ f: FSFixture, _ path: String, chunks: Int, full: Int) throws {
        try f.create(path)
        let node = try f.node(path)
        _ = try f.fs.write(node, offset: 0, data: pattern(full * chunk), caller: .root)
        for index in full..<chunks {
            _ = try f.fs.write(node, offset: UInt64(index * chunk), data: [UInt8(truncatingIfNeeded: index)], caller: .root)
        }
    }

    @Test func truncatingAHugeFileCommitsOnlyBoundedBatches() throws {
        let f = try FSFixture()
        try Self.makeFile(f, "f", chunks: 5_200, full: 3)
        #expect(try Self.chunkKeys(f, "f").count == 5_200)
        let size = 2 * Self.chunk + 1_000
        f.fs.largestCommittedBatch.store(0, ordering: .relaxed)
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: UInt64(size)), caller: .root)
        let largest = f.fs.largestCommittedBatch.load(ordering: .relaxed)
        // The size batch: the record (guard, put), the cut chunk (guard, put), the deletes.
        #expect(largest <= Filesystem.maxDeletesPerBatch + 4, "a batch of \(largest) ops")
        #expect(Filesystem.maxDeletesPerBatch <= 512)
        #expect(try f.stat("f").size == UInt64(size))
        Self.expectBytes(try Self.readAll(f, "f"), Self.pattern(size), "f")
        // The requesting truncate deleted every chunk past the end.
        #expect(try Self.chunkKeys(f, "f").count == 3)
        f.check()
    }

    @Test func staleChunksLeftByACrashNeverShow() throws {
        let f = try FSFixture()
        try f.create("f")
        let data = Self.pattern(10 * Self.chunk)
        try f.write("f", data)
        let ino = try f.stat("f").ino
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: UInt64(Self.chunk + 100)), caller: .root)
        // What a crash after the size batch leaves: chunks 2..<10 past the end, still full.
        for index in 2..<10 {
            try f.tree.put(ReservedKeys.chunk(ino, UInt64(index)), [UInt8](repeating: 0xEE, count: Self.chunk))
        }
        f.check()
        Self.expectBytes(try Self.readAll(f, "f"), Array(data[..<(Self.chunk + 100)]), "f")

        // Truncate up over chunks 2 and 3: zeros.
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: UInt64(4 * Self.chunk)), caller: .root)
        var expected = Array(data[..<(Self.chunk + 100)]) + [UInt8](repeating: 0, count: 3 * Self.chunk - 100)
        Self.expectBytes(try Self.readAll(f, "f"), expected, "f")

        // A write past the end with a gap (chunks 4 and 5) into the middle of stale chunk 6.
        try f.write("f", [1, 2, 3], at: UInt64(6 * Self.chunk + 5))
        expected += [UInt8](repeating: 0, count: 2 * Self.chunk + 5) + [1, 2, 3]
        Self.expectBytes(try Self.readAll(f, "f"), expected, "f")

        // A write from the old end into stale chunk 7.
        try f.write("f", [4, 5], at: UInt64(7 * Self.chunk + 1))
        expected += [UInt8](repeating: 0, count: Self.chunk - 7) + [4, 5]
        Self.expectBytes(try Self.readAll(f, "f"), expected, "f")

        // Truncate up over the rest (chunks 8 and 9): zeros again.
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: UInt64(11 * Self.chunk)), caller: .root)
        expected += [UInt8](repeating: 0, count: 11 * Self.chunk - expected.count)
        Self.expectBytes(try Self.readAll(f, "f"), expected, "f")
        f.check()

        try f.unlink("f")
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)
        #expect(try f.tree.range(prefix: Array("/g/".utf8)).isEmpty)
        f.check()
    }

    @Test func aCrashAfterTheSizeBatchLeavesAFileThatReadsAndGrowsRight() throws {
        let f = try FSFixture()
        // Two files of 700 chunks (3 whole ones first): one grows back by a write, one by a truncate.
        for name in ["w", "t"] { try Self.makeFile(f, name, chunks: 700, full: 3) }
        let size = Self.chunk + 7
        for name in ["w", "t"] {
            // The size batch alone, as if the daemon died right after it.
            let (attributes, stale) = try f.fs.commitAttributes(try f.node(name), AttributeChanges(size: UInt64(size)), caller: .root)
            #expect(attributes.size == UInt64(size))
            #expect(stale != nil)
        }
        // Chunks 2..<258 went with the size batch; 258..<700 are stale.
        #expect(try Self.chunkKeys(f, "w").count == 2 + 700 - 2 - Filesystem.maxDeletesPerBatch)
        try f.reopen()
        f.check()
        for name in ["w", "t"] {
            #expect(try f.stat(name).size == UInt64(size))
            Self.expectBytes(try Self.readAll(f, name), Self.pattern(size), "\(name): data before the cut")
        }

        // A write far past the end: the gap holds more stale chunks than one batch deletes.
        let far = 690 * Self.chunk + 3
        try f.write("w", [42, 43], at: UInt64(far))
        var expected = Self.pattern(size) + [UInt8](repeating: 0, count: far - size) + [42, 43]
        Self.expectBytes(try Self.readAll(f, "w"), expected, "w")
        // Stale chunks 691..<700 are left past the new end; the rest of the gap is gone.
        #expect(try Self.chunkKeys(f, "w").count == 2 + 1 + 9)

        // A truncate up over all of them.
        _ = try f.fs.setattr(try f.node("t"), AttributeChanges(size: UInt64(700 * Self.chunk)), caller: .root)
        Self.expectBytes(try Self.readAll(f, "t"), Self.pattern(size) + [UInt8](repeating: 0, count: 700 * Self.chunk - size), "t")
        #expect(try Self.chunkKeys(f, "t").count == 2)
        f.check()

        // A later truncate down finishes what the crash left.
        _ = try f.fs.setattr(try f.node("w"), AttributeChanges(size: UInt64(size)), caller: .root)
        expected = Self.pattern(size)
        Self.expectBytes(try Self.readAll(f, "w"), expected, "w")
        #expect(try Self.chunkKeys(f, "w").count == 2)
        f.check()
    }

    @Test func aPlainValueTruncatedDownAndUpShowsZeros() throws {
        // A value written through the engine alone gets its record (and chunks) in the truncate's batch.
        let f = try FSFixture(library: [.put(key: Array("p".utf8), value: [UInt8](repeating: 7, count: 40_000))])
        _ = try f.fs.setattr(try f.node("p"), AttributeChanges(size: 100), caller: .root)
        f.check()
        _ = try f.fs.setattr(try f.node("p"), AttributeChanges(size: 40_000), caller: .root)
        Self.expectBytes(try Self.readAll(f, "p"), [UInt8](repeating: 7, count: 100) + [UInt8](repeating: 0, count: 39_900), "p")
        f.check()
    }

    @Test func aWriteIntoAPlainValueKeepsItsOtherBytes() throws {
        let f = try FSFixture(library: [.put(key: Array("p".utf8), value: [UInt8](repeating: 7, count: 40_000))])
        try f.write("p", [1], at: 10)
        var expected = [UInt8](repeating: 7, count: 40_000)
        expected[10] = 1
        Self.expectBytes(try Self.readAll(f, "p"), expected, "p")
        f.check()
    }

    @Test func checkAcceptsStaleChunksButNotBytesPastTheEnd() throws {
        let f = try FSFixture()
        try f.create("f")
        try f.write("f", Self.pattern(Self.chunk + 100))
        let ino = try f.stat("f").ino
        try f.tree.put(ReservedKeys.chunk(ino, 5), [1, 2, 3])
        f.check()
        // Chunk 1 holds 100 bytes of the file; 101 would show a byte past the end after a growth.
        try f.tree.put(ReservedKeys.chunk(ino, 1), [UInt8](repeating: 7, count: 101))
        let problems = FSCheck.check(tree: f.tree)
        #expect(problems.count == 1 && problems.allSatisfy { $0.contains("past the file's end") }, "\(problems)")
    }

    @Test func randomTruncatesWithCrashesMatchAnOracle() throws {
        var generator = SeededGenerator(defaultSeed: 0x7A11_C0DE)
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        let chunk = Self.chunk
        // Up to 800 chunks: truncates down leave more stale chunks than one batch deletes.
        let limit = 800 * chunk
        // The file's bytes, sparse: chunk index → its bytes (absent: zeros).
        var oracle: [Int: [UInt8]] = [:]
        var size = 0
        func expected(_ offset: Int, _ count: Int) -> [UInt8] {
            let end = min(size, offset + count)
            guard offset < end else { return [] }
            var out = [UInt8](repeating: 0, count: end - offset)
            for index in (offset / chunk)...((end - 1) / chunk) {
                guard let bytes = oracle[index] else { continue }
                let start = index * chunk
                let from = max(offset, start), to = min(end, start + bytes.count)
                if from < to { out.replaceSubrange((from - offset)..<(to - offset), with: bytes[(from - start)..<(to - start)]) }
            }
            return out
        }
        func resize(_ newSize: Int) {
            for index in oracle.keys where index * chunk >= newSize { oracle[index] = nil }
            if newSize % chunk != 0, var last = oracle[newSize / chunk], last.count > newSize % chunk {
                last.removeLast(last.count - newSize % chunk)
                oracle[newSize / chunk] = last
            }
            size = newSize
        }
        for step in 0..<300 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<4:
                // A short write, often far past the end.
                let offset = Int.random(in: 0..<limit - 2 * chunk, using: &generator)
                let data = [UInt8](repeating: UInt8.random(in: 1...255, using: &generator), count: Int.random(in: 1...(2 * chunk), using: &generator))
                _ = try f.fs.write(node, offset: UInt64(offset), data: data, caller: .root)
                for index in (offset / chunk)...((offset + data.count - 1) / chunk) {
                    let start = index * chunk
                    let from = max(offset, start), to = min(offset + data.count, start + chunk)
                    var bytes = oracle[index] ?? []
                    if bytes.count < to - start { bytes += [UInt8](repeating: 0, count: to - start - bytes.count) }
                    bytes.replaceSubrange((from - start)..<(to - start), with: data[(from - offset)..<(to - offset)])
                    oracle[index] = bytes
                }
                size = max(size, offset + data.count)
            case 4..<7:
                // A truncate; half of those down stop after the size batch, as a crash would.
                let newSize = Int.random(in: 0...limit, using: &generator)
                if newSize < size, Bool.random(using: &generator) {
                    _ = try f.fs.commitAttributes(node, AttributeChanges(size: UInt64(newSize)), caller: .root)
                } else {
                    _ = try f.fs.setattr(node, AttributeChanges(size: UInt64(newSize)), caller: .root)
                }
                resize(newSize)
            default:
                let offset = Int.random(in: 0...(size + 10), using: &generator)
                let count = Int.random(in: 0...(3 * chunk), using: &generator)
                Self.expectBytes(try f.fs.read(node, offset: UInt64(offset), size: count), expected(offset, count), "step \(step), seed \(generator.seed)")
            }
            #expect(try f.fs.getattr(node).size == UInt64(size), "step \(step), seed \(generator.seed)")
            if step % 50 == 0 { f.check() }
        }
        // Every byte, one chunk at a time.
        for index in 0..<Self.chunkCount(size) {
            let got = try f.fs.read(node, offset: UInt64(index * chunk), size: chunk)
            Self.expectBytes(got, expected(index * chunk, chunk), "chunk \(index), seed \(generator.seed)")
        }
        f.check()
    }

    /// How many chunks `size` bytes span.
    static func chunkCount(_ size: Int) -> Int { (size + chunk - 1) / chunk }

    @Test func writesRacingALongTruncateNeverShowStaleBytes() throws {
        let f = try FSFixture()
        // 2,000 chunks, each starting with 0xAA: any 0xAA read past the cut is a stale byte shown.
        try f.create("f")
        let node = try f.node("f")
        for index in 0..<2_000 {
            _ = try f.fs.write(node, offset: UInt64(index * Self.chunk), data: [0xAA], caller: .root)
        }
        let cut = 3 * Self.chunk + 5
        let fs = f.fs
        let truncated = Atomic<Bool>(false)
        let failures = Locked<[String]>([])
        // Writes (0x11) and truncates up after the truncate returned must all show.
        let laterWrites = Locked<[(offset: Int, count: Int)]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            do {
                if worker == 0 {
                    _ = try fs.setattr(node, AttributeChanges(size: UInt64(cut)), caller: .root)
                    truncated.store(true, ordering: .sequentiallyConsistent)
                } else {
                    var generator = SeededGenerator(defaultSeed: 0xACE)
                    for round in 0..<300 {
                        let after = truncated.load(ordering: .sequentiallyConsistent)
                        let offset = cut + Int.random(in: 0..<(2_100 * Self.chunk), using: &generator)
                        let count = Int.random(in: 1...100, using: &generator)
                        _ = try fs.write(node, offset: UInt64(offset), data: [UInt8](repeating: 0x11, count: count), caller: .root)
                        if after { laterWrites.withLock { $0.append((offset, count)) } }
                        if round % 50 == 49 {
                            let size = try fs.getattr(node).size
                            _ = try fs.setattr(node, AttributeChanges(size: size + UInt64(Self.chunk) * 7), caller: .root)
                        }
                    }
                }
            } catch {
                failures.withLock { $0.append("worker \(worker): \(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let size = Int(try f.fs.getattr(node).size)
        #expect(try f.fs.read(node, offset: 0, size: cut) == (0..<cut).map { $0 % Self.chunk == 0 ? 0xAA : 0 })
        // The old 0xAA bytes lay at chunk starts only: none may show past the cut.
        var shown: [Int] = []
        for index in Self.chunkCount(cut)..<Self.chunkCount(size) where try f.fs.read(node, offset: UInt64(index * Self.chunk), size: 1) == [0xAA] {
            shown.append(index)
        }
        #expect(shown.isEmpty, "stale bytes show at the start of chunks \(shown)")
        for write in laterWrites.withLock({ $0 }) {
            let got = try f.fs.read(node, offset: UInt64(write.offset), size: write.count)
            #expect(got == [UInt8](repeating: 0x11, count: write.count), "a write after the truncate at \(write.offset)")
        }
        f.check()
    }
}
