#if canImport(Glibc)
import Glibc
#endif
import HoltEngine
import Synchronization

/// The filesystem operations on one open `Tree`, as plain Swift methods taking node ids and
/// returning values or throwing `FSError`; `FuseBridge` turns FUSE requests into these calls.
///
/// Every operation that changes state builds one `Batch` and applies it as one engine batch. It
/// reads what it needs first and guards each value it read with an expectation in the batch, so
/// a concurrent change makes the batch fail and the operation start again.
///
/// **The namespace lock** (`namespace`) keeps the node table and the tree in step: a node's path
/// key, built from the node table, names the node's record in the tree whenever the lock is held.
/// Operations that move or remove names (`rename`, `unlink`, `rmdir`, and the last `release` of
/// an orphan) hold it exclusively from their reads through the batch and the node table's update;
/// every other operation holds it shared from the first path it builds to its last engine read
/// or its batch. No one holds it through a log flush: batches are applied with
/// `Tree.applyDeferringDurability` under the lock and waited on after it (group commit stays).
/// See docs/DESIGN.md, "The mount under concurrency".
///
/// Lock order: `namespace` → `InodeAllocator` (may call the engine) → engine; `NodeTable`,
/// `openFiles`, `orphanedInodes` and the directory handles' locks are leaves taken with no
/// engine call under them.
final class Filesystem: Sendable {
    /// Data up to this many bytes stays inline in the record.
    static let inlineLimit = 2048
    /// The size of one data chunk under `/d/<ino>/`.
    static let chunkSize = 32 * 1024
    /// The longest name, in bytes.
    static let maxNameLength = 255
    /// The longest symlink target, in bytes.
    static let maxSymlinkLength = 4095
    /// The most names one inode can have.
    static let maxLinks: UInt32 = 65_000
    /// How often an operation is retried after losing a race.
    static let maxAttempts = 1000

    let tree: Tree
    let nodes: NodeTable
    let allocator: InodeAllocator
    /// The largest file size; writes and truncates past it fail with EFBIG.
    let maxFileSize: UInt64
    /// When the filesystem was opened: the times shown for nodes without records.
    let openedAt: Int64
    /// The owner shown for nodes without records: the root directory's.
    let defaultOwner: (uid: UInt32, gid: UInt32)
    /// Open file counts by ino, so an unlinked open file becomes an orphan, not garbage.
    let openFiles = Locked<[UInt64: Int]>([:])
    /// Open file and directory handles.
    let handles: HandleTable
    /// The database's bytes on disk and inodes handed out, as `statfs` last measured them.
    let usage = DatabaseUsage()
    /// The namespace lock (see the type's comment): shared while paths are built and used,
    /// exclusive while names move or go.
    let namespace = ReadWriteLock(
        reentryMessage: "holtfs: the namespace lock is taken again on a thread that holds it (a Filesystem operation called from another)")
    /// Bumped after every committed batch that moved something into the garbage keyspace; a sweep
    /// is due only when it passed `sweptEpoch` (most unlinks and renames leave no garbage, and
    /// then skip the range query a sweep costs).
    let garbageEpoch = Atomic<UInt64>(1)
    /// The `garbageEpoch` read at the start of the last complete sweep: every batch counted up to
    /// it had committed before that sweep's scans, so its garbage is gone.
    let sweptEpoch = Atomic<UInt64>(0)
    /// Inos whose record may sit at `/o/<ino>` (unlinked while open): the last `release` of any
    /// other ino has no orphan to look for. A superset (an entry may outlive a failed batch).
    let orphanedInodes = Locked<Set<UInt64>>([])
    #if DEBUG
    /// Test counter (debug builds): the most ops one committed batch held since this was last set
    /// to 0; the tests hold long truncates to `maxDeletesPerBatch` with it.
    let largestCommittedBatch = Atomic<Int>(0)

    /// Test hook (debug builds): called by `transact` with the namespace lock held, after the
    /// body built its batch and before the batch is applied, so a test can race another request
    /// against that moment.
    package let beforeCommit = Locked<(@Sendable (NamespaceAccess) -> Void)?>(nil)
    #endif

