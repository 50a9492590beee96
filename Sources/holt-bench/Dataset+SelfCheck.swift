/// The `--self-check` of the key generator: the directory shapes the workloads rely on, the key
/// lengths, and that the same seed gives the same keys.
extension Dataset {
    /// Everything wrong with the dataset; empty when it has the documented shape.
    func selfCheckProblems() -> [String] {
        var problems: [String] = []
        func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
            if !condition { problems.append(message()) }
        }
        let slash = UInt8(ascii: "/")

        expect(keys.count == Set(keys).count, "keys are not unique")
        let lengths = keys.map(\.count)
        expect(lengths.min()! >= Self.shortestKey && lengths.max()! <= Self.longestKey,
               "key lengths \(lengths.min()!)...\(lengths.max()!) outside \(Self.shortestKey)...\(Self.longestKey)")

        // Direct files and direct subdirectories of every directory, and descendants of every prefix.
        var files: [[UInt8]: Int] = [:]
        var subdirectories: [[UInt8]: Set<[UInt8]>] = [:]
        var descendants: [[UInt8]: Int] = [:]
        let watched = Set([bigDirectory, singleDirectory])
        for key in keys {
            let cuts = key.indices.filter { key[$0] == slash }
            files[Array(key[..<cuts.last!]), default: 0] += 1
            for (position, cut) in cuts.enumerated() {
                let dir = Array(key[..<cut])
                if watched.contains(dir) { descendants[dir, default: 0] += 1 }
                if position + 1 < cuts.count {
                    subdirectories[dir, default: []].insert(Array(key[..<cuts[position + 1]]))
                }
            }
        }

        expect(thousandFileDirectories.count == shape.thousandFileDirectories,
               "\(thousandFileDirectories.count) thousand-file directories, expected \(shape.thousandFileDirectories)")
        for dir in thousandFileDirectories {
            expect(files[dir] == Shape.filesPerThousandDirectory && subdirectories[dir] == nil,
                   "\(name(dir)) holds \(files[dir] ?? 0) files and \(subdirectories[dir]?.count ?? 0) subdirectories")
        }
        expect(mixedDirectories.count == shape.mixedDirectories,
               "\(mixedDirectories.count) mixed directories, expected \(shape.mixedDirectories)")
        for dir in mixedDirectories {
            let subs = subdirectories[dir] ?? []
            expect(files[dir] == Shape.mixedFiles && subs.count == Shape.mixedSubdirectories,
                   "mixed \(name(dir)) holds \(files[dir] ?? 0) files and \(subs.count) subdirectories")
            for sub in subs {
                expect(files[sub] == Shape.filesPerMixedSubdirectory && subdirectories[sub] == nil,
                       "\(name(sub)) holds \(files[sub] ?? 0) files")
            }
        }
        for dir in listedDirectories {
            let children = (files[dir] ?? 0) + (subdirectories[dir]?.count ?? 0)
            expect(children == 1_000, "\(name(dir)) has \(children) direct children, expected 1000")
        }
        expect(descendants[bigDirectory] == shape.bigDescendants,
               "\(name(bigDirectory)) has \(descendants[bigDirectory] ?? 0) descendants, expected \(shape.bigDescendants)")
        expect(subdirectories[bigDirectory]?.count == shape.thousandFileDirectories,
               "\(name(bigDirectory)) has \(subdirectories[bigDirectory]?.count ?? 0) subdirectories")
        expect(descendants[singleDirectory] == 1,
               "\(name(singleDirectory)) has \(descendants[singleDirectory] ?? 0) descendants, expected 1")

        let fixed = Set(thousandFileDirectories + mixedDirectories).union(mixedDirectories.flatMap { subdirectories[$0] ?? [] })
        var others = 0
        for (dir, count) in files where !fixed.contains(dir) && !dir.starts(with: singleDirectory + [slash]) {
            others += count
            expect((Shape.smallestOtherDirectory...Shape.largestOtherDirectory).contains(count),
                   "\(name(dir)) holds \(count) files, outside 10...10000")
        }
        expect(others == keys.count - shape.fixedKeys, "\(others) keys in other directories, expected \(keys.count - shape.fixedKeys)")
        expect(files.keys.allSatisfy { !$0.starts(with: durableDirectory) }, "the durable-put directory is not empty")

        let all = Set(keys)
        let misses = missingKeys(count: min(keys.count / 10, 10_000), seed: seed &+ 3)
        expect(misses.allSatisfy { !all.contains($0) && files[Array($0[..<$0.lastIndex(of: slash)!])] != nil },
               "a missing key is present, or not in an existing directory")
        expect(Dataset.generate(keyCount: keys.count, seed: seed).keys == keys, "the same seed gave other keys")
        return problems
    }

    /// A directory as text, for messages.
    private func name(_ dir: [UInt8]) -> String {
        String(decoding: dir, as: UTF8.self)
    }
}
