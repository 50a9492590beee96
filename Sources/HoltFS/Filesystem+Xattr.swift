import HoltEngine

/// How `setxattr` treats an existing attribute (XATTR_CREATE / XATTR_REPLACE).
enum XattrMode: Equatable, Sendable {
    /// Create or replace.
    case either
    /// Fail with EEXIST when it exists.
    case create
    /// Fail with ENODATA when it does not.
    case replace
}

extension Filesystem {
    /// The largest xattr value.
    static let maxXattrValue = 65_536
    /// Values up to this size stay inline in the record...
    static let inlineXattrValue = 256
    /// ...while the record's inline xattr values total at most this.
    static let inlineXattrTotal = 4096
    /// The most bytes the names of one inode's xattrs take in its record (keeps records small).
    static let maxXattrNameBytes = 16 * 1024
    /// The size of one part of a value kept outside the record.
    static let xattrPartSize = 32 * 1024

    /// Whether holtfs keeps xattrs named `name`: `user.`, `trusted.` and `security.` ones.
    /// `system.` names (POSIX ACLs) are not kept: get answers ENODATA, set EOPNOTSUPP.
    static func keepsXattr(_ name: [UInt8]) -> Bool {
        for namespace in ["user.", "trusted.", "security."] where name.starts(with: namespace.utf8) {
            return name.count > namespace.utf8.count
        }
        return false
    }

    /// Sets xattr `name` of node `id` to `value`. The FUSE op is `setxattr`.
    ///
    /// - Throws: `.exists` (`.create`), `.noAttribute` (`.replace`), `.argumentTooBig` for a
    ///   value over 64 KiB, `.bufferTooSmall` for a name over 255 bytes, `.notSupported` for a
    ///   namespace holtfs does not keep, `.notFound`, `.engine`.
    func setxattr(_ id: NodeID, name: [UInt8], value: [UInt8], mode: XattrMode) throws(FSError) {
        guard name.count <= 255, !name.isEmpty else { throw .bufferTooSmall }
        guard Self.keepsXattr(name) else { throw .notSupported }
        guard value.count <= Self.maxXattrValue else { throw .argumentTooBig }
        try transact { () throws(FSError) -> (Batch, Void) in
            let resolved = try resolve(id)
            let now = Self.now()
            var batch = Batch()
            var (key, record) = try materialize(resolved, now: now, into: &batch)
            let existing = record.xattrs.firstIndex { $0.name == name }
            switch (mode, existing) {
            case (.create, .some): throw .exists
            case (.replace, nil): throw .noAttribute
            default: break
            }
            if let existing { removeParts(of: record.xattrs[existing], ino: record.ino, into: &batch) }
            let inlineTotal = record.xattrs.enumerated().reduce(0) { sum, item in
                item.offset == existing ? sum : sum + (item.element.value?.count ?? 0)
            }
            let entry: InodeRecord.Xattr
            if value.count <= Self.inlineXattrValue, inlineTotal + value.count <= Self.inlineXattrTotal {
                entry = .init(name: name, value: value, size: value.count)
            } else {
                entry = .init(name: name, value: nil, size: value.count)
                var part = 0, offset = 0
                repeat {
                    let end = min(offset + Self.xattrPartSize, value.count)
                    batch.put(ReservedKeys.xattrPart(record.ino, name: name, part: part), Array(value[offset..<end]))
                    part += 1
                    offset = end
                } while offset < value.count
            }
            // A replaced attribute keeps its place in the list.
            if let existing { record.xattrs[existing] = entry } else { record.xattrs.append(entry) }
            let nameBytes = record.xattrs.reduce(0) { $0 + $1.name.count + 6 }
            guard nameBytes <= Self.maxXattrNameBytes else { throw .argumentTooBig }
            record.ctime = now
            batch.put(key, record.encoded())
            return (batch, ())
        }
    }

    /// The value of xattr `name` of node `id`. The FUSE op is `getxattr`.
    ///
    /// A value kept outside the record is read from its parts in one engine read, so a value
    /// replaced meanwhile is never read torn: the parts present at that moment are exactly the
    /// parts of the value the record had then (every change of the record changes its parts in
    /// the same batch). When they are gone (the value moved inline, was removed, or the file went)
    /// the record is read again; each such retry means a change committed in between.
    ///
    /// - Throws: `.noAttribute` when absent or not kept, `.notFound`, `.corruptRecord` when a part
    ///   is missing with no change under way, `.busy` when changes kept racing the read,
    ///   `.engine`.
    func getxattr(_ id: NodeID, name: [UInt8]) throws(FSError) -> [UInt8] {
        try reading { () throws(FSError) -> [UInt8] in try getxattrLocked(id, name: name) }
    }