    /// Opens the filesystem on `tree`: creates the superblock and root record when missing, gives
    /// the superblock its longest-key bound when it has none, turns orphans left by a crash into
    /// garbage and sweeps it.
    ///
    /// - Parameters:
    ///   - tree: The open database.
    ///   - maxFileSize: The largest file size, at most `largestMaxFileSize`.
    ///   - owner: The owner of a root directory created now (defaults to the process's).
    /// - Throws: `.maxFileSizeTooLarge` past `largestMaxFileSize`, `.engine` when the engine
    ///   fails, `.corruptRecord` when the root is undecodable.
    init(tree: Tree, maxFileSize: UInt64 = 1 << 40, owner: (uid: UInt32, gid: UInt32)? = nil) throws(FSError) {
        try Self.validate(maxFileSize: maxFileSize)
        self.tree = tree
        self.maxFileSize = maxFileSize
        self.openedAt = Self.now()
        self.handles = HandleTable()
        self.allocator = InodeAllocator(tree: tree)
        let rootOwner = owner ?? (getuid(), getgid())
        let root = try Self.ensureRoot(tree: tree, owner: rootOwner, now: openedAt)
        self.defaultOwner = (root.uid, root.gid)
        self.nodes = NodeTable(rootIno: root.ino)
        try ensureKeyLengthBound()
        try reapOrphans()
        try sweepGarbage()
    }

    /// The current time in nanoseconds since the epoch.
    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// Creates the root record at the empty key when it is missing; returns it.
    private static func ensureRoot(
        tree: Tree, owner: (uid: UInt32, gid: UInt32), now: Int64
    ) throws(FSError) -> InodeRecord {
        let old: [UInt8]?
        do { old = try tree.get([]) } catch { throw .engine(error) }
        if let old {
            do {
                let record = try InodeRecord.decode(old)
                if record.kind == .directory { return record }
            } catch .unsupportedVersion(let version) {
                throw FSError.corruptRecord(key: [], reason: "unsupported record version \(version)")
            } catch {}
        }
        var root = InodeRecord(kind: .directory)
        root.mode = 0o755
        root.uid = owner.uid
        root.gid = owner.gid
        root.ino = 1
        root.atime = now
        root.mtime = now
        root.ctime = now
        do {
            root.nlink = 2 + UInt32(try countSubdirectories(tree: tree, key: []))
            try tree.apply([.expect(key: [], old.map { .value($0) } ?? .absent), .put(key: [], value: root.encoded())])
        } catch {
            throw .engine(error)
        }
        return root
    }

    /// How many children of the directory at `key` are directories, with records or without (its
    /// nlink is 2 + this). A child that is a key with a value other than a directory record is a
    /// file even when keys lie below it.
    static func countSubdirectories(tree: Tree, key: [UInt8]) throws(HoltError) -> Int {
        let prefix = childPrefix(of: key)
        var count = 0
        var after: [UInt8]? = nil
        while true {
            let page = try tree.range(prefix: prefix, startAfter: after, delimiter: UInt8(ascii: "/"), limit: 512)
            for item in page {
                switch item {
                case .entry(let childKey, let value):
                    if childKey.count > prefix.count, !ReservedKeys.isReserved(childKey),
                        let record = try? InodeRecord.decode(value), record.kind == .directory
                    {
                        count += 1
                    }
                case .commonPrefix(let bytes):
                    let childKey = Array(bytes.dropLast())
                    if childKey.count > prefix.count, !ReservedKeys.isReserved(childKey), try tree.get(childKey) == nil {
                        count += 1
                    }
                }
            }
            guard page.count == 512, let last = page.last else { return count }
            after = last.position
        }
    }

    // MARK: Keys

    /// The prefix every child key of the directory at `key` starts with.
    static func childPrefix(of key: [UInt8]) -> [UInt8] {
        if key.isEmpty { return [] }
        var prefix = key
        prefix.append(UInt8(ascii: "/"))
        return prefix
    }

    /// The key of `name` in the directory at `key` (built in one allocation: every request makes one).
    static func childKey(of key: [UInt8], name: [UInt8]) -> [UInt8] {
        if key.isEmpty { return name }
        var child: [UInt8] = []
        child.reserveCapacity(key.count + 1 + name.count)
        child += key
        child.append(UInt8(ascii: "/"))
        child += name
        return child
    }

    /// Whether `name` is `.` or `..`.
    static func isDotOrDotDot(_ name: [UInt8]) -> Bool {
        let dot = UInt8(ascii: ".")
        return (name.count == 1 && name[0] == dot) || (name.count == 2 && name[0] == dot && name[1] == dot)
    }

    /// Checks a name given by the kernel: not empty, no `/` or NUL, at most 255 bytes.
    static func validate(name: [UInt8]) throws(FSError) {
        guard name.count <= maxNameLength else { throw .nameTooLong }
        guard !name.isEmpty, !isDotOrDotDot(name) else { throw .invalidArgument }
        for byte in name where byte == UInt8(ascii: "/") || byte == 0 { throw .invalidArgument }
    }

