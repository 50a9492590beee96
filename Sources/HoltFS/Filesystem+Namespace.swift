import HoltEngine
import Synchronization

/// The last nonce `Filesystem.garbageNonce()` handed out.
private let lastGarbageNonce = Atomic<UInt64>(0)

/// A node the kernel now holds one more lookup of, with its attributes.
struct Entry: Equatable, Sendable {
    var node: NodeID
    var attributes: Attributes
}

/// What `rename` may do beyond a plain move (renameat2's flags).
struct RenameFlags: OptionSet, Sendable {
    var rawValue: UInt32
    /// Fail with EEXIST when the destination exists (RENAME_NOREPLACE).
    static let noReplace = RenameFlags(rawValue: 1)
    /// Swap source and destination, both of which must exist (RENAME_EXCHANGE).
    static let exchange = RenameFlags(rawValue: 2)
}

extension Filesystem {
    // MARK: Lookup

    /// The child `name` of directory `parent`, counting one kernel lookup. The FUSE op is `lookup`.
    ///
    /// - Throws: `.notFound`, `.nameTooLong`, `.notDirectory`, `.engine`.
    func lookup(_ parent: NodeID, _ name: [UInt8]) throws(FSError) -> Entry {
        guard name.count <= Self.maxNameLength else { throw .nameTooLong }
        // Under the namespace lock the parent's path is where its record is: a name that is not
        // there now is absent (no rename can be half done), so a negative answer is true.
        return try reading { () throws(FSError) -> Entry in
            guard let resolved = try resolve(key: Self.childKey(of: try pathKey(parent), name: name)) else {
                throw .notFound
            }
            let attributes = attributes(of: resolved)
            let node = nodes.remember(parent: parent, name: name, ino: attributes.ino, shared: resolved.isShared)
            return Entry(node: node, attributes: attributes)
        }
    }

    /// Counts one more kernel lookup of `name` in `parent` (readdirplus hands out entries too).
    func remember(parent: NodeID, name: [UInt8], ino: UInt64, shared: Bool) -> NodeID {
        nodes.remember(parent: parent, name: name, ino: ino, shared: shared)
    }

    // MARK: Creating

    /// Creates a node of `kind` named `name` in `parent`. The FUSE ops are `mknod`, `create`,
    /// `mkdir` and `symlink`.
    ///
    /// The new node takes the caller's uid and gid, or the directory's gid (and, for a directory,
    /// its setgid bit) when the directory is setgid. One batch puts the record and updates the
    /// parent's times (and nlink for a directory).
    ///
    /// - Parameters:
    ///   - permissions: The mode bits (`& 0o7777`), umask already applied by the kernel.
    ///   - rdev: The device number of a device node.
    ///   - target: The target of a symlink.
    /// - Throws: `.exists`, `.nameTooLong`, `.notDirectory`, `.notFound`, `.invalidArgument`, `.engine`.
    func make(
        _ parent: NodeID, _ name: [UInt8], kind: InodeRecord.Kind, permissions: UInt32, rdev: UInt64 = 0,
        target: [UInt8] = [], caller: Caller
    ) throws(FSError) -> Entry {
        try Self.validate(name: name)
        guard kind != .hardLink else { throw .invalidArgument }
        if kind == .symlink, target.isEmpty || target.count > Self.maxSymlinkLength {
            throw target.isEmpty ? .notFound : .nameTooLong
        }
        let ino = try allocator.allocate()
        var node = NodeID.root
        let record = try transact(.shared, { () throws(FSError) -> (Batch, InodeRecord) in
            let directory = try resolveDirectory(parent)
            let key = Self.childKey(of: directory.pathKey!, name: name)
            guard key.count <= Tree.maxKeyLength else { throw .nameTooLong }
            let now = Self.now()
            var record = InodeRecord(kind: kind)
            record.ino = ino
            record.generation = 1
            record.mode = permissions & 0o7777
            record.uid = caller.uid
            record.gid = caller.gid
            if let parentRecord = directory.record, parentRecord.mode & 0o2000 != 0 {
                record.gid = parentRecord.gid
                if kind == .directory { record.mode |= 0o2000 }
            }
            record.nlink = kind == .directory ? 2 : 1
            record.rdev = kind == .charDevice || kind == .blockDevice ? rdev : 0
            record.symlinkTarget = kind == .symlink ? target : []
            record.size = kind == .symlink ? UInt64(target.count) : 0
            if kind == .symlink { record.mode = 0o777 }
            record.atime = now
            record.mtime = now
            record.ctime = now
            var batch = Batch()
            batch.require(key, .absent, else: .exists)
            batch.require(key, .noDescendants, else: .exists)
            batch.put(key, record.encoded())
            try noteKeyLength(key, into: &batch)
            try updateParent(directory, now: now, linkDelta: kind == .directory ? 1 : 0, into: &batch)
            return (batch, record)
        }, committed: { _ in node = nodes.remember(parent: parent, name: name, ino: ino) })
        return Entry(node: node, attributes: Attributes(record: record))
    }