    /// `getxattr` with the namespace lock held.
    private func getxattrLocked(_ id: NodeID, name: [UInt8]) throws(FSError) -> [UInt8] {
        var previousRecord: [UInt8]? = nil
        for _ in 0..<Self.maxAttempts {
            let resolved = try resolve(id)
            guard case .record(_, let bytes, let record) = resolved.storage,
                let xattr = record.xattrs.first(where: { $0.name == name })
            else { throw .noAttribute }
            if let value = xattr.value { return value }
            if let value = try xattrParts(ino: record.ino, name: name) { return value }
            // No whole value in the parts: the record changed since it was read, or a part is lost.
            if bytes == previousRecord {
                throw .corruptRecord(key: ReservedKeys.xattrPart(record.ino, name: name, part: 0), reason: "missing xattr part")
            }
            previousRecord = bytes
        }
        throw .busy
    }

    /// The value of the big xattr `name` of `ino` from its parts, all read in one engine read (a
    /// snapshot); nil when they do not make a whole value (none, or a part missing).
    private func xattrParts(ino: UInt64, name: [UInt8]) throws(FSError) -> [UInt8]? {
        let prefix = ReservedKeys.xattrPrefix(ino) + [UInt8(ascii: "/")]
        // A part's key is `prefix`, two hex digits, `/`, the name.
        let partKeyLength = prefix.count + 3 + name.count
        var value: [UInt8] = []
        var parts = 0
        var whole = true
        do {
            try tree.forEach(RangeQuery(prefix: prefix)) { item in
                let key = item.key
                guard key.count == partKeyLength, key[prefix.count + 2] == UInt8(ascii: "/"),
                    name.elementsEqual(key[(prefix.count + 3)...])
                else { return true }
                let digits = Array(key[prefix.count..<(prefix.count + 2)])
                guard ReservedKeys.parseHex(digits[...]) == UInt64(parts), !item.value.isEmpty else {
                    whole = false
                    return false
                }
                value.append(contentsOf: item.value)
                parts += 1
                return true
            }
        } catch {
            throw .engine(error)
        }
        return whole && parts > 0 ? value : nil
    }

    /// The names of the xattrs of node `id`, each followed by a NUL. The FUSE op is `listxattr`.
    func listxattr(_ id: NodeID) throws(FSError) -> [UInt8] {
        try reading { () throws(FSError) -> [UInt8] in
            guard let record = try resolve(id).record else { return [] }
            var out: [UInt8] = []
            for xattr in record.xattrs { out += xattr.name + [0] }
            return out
        }
    }

    /// Removes xattr `name` of node `id`. The FUSE op is `removexattr`.
    ///
    /// - Throws: `.noAttribute` when absent, `.notFound`, `.engine`.
    func removexattr(_ id: NodeID, name: [UInt8]) throws(FSError) {
        try transact { () throws(FSError) -> (Batch, Void) in
            let resolved = try resolve(id)
            guard resolved.record?.xattrs.contains(where: { $0.name == name }) == true else { throw .noAttribute }
            let now = Self.now()
            var batch = Batch()
            var (key, record) = try materialize(resolved, now: now, into: &batch)
            let index = record.xattrs.firstIndex { $0.name == name }!
            removeParts(of: record.xattrs[index], ino: record.ino, into: &batch)
            record.xattrs.remove(at: index)
            record.ctime = now
            batch.put(key, record.encoded())
            return (batch, ())
        }
    }

    /// Adds to `batch` the deletion of the parts of an xattr kept outside the record.
    private func removeParts(of xattr: InodeRecord.Xattr, ino: UInt64, into batch: inout Batch) {
        guard xattr.value == nil else { return }
        let parts = max(1, (xattr.size + Self.xattrPartSize - 1) / Self.xattrPartSize)
        for part in 0..<parts { batch.delete(ReservedKeys.xattrPart(ino, name: xattr.name, part: part)) }
    }
}