    // MARK: Engine access

    /// `tree.get`, with engine errors as `FSError`.
    func get(_ key: [UInt8]) throws(FSError) -> [UInt8]? {
        do { return try tree.get(key) } catch { throw .engine(error) }
    }

    /// `tree.hasKeys`, with engine errors as `FSError`.
    func hasChildren(_ key: [UInt8]) throws(FSError) -> Bool {
        if key.isEmpty { return true }
        do { return try tree.hasKeys(withPrefix: key + [UInt8(ascii: "/")]) } catch { throw .engine(error) }
    }

    /// `tree.range`, with engine errors as `FSError`.
    func range(_ query: RangeQuery) throws(FSError) -> [RangeItem] {
        do { return try tree.range(query) } catch { throw .engine(error) }
    }

    /// Applies `batch` without waiting for the log (the caller does, after letting the namespace
    /// lock go); returns nil when a guard failed (the caller retries).
    func commitDeferringDurability(_ batch: Batch) throws(FSError) -> Commit? {
        do {
            let commit = try tree.applyDeferringDurability(batch.ops)
            #if DEBUG
            largestCommittedBatch.max(batch.ops.count, ordering: .relaxed)
            #endif
            // After the commit, so a sweep that sees the new epoch scans after the garbage exists.
            if batch.producesGarbage { garbageEpoch.wrappingAdd(1, ordering: .sequentiallyConsistent) }
            return commit
        } catch {
            if case .conditionFailed(let index, _, _) = error, let meaning = batch.meaning(at: index) {
                if let failure = meaning { throw failure }
                return nil
            }
            throw .engine(error)
        }
    }

    /// Applies `batch` and waits until it is durable; returns false when a guard failed. For
    /// batches on the reserved keyspace only (the garbage sweep), which need no namespace lock.
    func commit(_ batch: Batch) throws(FSError) -> Bool {
        if batch.isEmpty { return true }
        guard let commit = try commitDeferringDurability(batch) else { return false }
        do { try tree.waitUntilDurable(commit) } catch { throw .engine(error) }
        return true
    }

    /// How an operation holds the namespace lock.
    enum NamespaceAccess: Sendable {
        /// With other operations: it builds and uses paths but moves no name.
        case shared
        /// Alone: it moves or removes names (and updates the node table to match).
        case exclusive
    }

    /// Runs `body` (which reads and builds a batch) and commits its batch, again and again while
    /// a guard fails; returns the body's result from the attempt that committed.
    ///
    /// Each attempt holds the namespace lock in `access` mode through `body`, the batch and
    /// `committed` (which brings the node table in step with the batch); the wait for the log
    /// comes after the lock is let go.
    @discardableResult
    func transact<T>(
        _ access: NamespaceAccess = .shared, _ body: () throws(FSError) -> (Batch, T),
        committed: (T) -> Void = { _ in }
    ) throws(FSError) -> T {
        for _ in 0..<Self.maxAttempts {
            // nil: a guard failed, try again. A body that builds no batch commits nothing.
            let outcome = try withNamespace(access) { () throws(FSError) -> (Commit?, T)? in
                let (batch, result) = try body()
                #if DEBUG
                beforeCommit.withLock { $0 }?(access)
                #endif
                var commit: Commit? = nil
                if !batch.isEmpty {
                    guard let applied = try commitDeferringDurability(batch) else { return nil }
                    commit = applied
                }
                committed(result)
                return (commit, result)
            }
            guard let (commit, result) = outcome else { continue }
            if let commit {
                do { try tree.waitUntilDurable(commit) } catch { throw .engine(error) }
            }
            return result
        }
        throw .busy
    }

    /// Runs `body` holding the namespace lock in `access` mode.
    func withNamespace<R>(_ access: NamespaceAccess, _ body: () throws(FSError) -> R) throws(FSError) -> R {
        switch access {
        case .shared: try namespace.withReadLock(body)
        case .exclusive: try namespace.withWriteLock(body)
        }
    }

    /// Runs `body` holding the namespace lock shared (an operation that only reads).
    func reading<R>(_ body: () throws(FSError) -> R) throws(FSError) -> R {
        try namespace.withReadLock(body)
    }

    // MARK: Resolving nodes

