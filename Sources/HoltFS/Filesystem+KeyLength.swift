import HoltEngine

/// Keeping every path key within the engine's limit (`Tree.maxKeyLength`) across directory renames.
///
/// A directory rename is one `renamePrefix`, a relink that never looks at the keys below, so a
/// rename to a longer path makes every key below longer by the difference and could push the
/// deepest past the limit (where it can be neither listed nor removed). The superblock keeps a
/// bound on the longest path key (`Superblock.longestKey`), which only rises while the
/// filesystem is open:
/// - a batch that writes a path key longer than the bound (create, link, a rename's new name)
///   raises it to that key's length, guarded, in the same batch;
/// - a rename that makes the keys of a subtree `delta` bytes longer measures the subtree's
///   longest key when it has at most `keyLengthWalkLimit` keys (most directories: the bound then
///   rises only to a length some key really has), else trusts the bound when `bound + delta` fits
///   (no walk: its cost does not depend on the subtree) and raises it to that, else (the bound is
///   near the limit, rare) walks the whole subtree. A measured rename fails with `.nameTooLong`
///   when `longest + delta` does not fit and otherwise guards its measurement in the batch
///   (`.noDescendantLongerThan`: a longer key added meanwhile makes it try again);
/// - at open, the bound is computed from the keys when the superblock has none (a database from
///   before it existed) or when it has passed half the limit (trusted renames of big subtrees
///   raise it by more than any key may need): one walk over the path keys.
///
/// Since the bound never falls while the filesystem is open, a batch whose keys fit under the
/// bound it read needs no guard on the superblock.
extension Filesystem {
    /// A rename walks at most this many keys below a directory to measure its longest key.
    static let keyLengthWalkLimit = 256

    /// The superblock's stored bytes (nil when missing) and its value.
    /// - Throws: `.corruptRecord` when `/s` is not a superblock, `.engine`.
    private func readSuperblock() throws(FSError) -> (bytes: [UInt8]?, superblock: Superblock) {
        guard let bytes = try get(ReservedKeys.superblock) else { return (nil, Superblock(nextIno: Superblock.firstIno)) }
        guard let superblock = Superblock.decode(bytes) else {
            throw .corruptRecord(key: ReservedKeys.superblock, reason: "not a superblock")
        }
        return (bytes, superblock)
    }

    /// Adds to `batch` the raise of the longest-key bound to `length` when it is below it (an
    /// unknown bound counts as the limit: it is computed at the next open).
    private func raiseKeyLengthBound(
        to length: Int, from stored: (bytes: [UInt8]?, superblock: Superblock), into batch: inout Batch
    ) {
        guard length > stored.superblock.longestKey ?? Tree.maxKeyLength else { return }
        var raised = stored.superblock
        raised.longestKey = length
        batch.guardValue(ReservedKeys.superblock, stored.bytes)
        batch.put(ReservedKeys.superblock, raised.encoded())
    }

    /// Adds to `batch` what the bound needs for a batch that writes the new path key `key`.
    func noteKeyLength(_ key: [UInt8], into batch: inout Batch) throws(FSError) {
        try raiseKeyLengthBound(to: key.count, from: readSuperblock(), into: &batch)
    }

    /// Checks the rename of `source` from `from` to `to` (and, for an exchange, of `target` from
    /// `to` to `from`) against the key limit, and adds to `batch` the guards and the raise of the
    /// bound it needs. Call it before the batch moves anything (its guards look at `from` and
    /// `to` as they were).
    /// - Throws: `.nameTooLong` when a key would pass the limit, `.corruptRecord`, `.engine`.
    func checkKeyLengths(
        renaming source: Resolved, from: [UInt8], to: [UInt8], exchangingWith target: Resolved?,
        into batch: inout Batch
    ) throws(FSError) {
        guard to.count <= Tree.maxKeyLength else { throw .nameTooLong }
        let stored = try readSuperblock()
        let bound = stored.superblock.longestKey ?? Tree.maxKeyLength
        var longest = to.count
        if source.isDirectory, to.count > from.count {
            longest = max(longest, try lengthened(from, by: to.count - from.count, bound: bound, into: &batch))
        }
        if let target, target.isDirectory, from.count > to.count {
            longest = max(longest, try lengthened(to, by: from.count - to.count, bound: bound, into: &batch))
        }
        raiseKeyLengthBound(to: longest, from: stored, into: &batch)
    }

    /// The longest key that `subtree` and the keys below it can have once they are `delta` bytes
    /// longer; adds to `batch` the guard of what it measured.
    /// - Throws: `.nameTooLong` when it would pass the limit, `.engine`.
    private func lengthened(_ subtree: [UInt8], by delta: Int, bound: Int, into batch: inout Batch) throws(FSError) -> Int {
        let trusted = bound + delta <= Tree.maxKeyLength
        guard let longest = try longestKey(in: subtree, walkingAtMost: trusted ? Self.keyLengthWalkLimit : nil) else {
            return bound + delta
        }
        guard longest + delta <= Tree.maxKeyLength else { throw .nameTooLong }
        batch.guardKeyLengths(below: subtree, atMost: longest)
        return longest + delta
    }

    /// The length of the longest of `key` and the keys below `key/`; nil when more than `limit`
    /// keys lie below (then it stops there).
    private func longestKey(in key: [UInt8], walkingAtMost limit: Int?) throws(FSError) -> Int? {
        var longest = key.count
        var count = 0
        do {
            try tree.forEach(RangeQuery(prefix: key + [UInt8(ascii: "/")], limit: limit.map { $0 + 1 })) { item in
                longest = max(longest, item.key.count)
                count += 1
                return true
            }
        } catch {
            throw .engine(error)
        }
        if let limit, count > limit { return nil }
        return longest
    }

    /// At open: gives the superblock a bound computed from the keys when it has none or when the
    /// bound passed half the limit. Leaves a superblock it cannot decode alone (FSCheck reports it).
    func ensureKeyLengthBound() throws(FSError) {
        let bytes = try get(ReservedKeys.superblock)
        var superblock = Superblock(nextIno: Superblock.firstIno)
        if let bytes {
            guard let decoded = Superblock.decode(bytes) else { return }
            superblock = decoded
        }
        if let bound = superblock.longestKey, bound <= Tree.maxKeyLength / 2 { return }
        superblock.longestKey = try longestPathKey()
        do {
            try tree.apply([
                .expect(key: ReservedKeys.superblock, bytes.map { .value($0) } ?? .absent),
                .put(key: ReservedKeys.superblock, value: superblock.encoded()),
            ])
        } catch {
            throw .engine(error)
        }
    }

    /// The length of the longest key outside the reserved keyspace: one walk over the top-level
    /// names (the reserved keys roll up into the common prefix `/`), then one below each.
    private func longestPathKey() throws(FSError) -> Int {
        let slash = UInt8(ascii: "/")
        var longest = 0
        var tops: [[UInt8]] = []
        do {
            try tree.forEach(RangeQuery(prefix: [], delimiter: slash)) { item in
                if !item.isCommonPrefix {
                    longest = max(longest, item.key.count)
                } else if item.key.first != slash {
                    tops.append([UInt8](item.key))
                }
                return true
            }
            for top in tops {
                try tree.forEach(RangeQuery(prefix: top)) { item in
                    longest = max(longest, item.key.count)
                    return true
                }
            }
        } catch {
            throw .engine(error)
        }
        return longest
    }
}
