import HoltEngine

/// One entry of a directory listing.
struct DirectoryEntry: Sendable {
    var name: [UInt8]
    /// Whether the name is one of several of a shared inode (see `NodeTable`).
    var shared = false
    /// The cookie the kernel hands back to continue after this entry.
    var offset: UInt64
    var attributes: Attributes
    /// A name read from the listing's snapshot that the live tree no longer holds as the same
    /// inode (renamed away, removed or replaced since): it is listed, but readdirplus must not
    /// hand the kernel a dentry for it (`fuse_entry_param.ino` 0).
    var stale = false
}

extension Filesystem {
    /// How many engine items a listing reads at once.
    static let listingPage = 128

    /// Opens directory `id` for listing; returns the handle. The FUSE op is `opendir`.
    ///
    /// - Throws: `.notDirectory`, `.notFound`.
    func opendir(_ id: NodeID) throws(FSError) -> UInt64 {
        try reading { () throws(FSError) -> Void in _ = try resolveDirectory(id) }
        return handles.openDirectory(DirectoryCursor(node: id))
    }

    /// Closes a directory handle. The FUSE op is `releasedir`.
    func releasedir(_ handle: UInt64) {
        handles.directory(handle)?.releaseSnapshot()
        handles.closeDirectory(handle)
    }

    /// Streams the entries of open directory `handle` after the kernel's `offset` into `sink`,
    /// which returns false when the reply is full (that entry was not taken). The FUSE ops are
    /// `readdir` and `readdirplus`.
    ///
    /// A child is a key one component below the directory (an entry) or a common prefix with no
    /// key of its own (a directory without a record). The reserved keyspace, empty names and
    /// `.`/`..` keys are skipped.
    ///
    /// `expected` is how many entries the reply probably holds: the engine is asked for that many
    /// at a time (at most `listingPage`). Without `fullAttributes` (plain readdir, which shows
    /// only the ino and the type) an entry's attributes hold just those two, read without
    /// decoding the whole record.
    ///
    /// - Throws: `.badHandle`, `.invalidArgument` for an offset the handle never gave, `.engine`.
    func readdir(
        _ handle: UInt64, offset: UInt64, expected: Int = listingPage, fullAttributes: Bool = true,
        _ sink: (DirectoryEntry) -> Bool
    ) throws(FSError) {
        try reading { () throws(FSError) -> Void in
            try readdirLocked(handle, offset: offset, expected: expected, fullAttributes: fullAttributes, sink)
        }
    }