    /// What a node is, as read from the engine now.
    struct Resolved: Sendable {
        /// Where the node's metadata is.
        enum Storage: Sendable {
            /// An inode record at `key` (its path, `/i/<ino>` or `/o/<ino>`).
            case record(key: [UInt8], bytes: [UInt8], record: InodeRecord)
            /// A plain value at its path: a regular file with that content.
            case plain(value: [UInt8])
            /// No value, but keys below: a directory.
            case prefix
        }

        /// The node's path key, or nil when it is detached.
        var pathKey: [UInt8]?
        /// The bytes at `pathKey` (a link record for a hard-linked name), nil for a prefix.
        var pathValue: [UInt8]?
        var storage: Storage

        /// The node's kind.
        var kind: InodeRecord.Kind {
            switch storage {
            case .record(_, _, let record): record.kind
            case .plain: .regular
            case .prefix: .directory
            }
        }

        /// Whether the node is a directory.
        var isDirectory: Bool { kind == .directory }

        /// Whether the record lives in `/i/<ino>` (a file with several names, one shared node).
        var isShared: Bool {
            if case .record(let key, _, _) = storage { return key.starts(with: ReservedKeys.inodePrefix) }
            return false
        }

        /// The inode record, when the node has one.
        var record: InodeRecord? {
            if case .record(_, _, let record) = storage { return record }
            return nil
        }
    }

    /// Decodes an inode record read at `key`; nil when the value is not a record.
    func decodeRecord(_ bytes: [UInt8], at key: [UInt8]) throws(FSError) -> InodeRecord? {
        do {
            return try InodeRecord.decode(bytes)
        } catch {
            switch error {
            case .notARecord: return nil
            case .unsupportedVersion(let version):
                throw .corruptRecord(key: key, reason: "unsupported record version \(version)")
            }
        }
    }

    /// The node at path `key`, or nil when nothing is there.
    func resolve(key: [UInt8]) throws(FSError) -> Resolved? {
        guard let bytes = try get(key) else {
            return try hasChildren(key) ? Resolved(pathKey: key, pathValue: nil, storage: .prefix) : nil
        }
        guard let record = try decodeRecord(bytes, at: key) else {
            if key.isEmpty { return Resolved(pathKey: key, pathValue: nil, storage: .prefix) }
            return Resolved(pathKey: key, pathValue: bytes, storage: .plain(value: bytes))
        }
        if record.kind == .hardLink {
            let inodeKey = ReservedKeys.inode(record.ino)
            guard let inodeBytes = try get(inodeKey), let inode = try decodeRecord(inodeBytes, at: inodeKey),
                inode.kind != .hardLink
            else { throw .corruptRecord(key: key, reason: "link to missing inode \(record.ino)") }
            return Resolved(pathKey: key, pathValue: bytes, storage: .record(key: inodeKey, bytes: inodeBytes, record: inode))
        }
        return Resolved(pathKey: key, pathValue: bytes, storage: .record(key: key, bytes: bytes, record: record))
    }

    /// The node with node id `id`, or `.notFound`. Call holding the namespace lock: the node
    /// table's path for `id` then names the node's record (see the type's comment).
    func resolve(_ id: NodeID) throws(FSError) -> Resolved {
        assert(namespace.isHeldByCurrentThread, "resolve(_:) without the namespace lock")
        guard let location = nodes.location(of: id) else { throw .notFound }
        switch location {
        case .path(let key):
            guard let resolved = try resolve(key: key) else { throw .notFound }
            return resolved
        case .detached(let ino):
            for key in [ReservedKeys.inode(ino), ReservedKeys.orphan(ino)] {
                if let bytes = try get(key), let record = try decodeRecord(bytes, at: key), record.ino == ino {
                    return Resolved(pathKey: nil, pathValue: nil, storage: .record(key: key, bytes: bytes, record: record))
                }
            }
            throw .notFound
        }
    }

    /// The path key of node `id`, or `.notFound` when it is detached or unknown.
    func pathKey(_ id: NodeID) throws(FSError) -> [UInt8] {
        assert(namespace.isHeldByCurrentThread, "pathKey(_:) without the namespace lock")
        guard case .path(let key) = nodes.location(of: id) else { throw .notFound }
        return key
    }

