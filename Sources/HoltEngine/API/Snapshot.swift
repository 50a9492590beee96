/// A read-only view of a tree as of one committed batch: what `Tree.snapshot()` returns.
///
/// Concepts:
/// - A snapshot reads the tree as it was after the batch of sequence number `lsn` (the last
///   batch applied when it was taken); batches applied later are never seen by it, however long
///   it stays open and whatever they do (puts, deletes, renames, prefix renames), and neither
///   are checkpoints, eviction or compaction.
/// - It costs nothing while writers leave its blobs alone. The first time a writer changes a
///   blob (512 KiB of the tree) after the newest open snapshot began, the store keeps a copy of
///   the blob as it was (a *shadow*), shared by every open snapshot that needs it; the copies are
///   freed when the last snapshot needing them is closed. `Stats.openSnapshots`,
///   `Stats.snapshotShadowBlobs` and `Stats.snapshotShadowBytes` say what they hold now: at most
///   one blob per blob changed since each distinct open snapshot, in memory (see docs/DESIGN.md,
///   "Snapshots").
///
/// Any number of snapshots may be open at once, and one snapshot may be read from many threads
/// at once. Close a snapshot (`close()`) as soon as it is no longer needed, or drop it (its
/// `deinit` closes it): an old snapshot left open makes every later change of a blob keep a copy.
/// A snapshot does not survive its tree: after `Tree.close()` every read of it throws `.closed`.
///
/// ```swift
/// let snapshot = try tree.snapshot()
/// defer { snapshot.close() }
/// try tree.put(Array("a/new".utf8), [1])           // not seen by the snapshot
/// let listing = try snapshot.range(prefix: Array("a/".utf8), delimiter: UInt8(ascii: "/"))
/// ```
///
/// Reads take no tree-wide lock: they read blobs under shared latches (or the kept copies,
/// under none), beside writers, which wait at most for one blob read.
public final class Snapshot: @unchecked Sendable {
    // @unchecked Sendable: `index` and `source` are immutable and thread-safe; `state` is
    // guarded by its `Locked`.

    /// The sequence number of the last batch the snapshot sees (0: none since the database was
    /// created). The same numbering as the log's records.
    public let lsn: UInt64

    /// The default family's index as of the snapshot, read through its shadows.
    private let index: ARTIndex<SnapshotBlobSource>
    /// The other column families' indexes as of the snapshot, by family number (the families
    /// that existed when it was taken).
    private let families: [FamilyID: ARTIndex<SnapshotBlobSource>]
    /// Where the shadows are kept, and the epoch this snapshot reads.
    private let shadows: BlobShadows
    private let epoch: UInt64

    /// Reads in progress and whether `close()` was called, guarded by its lock: the epoch ends
    /// when it was closed and the last read in progress returned (so a close beside a read
    /// never changes what that read sees).
    private let state = Locked<(reads: Int, closed: Bool, ended: Bool)>((0, false, false))

    /// A snapshot of epoch `epoch` (begun already) of the trees whose root blobs are `roots`.
    init(store: BufferManager, epoch: UInt64, lsn: UInt64, roots: Tree.SnapshotRoots) throws(HoltError) {
        self.lsn = lsn
        self.shadows = store.shadows
        self.epoch = epoch
        let source = SnapshotBlobSource(store: store, epoch: epoch)
        index = try ARTIndex(source: source, root: roots.default)
        var families: [FamilyID: ARTIndex<SnapshotBlobSource>] = [:]
        for (id, root) in roots.families { families[id] = try ARTIndex(source: source, root: root) }
        self.families = families
    }

    /// The index of `family` (nil: the default one) as of the snapshot.
    /// - Throws: `.noSuchFamily` when the family did not exist when the snapshot was taken.
    private func index(of family: Family?) throws(HoltError) -> ARTIndex<SnapshotBlobSource> {
        guard let family, !family.isDefault else { return index }
        guard let found = families[family.id] else { throw .noSuchFamily(name: family.name) }
        return found
    }

    deinit { close() }

    /// Releases the snapshot: the blob copies only it needed are freed. Later reads of it throw
    /// `.closed`; a read running on another thread finishes first, as of the snapshot. Closing
    /// again does nothing.
    public func close() {
        let end = state.withLock { (s) -> Bool in
            guard !s.closed else { return false }
            s.closed = true
            guard s.reads == 0 else { return false }
            s.ended = true
            return true
        }
        if end { shadows.end(epoch) }
    }

