// Protects file data: inline small files, data stored unpadded (no 100-byte file takes a chunk),
// the switch to 32 KiB chunks, holes that read as
// zeros, truncate down and up (chunks past the end dropped, the last one's tail cut), EFBIG,
// setuid/setgid clearing by non-root writers, and a seeded random workload against an oracle.
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct DataTests {
    @Test func smallFilesStayInline() throws {
        let f = try FSFixture()
        try f.create("f")
        try f.write("f", Array("hello".utf8))
        try f.write("f", Array(" world".utf8), at: 5)
        #expect(try f.read("f") == Array("hello world".utf8))
        #expect(try f.read("f", at: 6, size: 3) == Array("wor".utf8))
        #expect(try f.read("f", at: 100).isEmpty)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)
        f.check()
    }

    /// Small file data is never padded to a chunk: a 100-byte file adds 100 bytes to its record
    /// and no chunk; a file just past the inline limit has one chunk of its own length; a last
    /// chunk holds the bytes up to the end of the file, not a whole chunk.
    @Test func smallFileDataIsStoredUnpadded() throws {
        let f = try FSFixture()
        try f.create("empty")
        try f.create("small")
        try f.write("small", [UInt8](repeating: 0x61, count: 100))
        let empty = try #require(try f.tree.get(Array("empty".utf8)))
        let small = try #require(try f.tree.get(Array("small".utf8)))
        #expect(small.count - empty.count == 100)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)

        try f.create("past-inline")
        try f.write("past-inline", [UInt8](repeating: 0x62, count: Filesystem.inlineLimit + 1))
        try f.create("two-chunks")
        try f.write("two-chunks", [UInt8](repeating: 0x63, count: Filesystem.chunkSize + 7_232))
        var chunkSizes: [Int] = []
        for item in try f.tree.range(prefix: Array("/d/".utf8)) {
            if case .entry(_, let value) = item { chunkSizes.append(value.count) }
        }
        #expect(chunkSizes.sorted() == [Filesystem.inlineLimit + 1, 7_232, Filesystem.chunkSize].sorted())
        f.check()
    }

    /// The engine side of the same: a thousand 100-byte files take about 100 live bytes each more
    /// than a thousand empty ones (measured: 96; the value is stored as it is, no chunk, no padding).
    @Test func smallFilesTakeTheirSizeInTheEngine() throws {
        let f = try FSFixture()
        func liveBytes(afterCreating count: Int, named prefix: String, size: Int) throws -> Int {
            let before = try f.tree.spaceStatistics().liveBytes
            try f.mkdir(prefix)
            for index in 0..<count {
                try f.create("\(prefix)/\(index)")
                if size > 0 { try f.write("\(prefix)/\(index)", [UInt8](repeating: 0x64, count: size)) }
            }
            try f.tree.checkpoint()
            return try f.tree.spaceStatistics().liveBytes - before
        }
        let empty = try liveBytes(afterCreating: 1000, named: "e", size: 0)
        let small = try liveBytes(afterCreating: 1000, named: "s", size: 100)
        let perFile = Double(small - empty) / 1000
        #expect(perFile >= 64 && perFile <= 132, "a 100-byte file takes \(perFile) live bytes more than an empty one (empty: \(Double(empty) / 1000) each)")
    }

    @Test func largeFilesUseChunksAndHolesReadAsZeros() throws {
        let f = try FSFixture()
        try f.create("f")
        try f.write("f", Array("head".utf8))
        try f.write("f", [7, 7, 7], at: 200_000)
        #expect(try f.stat("f").size == 200_003)
        let data = try f.read("f")
        #expect(data.count == 200_003)
        #expect(Array(data[0..<4]) == Array("head".utf8))
        #expect(data[4..<200_000].allSatisfy { $0 == 0 })
        #expect(Array(data[200_000...]) == [7, 7, 7])
        // Chunk 0 (converted inline data) and chunk 6 only: the hole between holds no keys.
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).count == 2)
        f.check()
    }

    @Test func truncateDownAndUp() throws {
        let f = try FSFixture()
        try f.create("f")
        let pattern = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        try f.write("f", pattern)
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: 40_000), caller: .root)
        #expect(try f.read("f") == Array(pattern[0..<40_000]))
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).count == 2)
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: 100_000), caller: .root)
        let grown = try f.read("f")
        #expect(grown.count == 100_000)
        #expect(Array(grown[0..<40_000]) == Array(pattern[0..<40_000]))
        #expect(grown[40_000...].allSatisfy { $0 == 0 })
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: 0), caller: .root)
        #expect(try f.read("f").isEmpty)
        #expect(try f.tree.range(prefix: Array("/d/".utf8)).isEmpty)
        #expect(try f.tree.range(prefix: Array("/g/".utf8)).isEmpty)
        try f.write("f", Array("again".utf8))
        #expect(try f.read("f") == Array("again".utf8))
        f.check()
    }

    @Test func inlineFileGrowsIntoChunksByTruncate() throws {
        let f = try FSFixture()
        try f.create("f")
        try f.write("f", Array("abc".utf8))
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(size: 10_000), caller: .root)
        let data = try f.read("f")
        #expect(data.count == 10_000 && Array(data[0..<3]) == Array("abc".utf8) && data[3...].allSatisfy { $0 == 0 })
        f.check()
    }

    @Test func writesPastTheMaximumSizeFailWithEFBIG() throws {
        let f = try FSFixture(maxFileSize: 1 << 20)
        try f.create("f")
        expectError(.fileTooLarge) { try f.write("f", [1], at: 1 << 20) }
        try f.write("f", [1], at: (1 << 20) - 1)
        expectError(.fileTooLarge) { try f.fs.setattr(try f.node("f"), AttributeChanges(size: (1 << 20) + 1), caller: .root) }
        #expect(FSError.fileTooLarge.errno == 27)  // EFBIG
        f.check()
    }

    @Test func nonRootWriteClearsSetuidAndSetgid() throws {
        let f = try FSFixture()
        try f.create("f", 0o6755, as: f.user)
        #expect(try f.stat("f").permissions == 0o6755)
        try f.write("f", [1], as: .root)
        #expect(try f.stat("f").permissions == 0o6755)
        try f.write("f", [1], as: f.user)
        #expect(try f.stat("f").permissions == 0o0755)
        // chown clears them too, unless the same call sets the mode.
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(permissions: 0o6755), caller: .root)
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(uid: 5), caller: .root)
        #expect(try f.stat("f").permissions == 0o0755)
        // setgid without group execute is a lock marker and stays.
        _ = try f.fs.setattr(try f.node("f"), AttributeChanges(permissions: 0o2644), caller: .root)
        try f.write("f", [2], as: f.user)
        #expect(try f.stat("f").permissions == 0o2644)
    }

    @Test func setattrTimesAndCtime() throws {
        let f = try FSFixture()
        try f.create("f")
        let before = try f.stat("f")
        let after = try f.fs.setattr(try f.node("f"), AttributeChanges(atime: .set(1_000), mtime: .set(2_000)), caller: .root)
        #expect(after.atime == 1_000 && after.mtime == 2_000 && after.ctime >= before.ctime)
        let now = try f.fs.setattr(try f.node("f"), AttributeChanges(mtime: .now), caller: .root)
        #expect(now.mtime >= before.ctime && now.atime == 1_000)
        expectError(.isDirectory) { try f.fs.setattr(.root, AttributeChanges(size: 0), caller: .root) }
    }

    @Test func randomWorkloadMatchesAnOracle() throws {
        var generator = SeededGenerator(defaultSeed: 0x5EED_DA7A)
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        var oracle: [UInt8] = []
        for step in 0..<300 {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<6:
                let offset = Int.random(in: 0...(oracle.count + 70_000), using: &generator)
                let length = Int.random(in: 1...(Bool.random(using: &generator) ? 100 : 80_000), using: &generator)
                let byte = UInt8.random(in: 1...255, using: &generator)
                let data = [UInt8](repeating: byte, count: length)
                _ = try f.fs.write(node, offset: UInt64(offset), data: data, caller: .root)
                if oracle.count < offset + length { oracle += [UInt8](repeating: 0, count: offset + length - oracle.count) }
                oracle.replaceSubrange(offset..<offset + length, with: data)
            case 6..<8:
                let size = Int.random(in: 0...(oracle.count + 50_000), using: &generator)
                _ = try f.fs.setattr(node, AttributeChanges(size: UInt64(size)), caller: .root)
                if size < oracle.count { oracle.removeLast(oracle.count - size) } else { oracle += [UInt8](repeating: 0, count: size - oracle.count) }
            default:
                let offset = Int.random(in: 0...(oracle.count + 10), using: &generator)
                let size = Int.random(in: 0...100_000, using: &generator)
                let expected = offset >= oracle.count ? [] : Array(oracle[offset..<min(oracle.count, offset + size)])
                let got = try f.fs.read(node, offset: UInt64(offset), size: size)
                #expect(got == expected, "step \(step), seed \(generator.seed)")
            }
            #expect(try f.fs.getattr(node).size == UInt64(oracle.count), "step \(step), seed \(generator.seed)")
        }
        #expect(try f.fs.read(node, offset: 0, size: oracle.count + 1) == oracle, "seed \(generator.seed)")
        f.check()
    }
}