    /// The target of symlink `id`. The FUSE op is `readlink`.
    ///
    /// - Throws: `.invalidArgument` when the node is not a symlink, `.notFound`.
    func readlink(_ id: NodeID) throws(FSError) -> [UInt8] {
        try reading { () throws(FSError) -> [UInt8] in
            guard let record = try resolve(id).record, record.kind == .symlink else { throw .invalidArgument }
            return record.symlinkTarget
        }
    }

    // MARK: Links

    /// Gives the file `id` one more name, `name` in `parent`. The FUSE op is `link`.
    ///
    /// The first extra name moves the inode record to `/i/<ino>` and leaves link records at both
    /// names; nlink changes in the same batch as the names.
    ///
    /// - Throws: `.notPermitted` for a directory, `.exists`, `.tooManyLinks`, `.notFound`, `.engine`.
    func link(_ id: NodeID, to parent: NodeID, as name: [UInt8]) throws(FSError) -> Entry {
        try Self.validate(name: name)
        var node = id
        let record = try transact(.shared, { () throws(FSError) -> (Batch, InodeRecord) in
            let source = try resolve(id)
            guard !source.isDirectory else { throw .notPermitted }
            let directory = try resolveDirectory(parent)
            let key = Self.childKey(of: directory.pathKey!, name: name)
            let now = Self.now()
            var batch = Batch()
            var (recordKey, record) = try materialize(source, now: now, into: &batch)
            guard record.nlink < Self.maxLinks else { throw .tooManyLinks }
            let sharedKey = ReservedKeys.inode(record.ino)
            record.nlink += 1
            record.ctime = now
            let linkBytes = InodeRecord.link(to: record.ino).encoded()
            if recordKey != sharedKey {
                // The first extra name: the record moves from its path to /i/<ino>.
                guard let sourceKey = source.pathKey, recordKey == sourceKey else { throw .notFound }
                batch.require(sharedKey, .absent, else: .corruptRecord(key: sharedKey, reason: "inode record exists twice"))
                batch.put(sourceKey, linkBytes)
            }
            batch.put(ReservedKeys.inode(record.ino), record.encoded())
            batch.require(key, .absent, else: .exists)
            batch.require(key, .noDescendants, else: .exists)
            batch.put(key, linkBytes)
            try noteKeyLength(key, into: &batch)
            try updateParent(directory, now: now, linkDelta: 0, into: &batch)
            return (batch, record)
        }, committed: { record in node = nodes.share(id, ino: record.ino) })
        return Entry(node: node, attributes: Attributes(record: record))
    }

    // MARK: Removing

    /// Removes the non-directory `name` from `parent`. The FUSE op is `unlink`.
    ///
    /// The last name of an inode that is still open leaves its record at `/o/<ino>` until the last
    /// close; otherwise its data goes to the garbage keyspace, swept after the batch.
    ///
    /// - Throws: `.notFound`, `.isDirectory`, `.engine`.
    func unlink(_ parent: NodeID, _ name: [UInt8]) throws(FSError) {
        guard name.count <= Self.maxNameLength else { throw .nameTooLong }
        try transact(.exclusive, { () throws(FSError) -> (Batch, Attributes) in
            let directory = try resolveDirectory(parent)
            let key = Self.childKey(of: directory.pathKey!, name: name)
            guard let victim = try resolve(key: key) else { throw .notFound }
            guard !victim.isDirectory else { throw .isDirectory }
            let now = Self.now()
            var batch = Batch()
            try removeName(victim, now: now, into: &batch)
            try updateParent(directory, now: now, linkDelta: 0, into: &batch)
            return (batch, removedAttributes(of: victim, now: now))
        }, committed: { removed in nodes.detach(parent: parent, name: name, removed: removed) })
        try sweepGarbage()
    }

    /// Removes the empty directory `name` from `parent`. The FUSE op is `rmdir`.
    ///
    /// - Throws: `.notFound`, `.notDirectory`, `.notEmpty`, `.engine`.
    func rmdir(_ parent: NodeID, _ name: [UInt8]) throws(FSError) {
        guard name.count <= Self.maxNameLength else { throw .nameTooLong }
        try transact(.exclusive, { () throws(FSError) -> (Batch, Attributes) in
            let directory = try resolveDirectory(parent)
            let key = Self.childKey(of: directory.pathKey!, name: name)
            guard let victim = try resolve(key: key) else { throw .notFound }
            guard victim.isDirectory else { throw .notDirectory }
            let now = Self.now()
            var batch = Batch()
            try removeName(victim, now: now, into: &batch)
            try updateParent(directory, now: now, linkDelta: -1, into: &batch)
            return (batch, removedAttributes(of: victim, now: now))
        }, committed: { removed in nodes.detach(parent: parent, name: name, removed: removed) })
        try sweepGarbage()
    }

    /// What `stat` shows through a handle on a node after its last name went: the attributes it
    /// had, with nlink 0 and ctime `now` (a directory or a closed file has no record left).
    func removedAttributes(of victim: Resolved, now: Int64) -> Attributes {
        var attributes = attributes(of: victim)
        attributes.nlink = victim.isDirectory ? 0 : attributes.nlink - min(attributes.nlink, 1)
        attributes.ctime = now
        return attributes
    }