    /// Runs one read, counted in `state`, so that `close()` beside it waits for it to end
    /// before freeing its shadows.
    private func reading<R>(_ body: () throws(HoltError) -> R) throws(HoltError) -> R {
        try state.withLock { (s) throws(HoltError) in
            guard !s.closed else { throw .closed }
            s.reads += 1
        }
        defer {
            let end = state.withLock { (s) -> Bool in
                s.reads -= 1
                guard s.closed, s.reads == 0, !s.ended else { return false }
                s.ended = true
                return true
            }
            if end { shadows.end(epoch) }
        }
        guard !shadows.isClosed else { throw .closed }
        return try body()
    }

    /// The value `key` had at the snapshot, or `nil` when it had none.
    ///
    /// - Returns: A copy of the value; the caller owns it.
    /// - Throws: `.closed` after `close()` or the tree's `close()`, `.corrupted` or `.io` when a
    ///   blob cannot be read.
    ///
    /// `family`: a column family of the tree (`Tree.family(named:)`); nil, the default one. Each
    /// read below takes it too; one that did not exist when the snapshot was taken (created
    /// since) throws `.noSuchFamily`, one dropped since is read as it was.
    public func get(_ key: [UInt8], in family: Family? = nil) throws(HoltError) -> [UInt8]? {
        try reading { () throws(HoltError) -> [UInt8]? in try index(of: family).get(key) }
    }

    /// Whether any key started with `prefix` at the snapshot.
    /// - Throws: as `get`.
    public func hasKeys(withPrefix prefix: [UInt8], in family: Family? = nil) throws(HoltError) -> Bool {
        try reading { () throws(HoltError) -> Bool in try index(of: family).hasKeys(withPrefix: prefix) }
    }

    /// The items of `query` at the snapshot, in key order: entries, and common prefixes when it
    /// has a delimiter. The same as `Tree.range(_:)`, as of the snapshot.
    ///
    /// - Returns: At most `query.limit` items; resume with `startAfter` set to the last item's
    ///   `position` (on the same snapshot, the listing goes on as of the same batch). The
    ///   caller owns the arrays.
    /// - Throws: as `get`.
    public func range(_ query: RangeQuery, in family: Family? = nil) throws(HoltError) -> [RangeItem] {
        try reading { () throws(HoltError) -> [RangeItem] in try index(of: family).scan(query) }
    }

    /// The items below `prefix` after `startAfter`, at most `limit`, rolled up at `delimiter`,
    /// at the snapshot. The same as `range(RangeQuery(...))`.
    /// - Throws: as `get`.
    public func range(
        prefix: [UInt8] = [], startAfter: [UInt8]? = nil, delimiter: UInt8? = nil, limit: Int? = nil, in family: Family? = nil
    ) throws(HoltError) -> [RangeItem] {
        try range(RangeQuery(prefix: prefix, startAfter: startAfter, delimiter: delimiter, limit: limit), in: family)
    }

    /// Checks the tree's structure as of the snapshot: every node reachable from the root, the
    /// invariants listed on the index, and each blob's space accounting. Unlike `Tree.verify()`
    /// it does not check the store's checksums or bookkeeping, and it holds no writer: a
    /// mounted database is checked this way while it goes on serving (`holtfs check MNT`).
    ///
    /// - Returns: What is wrong, one line each; empty when sound.
    /// - Throws: `.closed`.
    public func verify() throws(HoltError) -> [String] {
        try reading { () throws(HoltError) -> [String] in
            index.verify() + families.sorted { $0.key < $1.key }.flatMap { $0.value.verify() }
        }
    }

    /// Calls `body` with each item of `query` at the snapshot, in key order, borrowed: until the
    /// items run out, `query.limit` items were visited, or `body` returns false. The same items
    /// as `range(_:)`, none of them copied.
    ///
    /// - Parameters:
    ///   - query: Which items (see `RangeQuery`).
    ///   - body: Called once per item; returns whether to go on. The view's `key` and `value`
    ///     are valid **only during that call**: copy what must outlive it.
    /// - Throws: as `get`, and what `body` throws (the walk stops there).
    ///
    /// The walk takes no tree-wide lock, but holds the blob it is in (its latch shared, when
    /// the blob has not changed since the snapshot) while `body` runs: **`body` must not write
    /// the tree** (the write may wait for that latch), nor close this snapshot. Reads of the tree
    /// and of any snapshot are fine.
    public func forEach(
        _ query: RangeQuery, in family: Family? = nil, _ body: (RangeView) throws(HoltError) -> Bool
    ) throws(HoltError) {
        try reading { () throws(HoltError) in _ = try index(of: family).visit(query, body) }
    }
}
