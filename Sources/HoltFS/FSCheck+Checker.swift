import HoltEngine

extension FSCheck {
    /// One pass over every key, collecting facts, then comparing them.
    struct Checker {
        let tree: any KeyReader
        var problems: [String] = []

        private var superblock: Superblock?
        /// Ino → the key its inode record is at.
        private var inodes: [UInt64: [UInt8]] = [:]
        /// Ino of chunked regular files → their size.
        private var chunked: [UInt64: UInt64] = [:]
        /// `/i/` ino → its nlink.
        private var sharedLinks: [UInt64: UInt32] = [:]
        /// Ino → how many names point at it.
        private var linkNames: [UInt64: UInt32] = [:]
        /// Directory keys with their nlink, in key order.
        private var directories: [(key: [UInt8], nlink: UInt32)] = []
        /// Directory key → how many child directories (records, and prefixes without a value).
        private var childDirectories: [[UInt8]: UInt32] = [:]
        /// Keys of directories without records: ancestors of keys that have no value themselves.
        private var implicitDirectories: Set<[UInt8]> = []
        /// Every non-reserved key with a value.
        private var pathKeys: Set<[UInt8]> = []
        /// The length of the longest of them.
        private var longestPathKey = 0
        private var chunkOwners: Set<UInt64> = []
        private var xattrOwners: Set<UInt64> = []

        init(tree: any KeyReader) {
            self.tree = tree
        }

        /// Runs the engine's own verification, visits every key in order, then compares the facts.
        mutating func run() {
            do {
                problems += try tree.verify()
                var after: [UInt8]? = nil
                while true {
                    let page = try tree.range(prefix: [], startAfter: after, limit: 1024)
                    for item in page {
                        if case .entry(let key, let value) = item { visit(key, value) }
                    }
                    guard page.count == 1024, let last = page.last else { break }
                    after = last.position
                }
            } catch {
                problems.append("engine: \(error)")
                return
            }
            compare()
        }

        /// Collects the facts of one path key: its record, link, or plain value.
        private mutating func visit(_ key: [UInt8], _ value: [UInt8]) {
            let name = Self.name(of: key)
            if ReservedKeys.isReserved(key) {
                visitReserved(key, value, name: name)
                return
            }
            pathKeys.insert(key)
            longestPathKey = max(longestPathKey, key.count)
            // Every ancestor is a directory. One already known had its own ancestors added with it,
            // so the walk up stops there (deep trees would otherwise cost the square of the depth).
            var index = key.count
            while let slash = key[..<index].lastIndex(of: UInt8(ascii: "/")),
                implicitDirectories.insert(Array(key[..<slash])).inserted
            {
                index = slash
            }
            let record: InodeRecord
            do {
                record = try InodeRecord.decode(value)
            } catch .unsupportedVersion(let version) {
                problems.append("\(name()): record of unsupported version \(version)")
                return
            } catch {
                if key.isEmpty { problems.append("(root): no root directory record") }
                return  // a plain value: a regular file
            }
            if record.kind == .hardLink {
                linkNames[record.ino, default: 0] += 1
                return
            }
            addInode(record, at: key)
            if record.kind == .directory {
                directories.append((key, record.nlink))  // in key order: the walk's
                if !key.isEmpty { childDirectories[Self.parent(of: key), default: 0] += 1 }
            } else if record.nlink != 1 {
                problems.append("\(name()): nlink \(record.nlink) on a record kept at its path (expected 1)")
            }
            if key.isEmpty, record.kind != .directory { problems.append("(root): not a directory") }
        }

        /// Collects the facts of one reserved key, or reports it when it is no known kind.
        private mutating func visitReserved(_ key: [UInt8], _ value: [UInt8], name: () -> String) {
            if key == ReservedKeys.superblock {
                superblock = Superblock.decode(value)
                if superblock == nil { problems.append("/s: not a superblock") }
            } else if key.starts(with: ReservedKeys.inodePrefix) || key.starts(with: ReservedKeys.orphanPrefix) {
                guard let ino = ReservedKeys.ino(after: 3, in: key), key.count == 19 else {
                    problems.append("\(name()): malformed inode key")
                    return
                }
                guard let record = try? InodeRecord.decode(value), record.kind != .hardLink, record.ino == ino else {
                    problems.append("\(name()): not an inode record of ino \(ino)")
                    return
                }
                addInode(record, at: key)
                if key.starts(with: ReservedKeys.inodePrefix) { sharedLinks[ino] = record.nlink }
            } else if key.starts(with: ReservedKeys.dataRoot) {
                guard let ino = ReservedKeys.ino(after: 3, in: key), key.count == 28 else {
                    problems.append("\(name()): malformed chunk key")
                    return
                }
                chunkOwners.insert(ino)
                if value.count > Filesystem.chunkSize { problems.append("\(name()): chunk of \(value.count) bytes") }
            } else if key.starts(with: ReservedKeys.xattrRoot) {
                guard let ino = ReservedKeys.ino(after: 3, in: key) else {
                    problems.append("\(name()): malformed xattr key")
                    return
                }
                xattrOwners.insert(ino)
            } else if key.starts(with: ReservedKeys.garbageRoot) {
                return  // swept at the next mount
            } else {
                problems.append("\(name()): unknown reserved key")
            }
        }