    /// `readdir` with the namespace lock held: the whole reply comes from one place of the
    /// directory, whatever renames of it or its ancestors run meanwhile.
    ///
    /// A listing is one state of the directory from start to end, never torn by renames between
    /// replies: when a reply fills before the listing's end, the cursor keeps a snapshot of the
    /// tree (`Tree.snapshot()`, taken still holding the namespace lock, so no rename came
    /// between this reply and it) with the directory's key at that moment, and the later replies
    /// read the snapshot. A directory listed in one reply takes none. The snapshot is closed
    /// when the listing reaches its end (the kernel's call after the last entry then answers
    /// nothing), at `releasedir`, or when the listing starts again at offset 0.
    private func readdirLocked(
        _ handle: UInt64, offset: UInt64, expected: Int, fullAttributes: Bool, _ sink: (DirectoryEntry) -> Bool
    ) throws(FSError) {
        let pageSize = max(1, min(Self.listingPage, expected))
        guard let cursor = handles.directory(handle) else { throw .badHandle }
        guard let resume = cursor.resume(at: offset) else { throw .invalidArgument }
        if offset == 0 { cursor.releaseSnapshot() }
        if cursor.isEnd(at: offset) { return }
        let kept = cursor.snapshot
        var directory: Resolved? = nil
        do {
            directory = try resolveDirectory(cursor.node)
        } catch .notFound {
            // Removed while open: the rest of a listing under way, else an empty one.
        }
        guard let key = kept?.key ?? directory?.pathKey else { return }
        let prefix = Self.childPrefix(of: key)
        var position: [UInt8]? = nil
        switch resume {
        case .dot:
            guard let directory else { break }
            guard sink(DirectoryEntry(name: [UInt8(ascii: ".")], offset: 1, attributes: attributes(of: directory))) else { return }
            fallthrough
        case .dotDot:
            guard let directory else { break }
            var parentAttributes = attributes(of: directory)
            if let parentNode = nodes.node(cursor.node)?.parent, let parent = try? resolve(parentNode) {
                parentAttributes = attributes(of: parent)
            }
            guard sink(DirectoryEntry(name: [UInt8(ascii: "."), UInt8(ascii: ".")], offset: 2, attributes: parentAttributes))
            else { return }
        case .start:
            break
        case .after(let name):
            // The cursor keeps positions relative to the directory: it may have moved since.
            position = prefix + name
        }
        var taken: [(UInt64, [UInt8])] = []
        defer { cursor.remember(taken) }
        while true {
            let query = RangeQuery(prefix: prefix, startAfter: position, delimiter: UInt8(ascii: "/"), limit: pageSize)
            let page: [RangeItem]
            if let kept {
                do { page = try kept.snapshot.range(query) } catch { throw .engine(error) }
            } else {
                page = try range(query)
            }
            for item in page {
                position = item.position
                guard let found = try child(item, prefix: prefix, full: fullAttributes, in: kept?.snapshot) else { continue }
                let name = found.0
                var (attributes, shared) = (found.1, found.2)
                var stale = false
                if kept != nil, fullAttributes {
                    // readdirplus caches what it hands out: the live attributes, or no dentry at all.
                    if let live = directory?.pathKey, let now = try resolve(key: Self.childPrefix(of: live) + name),
                       self.attributes(of: now).ino == attributes.ino {
                        attributes = self.attributes(of: now)
                        shared = shared || now.isShared
                    } else {
                        stale = true
                    }
                }
                let offset = cursor.reserveOffsets(count: 1)
                guard sink(DirectoryEntry(name: name, shared: shared, offset: offset, attributes: attributes, stale: stale)) else {
                    // The reply is full: the kernel comes back for the rest.
                    if kept == nil {
                        do { cursor.keep(try tree.snapshot(), key: key) } catch { throw .engine(error) }
                    }
                    return
                }
                taken.append((offset, Array(item.position[prefix.count...])))
            }
            if page.count < pageSize {
                if kept != nil { cursor.finishSnapshot() }
                return
            }
        }
    }

    /// The name and attributes a listed engine item shows as, or nil when it is not shown.
    /// Without `full`, a record's attributes hold only its kind and ino (see `readdir`).
    /// `snapshot`: the snapshot the listing reads, if any (a prefix is a directory there when
    /// it had no record there).
    private func child(
        _ item: RangeItem, prefix: [UInt8], full: Bool, in snapshot: Snapshot?
    ) throws(FSError) -> ([UInt8], Attributes, Bool)? {
        switch item {
        case .entry(let key, let value):
            let name = Array(key[prefix.count...])
            guard Self.isListable(name) else { return nil }
            if !full, let (kind, ino) = InodeRecord.peekKindAndIno(value), kind != .hardLink {
                let attributes = Attributes(
                    ino: ino, kind: kind, permissions: 0, nlink: 0, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0)
                return (name, attributes, false)
            }
            guard let record = try decodeRecord(value, at: key) else {
                return (name, attributes(of: Resolved(pathKey: key, pathValue: value, storage: .plain(value: value))), false)
            }
            if record.kind == .hardLink {
                guard let resolved = try resolve(key: key) else { return nil }
                return (name, attributes(of: resolved), true)
            }
            return (name, Attributes(record: record), false)
        case .commonPrefix(let bytes):
            guard bytes.count > prefix.count + 1 else { return nil }
            let key = Array(bytes.dropLast())
            let name = Array(key[prefix.count...])
            guard Self.isListable(name) else { return nil }
            if let snapshot {
                do { guard try snapshot.get(key) == nil else { return nil } } catch { throw .engine(error) }
            } else {
                guard try get(key) == nil else { return nil }
            }
            return (name, attributes(of: Resolved(pathKey: key, pathValue: nil, storage: .prefix)), false)
        }
    }

    /// Whether a key component can be shown as a name.
    static func isListable(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name.count <= maxNameLength && !isDotOrDotDot(name) && !name.contains(UInt8(ascii: "/"))
    }
}