    /// The attributes of a resolved node.
    func attributes(of resolved: Resolved) -> Attributes {
        switch resolved.storage {
        case .record(_, _, let record):
            return Attributes(record: record)
        case .plain(let value):
            return Attributes(
                ino: Superblock.derivedIno(for: resolved.pathKey ?? []), kind: .regular, permissions: 0o644, nlink: 1,
                uid: defaultOwner.uid, gid: defaultOwner.gid, size: UInt64(value.count),
                atime: openedAt, mtime: openedAt, ctime: openedAt)
        case .prefix:
            return Attributes(
                ino: Superblock.derivedIno(for: resolved.pathKey ?? []), kind: .directory, permissions: 0o755, nlink: 2,
                uid: defaultOwner.uid, gid: defaultOwner.gid, size: 0,
                atime: openedAt, mtime: openedAt, ctime: openedAt)
        }
    }

    /// Gives a node without a record (a plain value or a prefix) a record of its own, in `batch`;
    /// returns the key and record to modify. A node with a record is returned as it is, guarded.
    func materialize(_ resolved: Resolved, now: Int64, into batch: inout Batch) throws(FSError) -> (key: [UInt8], record: InodeRecord) {
        switch resolved.storage {
        case .record(let key, let bytes, let record):
            batch.guardValue(key, bytes)
            if let pathKey = resolved.pathKey, pathKey != key { batch.guardValue(pathKey, resolved.pathValue) }
            return (key, record)
        case .plain(let value):
            guard let key = resolved.pathKey else { throw .notFound }
            batch.guardValue(key, value)
            var record = try implicitRecord(.regular, mode: 0o644, now: now)
            record.size = UInt64(value.count)
            if value.count <= Self.inlineLimit {
                record.inlineData = value
            } else {
                record.isChunked = true
                var index: UInt64 = 0
                var offset = 0
                while offset < value.count {
                    let end = min(offset + Self.chunkSize, value.count)
                    batch.put(ReservedKeys.chunk(record.ino, index), Array(value[offset..<end]))
                    offset = end
                    index += 1
                }
            }
            return (key, record)
        case .prefix:
            guard let key = resolved.pathKey else { throw .notFound }
            batch.guardValue(key, nil)
            var record = try implicitRecord(.directory, mode: 0o755, now: now)
            do {
                record.nlink = 2 + UInt32(try Self.countSubdirectories(tree: tree, key: key))
            } catch {
                throw .engine(error)
            }
            return (key, record)
        }
    }

    /// The record a node without one gets when it first changes: the defaults it was shown with
    /// (`mode`, the default owner, times of the mount's opening) and a fresh ino.
    private func implicitRecord(_ kind: InodeRecord.Kind, mode: UInt32, now: Int64) throws(FSError) -> InodeRecord {
        var record = InodeRecord(kind: kind)
        record.mode = mode
        record.uid = defaultOwner.uid
        record.gid = defaultOwner.gid
        record.ino = try allocator.allocate()
        record.atime = openedAt
        record.mtime = openedAt
        record.ctime = now
        return record
    }

    /// Adds to `batch` the update of a parent directory whose entries change: mtime and ctime now,
    /// nlink moved by `linkDelta`. A parent without a record gets one, so it outlives its last child.
    func updateParent(_ parent: Resolved, now: Int64, linkDelta: Int, into batch: inout Batch) throws(FSError) {
        guard parent.isDirectory else { throw .notDirectory }
        var (key, record) = try materialize(parent, now: now, into: &batch)
        record.mtime = now
        record.ctime = now
        record.nlink = UInt32(max(2, Int(record.nlink) + linkDelta))
        batch.put(key, record.encoded())
    }

    /// Resolves a directory node, or throws `.notDirectory` / `.notFound`.
    func resolveDirectory(_ id: NodeID) throws(FSError) -> Resolved {
        let resolved = try resolve(id)
        guard resolved.isDirectory else { throw .notDirectory }
        guard resolved.pathKey != nil else { throw .notFound }
        return resolved
    }

    // MARK: Attributes

    /// The attributes of node `id`. The corresponding FUSE op is `getattr`.
    /// A node removed while the kernel holds it shows its last attributes with nlink 0.
    func getattr(_ id: NodeID) throws(FSError) -> Attributes {
        try reading { () throws(FSError) -> Attributes in
            do throws(FSError) {
                return attributes(of: try resolve(id))
            } catch .notFound {
                if let removed = nodes.node(id)?.removed { return removed }
                throw .notFound
            }
        }
    }

    /// Forgets `count` kernel lookups of `id`. The corresponding FUSE op is `forget`.
    func forget(_ id: NodeID, count: UInt64) {
        nodes.forget(id, count: count)
    }

    /// Drops the kernel's lookups of many nodes at once (FUSE forget_multi).
    func forget(_ batch: [(id: NodeID, count: UInt64)]) {
        nodes.forget(batch)
    }
}