    /// Adds to `batch` the removal of the name `victim` was resolved at: the key goes; the inode
    /// loses a link and, at zero, becomes an orphan (open) or garbage. A directory must be empty.
    func removeName(_ victim: Resolved, now: Int64, into batch: inout Batch) throws(FSError) {
        guard let key = victim.pathKey else { throw .notFound }
        switch victim.storage {
        case .prefix:
            throw .notEmpty
        case .plain(let value):
            batch.guardValue(key, value)
            batch.delete(key)
        case .record(let recordKey, let bytes, var record):
            batch.guardValue(key, victim.pathValue)
            if recordKey != key { batch.guardValue(recordKey, bytes) }
            if record.kind == .directory { batch.require(key, .noDescendants, else: .notEmpty) }
            batch.delete(key)
            record.nlink = record.kind == .directory ? 0 : record.nlink - min(record.nlink, 1)
            record.ctime = now
            if record.nlink > 0 {
                batch.put(recordKey, record.encoded())
            } else {
                if recordKey != key { batch.delete(recordKey) }
                try dropInode(record, into: &batch)
            }
        }
    }

    /// Adds to `batch` what happens to an inode that lost its last name: an orphan record while it
    /// is open, else its data and big xattrs move to the garbage keyspace.
    func dropInode(_ record: InodeRecord, into batch: inout Batch) throws(FSError) {
        if openFiles.withLock({ $0[record.ino, default: 0] }) > 0 {
            orphanedInodes.withLock { _ = $0.insert(record.ino) }
            batch.put(ReservedKeys.orphan(record.ino), record.encoded())
            return
        }
        try discardStorage(of: record, into: &batch)
    }

    /// Adds to `batch` the move of `record`'s chunks and big xattr parts into the garbage keyspace.
    func discardStorage(of record: InodeRecord, into batch: inout Batch) throws(FSError) {
        // Most files have neither chunks nor big xattrs: build no key for them.
        do {
            if record.isChunked {
                let data = ReservedKeys.dataPrefix(record.ino)
                if try tree.hasKeys(withPrefix: data + [UInt8(ascii: "/")]) {
                    batch.renamePrefix(from: data, to: ReservedKeys.garbage(record.ino, UInt8(ascii: "d"), nonce: Self.garbageNonce()), else: .busy)
                }
            }
            if record.xattrs.contains(where: { $0.value == nil }) {
                let xattrs = ReservedKeys.xattrPrefix(record.ino)
                if try tree.hasKeys(withPrefix: xattrs + [UInt8(ascii: "/")]) {
                    batch.renamePrefix(from: xattrs, to: ReservedKeys.garbage(record.ino, UInt8(ascii: "x"), nonce: Self.garbageNonce()), else: .busy)
                }
            }
        } catch {
            throw .engine(error)
        }
    }

    /// A number no earlier discard used: the clock in nanoseconds, kept increasing within the process.
    static func garbageNonce() -> UInt64 {
        let now = UInt64(max(0, Self.now()))
        while true {
            let last = lastGarbageNonce.load(ordering: .relaxed)
            let next = max(now, last + 1)
            // Relaxed: only uniqueness matters, and the compare-exchange gives it.
            if lastGarbageNonce.compareExchange(expected: last, desired: next, ordering: .relaxed).exchanged { return next }
        }
    }

    /// Deletes everything in the garbage keyspace, a few hundred keys per batch; nothing (not even
    /// a range query) when no batch produced garbage since the last sweep (see `garbageEpoch`).
    func sweepGarbage() throws(FSError) {
        let epoch = garbageEpoch.load(ordering: .sequentiallyConsistent)
        guard sweptEpoch.load(ordering: .sequentiallyConsistent) < epoch else { return }
        while true {
            let page = try range(RangeQuery(prefix: ReservedKeys.garbageRoot, limit: 512))
            if page.isEmpty { break }
            var batch = Batch()
            for item in page { batch.delete(item.position) }
            _ = try commit(batch)
            if page.count < 512 { break }
        }
        // Raise sweptEpoch to `epoch` unless a later sweep already raised it further.
        var swept = sweptEpoch.load(ordering: .sequentiallyConsistent)
        while swept < epoch {
            let (exchanged, current) = sweptEpoch.compareExchange(expected: swept, desired: epoch, ordering: .sequentiallyConsistent)
            if exchanged { break }
            swept = current
        }
    }

    /// Turns orphans left by a crash (no process holds them open any more) into garbage.
    func reapOrphans() throws(FSError) {
        while true {
            let page = try range(RangeQuery(prefix: ReservedKeys.orphanPrefix, limit: 256))
            if page.isEmpty { return }
            for item in page {
                guard case .entry(let key, let value) = item else { continue }
                var batch = Batch()
                batch.guardValue(key, value)
                batch.delete(key)
                if let record = try decodeRecord(value, at: key) { try discardStorage(of: record, into: &batch) }
                _ = try commit(batch)
            }
        }
    }
}