        /// Records an inode and reports an ino used twice or inline data over the limit.
        private mutating func addInode(_ record: InodeRecord, at key: [UInt8]) {
            let name = Self.name(of: key)
            if let other = inodes[record.ino] {
                problems.append("\(name()): ino \(record.ino) also used by \(Self.name(of: other)())")
            }
            inodes[record.ino] = key
            if record.isChunked { chunked[record.ino] = record.size }
            if record.kind == .regular, !record.isChunked, record.inlineData.count > Filesystem.inlineLimit {
                problems.append("\(name()): \(record.inlineData.count) inline bytes, over the inline limit")
            }
        }

        /// Compares the collected facts: link counts, directory nlinks, chunk and xattr owners, counter.
        private mutating func compare() {
            for directory in implicitDirectories where !pathKeys.contains(directory) && !directory.isEmpty {
                childDirectories[Self.parent(of: directory), default: 0] += 1
            }
            for (ino, nlink) in sharedLinks.sorted(by: { $0.key < $1.key }) where linkNames[ino, default: 0] != nlink {
                problems.append("/i/\(ino): nlink \(nlink) but \(linkNames[ino, default: 0]) names point at it")
            }
            for (ino, count) in linkNames.sorted(by: { $0.key < $1.key }) where sharedLinks[ino] == nil {
                problems.append("\(count) link names point at missing inode \(ino)")
            }
            for (key, nlink) in directories {
                let expected = 2 + childDirectories[key, default: 0]
                if nlink != expected {
                    problems.append("\(key.isEmpty ? "(root)" : FSDump.printable(key)): directory nlink \(nlink), expected \(expected)")
                }
            }
            for ino in chunkOwners.sorted() where chunked[ino] == nil {
                problems.append("/d/\(ino): chunks of an ino that is no chunked file")
            }
            for (ino, size) in chunked.sorted(by: { $0.key < $1.key }) { checkLastChunk(of: ino, size: size) }
            for ino in xattrOwners.sorted() where inodes[ino] == nil {
                problems.append("/x/\(ino): xattr parts of a missing inode")
            }
            if let bound = superblock?.longestKey, bound < longestPathKey {
                problems.append("/s: longest-key bound \(bound) below the longest path key (\(longestPathKey) bytes)")
            }
            let highest = inodes.keys.filter { $0 & Superblock.derivedInoBit == 0 && $0 > 1 }.max()
            if let highest {
                if let superblock {
                    if superblock.nextIno <= highest {
                        problems.append("/s: next ino \(superblock.nextIno) not above ino \(highest) in use")
                    }
                } else {
                    problems.append("/s: missing superblock while ino \(highest) is in use")
                }
            }
        }

        /// Reports bytes at or past the end of chunked file `ino` in the chunk its end falls
        /// inside: a growth of the file would show them instead of zeros. Chunks wholly past the
        /// end are stale and allowed: nothing reads them, a growth deletes or replaces them.
        private mutating func checkLastChunk(of ino: UInt64, size: UInt64) {
            let chunk = UInt64(Filesystem.chunkSize)
            guard size <= Filesystem.largestMaxFileSize else {
                problems.append("ino \(ino): size \(size) past the largest file (\(Filesystem.largestMaxFileSize))")
                return
            }
            guard size % chunk != 0 else { return }
            let index = size / chunk
            do {
                if let stored = try tree.get(ReservedKeys.chunk(ino, index)), UInt64(stored.count) > size % chunk {
                    problems.append("/d/\(ino)/\(index): \(stored.count) bytes, past the file's end at byte \(size % chunk)")
                }
            } catch {
                problems.append("engine: \(error)")
            }
        }

        /// How reports name `key`, rendered only when a report needs it (deep keys are long).
        static func name(of key: [UInt8]) -> () -> String {
            { key.isEmpty ? "(root)" : FSDump.printable(key) }
        }

        /// The key of the directory holding `key`.
        static func parent(of key: [UInt8]) -> [UInt8] {
            guard let slash = key.lastIndex(of: UInt8(ascii: "/")) else { return [] }
            return Array(key[..<slash])
        }
    }
}
