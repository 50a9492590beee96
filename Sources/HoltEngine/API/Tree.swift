#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// An open holt database: an ordered map of path-shaped byte keys to byte values.
///
/// Concepts:
/// - A *key* is a byte string of at most `maxKeyLength` bytes without NUL, its components
///   separated by `/`, compared bytewise. The empty key is a key.
/// - A *batch* (`apply(_:)`) is several ops applied atomically and logged as one record of the
///   write-ahead log; every single-op method is a batch of one.
/// - A *blob* is a 512 KiB piece of the adaptive radix tree; blobs are cached in frames within
///   `Options.cacheBytes` and written to the data file at a *checkpoint*, after which the log
///   up to that point is dropped. Opening replays the log written since the last checkpoint.
///
/// A `Tree` is safe to use from many threads at once. Readers never see half of a batch: a batch
/// changes the index under an exclusive lock; `get` and `hasKeys` read beside it without a lock,
/// answering the before-images the batch records (`BatchVisibility`), and read blobs without
/// latches (`BlobLatch`, optimistic); so does `range` when its walk is short; `forEach` and long
/// scans run under the shared lock. A
/// write returns once it is as durable as `Options.sync` asks; concurrent writers share one log
/// flush (group commit). Checkpoints run on a background thread (`Checkpointer`) beside the
/// readers.
///
/// Locks, in the order they are taken:
/// - `checkpointing`: one checkpoint at a time, from its capture to its end.
/// - `writer`: one writer at a time (a batch from its first check to its log append, the
///   capture of a checkpoint, `close`). A checkpoint holds it only to capture (flags and a copy
///   of the blob map); its blobs are written while batches and reads go on.
/// - `lock`: `forEach` and long scans shared; a batch exclusively, only around its index
///   changes and its log append (microseconds); `close` exclusively. `get`, `hasKeys` and
///   `range` take it only as a fallback.
/// - blob latches (`BlobLatch`), one per cached blob: a write call holds it exclusively, scans
///   and batches read under it shared; `get` reads optimistically, checking its version.
public final class Tree: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `writer` and/or `lock` (see each
    // field); the store and the log are thread-safe themselves.

    /// The longest key, in bytes.
    public static let maxKeyLength = 65_535
    /// The longest value, in bytes.
    public static let maxValueLength = 65_535

    /// The database directory.
    public let path: String
    /// The options the tree was opened with.
    public let options: Options

    let lock = ReadWriteLock()
    /// One writer at a time (see the type's comment); taken through `withWriterLock`, which
    /// first waits out the parallel batches in flight.
    let writer = Monitor()
    /// Keeps parallel batches of puts apart from `writer`'s holders and from readers under
    /// `lock` (`withWriterLock`, `withSharedLock`; "Writers in parallel" in docs/DESIGN.md).
    let gate = WriterGate()
    /// The keys the parallel batches in flight change.
    let keyLocks = KeyLocks()
    /// One checkpoint at a time, from its capture to its end (taken before `writer`).
    private let checkpointing = Monitor()
    /// One compaction at a time (`compact()`; taken before `checkpointing`).
    let compacting = Monitor()
    /// Runs the automatic checkpoints (started at open, stopped at close).
    let checkpointer = Checkpointer()
    /// Writes dirty blobs out ahead of cache misses (started at open, stopped at close).
    private let evictor = Evictor()
    let store: BufferManager
    let log: WriteAheadLog
    /// Changed holding `writer` and `lock` exclusively; read holding `lock` shared, or `writer`
    /// (the checkpointer: no batch changes it then).
    let index: ARTIndex<BufferManager>
    /// Written holding `writer` and `lock` exclusively, read holding either (`snapshot()` reads
    /// it under `lock` shared): the sequence number of the last batch applied to `index` (or to
    /// any column family).
    var appliedLSN: UInt64 {
        get { max(serialAppliedLSN, parallelAppliedLSN.load(ordering: .acquiring)) }
        set { serialAppliedLSN = newValue }
    }
    /// `appliedLSN` as the batches applied holding `writer` set it.
    private var serialAppliedLSN: UInt64
    /// The greatest LSN of a parallel batch applied (`commitInParallel`; set without `writer`).
    /// Every batch before it is applied too by the time a holder of `writer` or of `lock`
    /// shared reads it: none is in flight then (`WriterGate`). It is also the greatest LSN of
    /// a batch applied straight to the index among them (`lastDirectLSN`).
    let parallelAppliedLSN = Atomic<UInt64>(0)
    /// The column families other than the default one (whose tree is `index`): the one place
    /// that holds every family's root (`FamilyRoots`). The `Locked` guards the table itself;
    /// it changes only holding `writer` and `lock` exclusively, so a holder of `lock` shared
    /// sees a stable table and every blob of every family in it stays allocated meanwhile.
    let families: Locked<FamilyRoots>
    /// The last batch the index holds, for `snapshot()` (read holding `lock` shared or
    /// `writer`): `appliedLSN`, or the batch before the oldest one in the write buffer.
    var lastAppliedLSN: UInt64 { bufferStartLSN.map { $0 - 1 } ?? appliedLSN }
    /// Puts and deletes logged but not yet in `index` (`WriteBuffer`), once the tree has
    /// outgrown its cache; `get` reads it first, every other read and batch first flushes the
    /// entries of the keys it names (`flushWriteBuffer(under:)`; snapshots, all of them).
    let writeBuffer = WriteBuffer()
    /// The LSN of the oldest batch with an op only in `writeBuffer` (`WriteBuffer.oldestLSN`),
    /// nil when it is empty. Changed holding `writer` and `lock` exclusively; read under either.
    var bufferStartLSN: UInt64?
    /// The last batch applied straight to the index or a family's, not through the write buffer
    /// (`install`; 0: none). A checkpoint that would record an LSN before it
    /// flushes the buffer first (`runCheckpoint`): a replay re-applies every batch after the
    /// recorded LSN, and only blind puts and deletes (the buffer's) may be applied twice.
    /// Changed holding `writer` and `lock` exclusively; read holding `writer`.
    var lastDirectLSN: UInt64 {
        get { max(serialLastDirectLSN, parallelAppliedLSN.load(ordering: .acquiring)) }
        set { serialLastDirectLSN = newValue }
    }
    /// `lastDirectLSN` as the batches applied holding `writer` set it.
    private var serialLastDirectLSN: UInt64 = 0
    /// Where the next flush step starts (`WriteBuffer.stepOps`; nil: from the smallest key).
    /// Changed holding `writer` and `lock` exclusively.
    var flushCursor: [UInt8]?
    /// The buffered batches there had been (`WriteBuffer.batchesBuffered`) when a reader last
    /// flushed the keys under its prefix (`flushIfBuffered(under:)`). Changed holding `writer`
    /// and `lock` exclusively.
    var batchesAtLastReaderFlush: UInt64 = 0
    /// Written holding `writer` and `lock` exclusively; read under either.
    var isClosed = false
    /// `!isClosed`, for readers that take no lock (`get`).
    let isOpen = Atomic<Bool>(true)
    /// Slows writers that outrun the checkpointer.
    let throttle: WriteThrottle
    /// The batch being applied, as lock-free readers see it.
    let visibility = BatchVisibility()
    /// Set after a failed write, log append or checkpoint; every later write is refused. Set
    /// holding `writer` (or by a parallel batch whose index change failed); read anywhere.
    var failed: Bool {
        get { failedFlag.load(ordering: .acquiring) }
        set { failedFlag.store(newValue, ordering: .releasing) }
    }
    private let failedFlag = Atomic<Bool>(false)
    /// Guarded by `writer`: after a checkpoint found the disk full, the next automatic one waits
    /// until the log holds this many bytes or the monotonic clock passes `time` (nanoseconds), so
    /// a full disk does not make every batch attempt one. `nil` when the last one succeeded.
    private var checkpointRetry: (logBytes: Int, time: UInt64)?
    /// How much the log must grow after a checkpoint refused for want of space before the next try.
    static let checkpointRetryLogBytes = 1 << 20
    /// How long (nanoseconds) to wait after a checkpoint refused for want of space before the next try.
    static let checkpointRetryNanoseconds: UInt64 = 1_000_000_000
    /// Guarded by `writer`: held from open to close, keeps other openers out.
    private var databaseLock: DatabaseLock?
    /// What the last open found at the log's tail.
    public let recovery: RecoveryReport
    /// Checkpoints taken since open (counted by the checkpointing thread, read by `statistics`).
    private let checkpointsTaken = Atomic<Int>(0)
    /// Checkpoints taken since open.
    var checkpointCount: Int { checkpointsTaken.load(ordering: .relaxed) }
    /// Checkpoints since open that kept the write buffer's batches in the log instead of
    /// flushing it (relaxed counter).
    let checkpointsBesideWriteBuffer = Atomic<Int>(0)
    /// How long checkpoints took (see `Stats.checkpointNanoseconds`).
    let checkpointTimes = CheckpointTimes()
    /// The change feed's consumers and open feeds (`Tree+Changes.swift`); thread-safe itself.
    let changeFeeds: ChangeFeedRegistry

    private init(
        path: String, options: Options, store: BufferManager, log: WriteAheadLog,
        index: ARTIndex<BufferManager>, families: FamilyRoots, appliedLSN: UInt64, lock: DatabaseLock,
        recovery: RecoveryReport, changeFeeds: ChangeFeedRegistry
    ) {
        self.changeFeeds = changeFeeds
        self.path = path
        self.options = options
        self.store = store
        self.log = log
        self.index = index
        self.families = Locked(families)
        self.serialAppliedLSN = appliedLSN
        self.databaseLock = lock
        self.recovery = recovery
        throttle = WriteThrottle(cacheBytes: options.cacheBytes, checkpointLogBytes: options.checkpointLogBytes)
        checkpointer.start(interval: UInt64(max(1, options.checkpointIntervalSeconds)) * 1_000_000_000) {
            [unowned self] periodic in checkpointIfWanted(periodic: periodic)
        }
        // A failed write-out fails the store (later writes throw `.previousIOFailure`).
        evictor.start { [store] in _ = try? store.cleanAhead() }
        store.wantsCleaning = { [evictor] in evictor.request() }
    }

    /// Opens the database in directory `path`, creating it when missing and `options.createIfMissing`.
    ///
    /// Opening replays every batch logged after the last checkpoint. A torn record at the log's
    /// end (a write cut short by a crash, never acknowledged) is cut off and counted in `recovery`.
    ///
    /// - Parameters:
    ///   - path: The database directory.
    ///   - options: Cache budget, sync mode, whether to create, checkpoint interval.
    /// - Returns: The open tree. Close it with `close()`.
    /// - Throws: `.notADatabase`, `.locked` when another opener has it, `.unsupportedFormat`,
    ///   `.corrupted` when the log, the manifest or a blob is damaged, `.io`.
    public static func open(path: String, options: Options = Options()) throws(HoltError) -> Tree {
        try DatabaseDirectory.prepare(path, create: options.createIfMissing)
        let databaseLock = try DatabaseLock(directory: path)
        let changeFeeds = try ChangeFeedRegistry.load(directory: path)
        let store = try BufferManager.open(
            directory: path, cacheBytes: options.blobCacheBytes, create: options.createIfMissing,
            snapshotMemoryBytes: options.snapshotMemoryLimit, mappedReads: options.mappedReads)
        let anchor = store.anchor
        let index = if let root = anchor.root {
            try ARTIndex(source: store, root: root)
        } else {
            try ARTIndex.create(in: store)
        }
        // Every walk starts at the root blob: it stays in the cache, pinned.
        try store.keepPinned(index.root)
        var families = try FamilyRoots.load(catalog: anchor.catalog, in: store)
        let log = try WriteAheadLog.open(directory: path + "/wal", sync: options.sync)
        var applied = anchor.checkpointLSN
        let report = try log.replay(after: anchor.checkpointLSN) { (lsn: UInt64, payload: [UInt8]) throws(HoltError) in
            try Self.redo(payload, lsn: lsn, on: index, families: &families)
            applied = lsn
        }
        try log.setNextLSN(atLeast: applied + 1)
        let recovery = RecoveryReport(checkpointLSN: anchor.checkpointLSN, replayedBatches: report.recordsReplayed, tornBytesCut: report.bytesCut)
        return Tree(path: path, options: options, store: store, log: log, index: index, families: families,
                    appliedLSN: applied, lock: databaseLock, recovery: recovery, changeFeeds: changeFeeds)
    }

    /// Applies one logged batch again at open (a batch that names column families, or creates
    /// or drops one, through `FamilyRoots.redo`).
    private static func redo(
        _ payload: [UInt8], lsn: UInt64, on index: ARTIndex<BufferManager>, families: inout FamilyRoots
    ) throws(HoltError) {
        let items = try BatchCodec.decodeItems(payload)
        guard let ops = BatchCodec.defaultFamilyOps(items) else {
            return try families.redo(items, lsn: lsn, defaultIndex: index)
        }
        var applier = BatchApplier(index: index)
        do throws(HoltError) {
            try applier.performAll(ops)
        } catch {
            switch error {
            case .conditionFailed, .invalidKey:
                throw .corrupted(what: "log record \(lsn)", reason: "the batch does not apply: \(error)")
            default:
                throw error
            }
        }
    }

    /// Checkpoints and closes the database, releasing its lock. Later calls throw `.closed`.
    /// When much of the blob file is free, it is compacted first (`compactIfWorthIt`).
    ///
    /// A final checkpoint refused because the disk is full is not an error: the log holds every
    /// acknowledged write and the next open replays it.
    /// - Throws: `.io` when the final checkpoint cannot be written for another reason (the log
    ///   still holds every acknowledged write, so the next open loses nothing).
    public func close() throws(HoltError) {
        checkpointer.stop()
        evictor.stop()
        // Give space back before the last checkpoint, as a quiet round would (a database
        // closed right after a mass delete is left short, not long and full of holes). A
        // failure here loses nothing: the close goes on.
        try? compactIfWorthIt()
        try compacting.withLock { () throws(HoltError) in try checkpointing.withLock { () throws(HoltError) in
            // The last checkpoint is an ordinary one; a batch that slips in after it stays in the log.
            var firstError: HoltError? = nil
            do throws(HoltError) { try runCheckpoint(onlyIfWanted: false) } catch {
                switch error {
                case .closed: return
                case .previousIOFailure: break
                default: if !Syscall.isOutOfSpace(error) { firstError = error }
                }
            }
            try withWriterLock { () throws(HoltError) in try lock.withWriteLock { () throws(HoltError) in
                guard !isClosed else { return }
                isClosed = true
                isOpen.store(false, ordering: .releasing)
                defer { databaseLock = nil }
                do throws(HoltError) { try log.close() } catch { firstError = firstError ?? error }
                do throws(HoltError) { try store.close() } catch { firstError = firstError ?? error }
                if let firstError { throw firstError }
            } }
        } }
    }

    deinit {
        if !isClosed { try? close() }
    }

    // MARK: Reads

    /// The value stored at `key`, or `nil` when there is none.
    ///
    /// - Returns: A copy of the value; the caller owns it.
    /// - Throws: `.closed`, `.corrupted` or `.io` when the blob holding it cannot be read.
    ///
    /// Takes no tree-wide lock: it reads beside a batch being applied and answers as of the last
    /// batch committed (`BatchVisibility`), waiting at most for one index operation on a blob it
    /// reads. Beside a batch that moves prefixes it reads under the shared lock instead.
    public func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        // A key in the write buffer is answered there (one shard mutex; nothing when it is empty).
        if case .value(let value) = writeBuffer.lookup(key) {
            guard isOpen.load(ordering: .acquiring) else { throw .closed }
            return value
        }
        attempts: for _ in 0..<Self.optimisticReadAttempts {
            guard isOpen.load(ordering: .acquiring) else { throw .closed }
            switch try visibility.read(key, { () throws(HoltError) -> [UInt8]? in try walkWithoutLatches(key) }) {
            case .answer(let value): return value
            case .retry: continue
            case .useLock: break attempts
            }
        }
        getsUnderLock.wrappingAdd(1, ordering: .relaxed)
        return try withSharedLock { () throws(HoltError) -> [UInt8]? in
            guard !isClosed else { throw .closed }
            return try index.get(key)
        }
    }

    /// `get`s that fell back to the shared lock (`Stats.getsUnderLock`).
    let getsUnderLock = Atomic<Int>(0)
    /// `get`s whose optimistic walks all met a writer and that read under blob latches
    /// (`Stats.getsUnderLatches`).
    let getsUnderLatches = Atomic<Int>(0)

    /// How many optimistic walks a `get` tries before it reads under shared blob latches.
    static let optimisticWalkAttempts = 4

    /// Looks `key` up in the index taking no latch (`BlobLatch`'s optimistic mode), walking
    /// again when a writer changed a blob under the walk; after `optimisticWalkAttempts` such
    /// walks, under shared latches (which wait for the writer's one index operation).
    @inline(__always)
    private func walkWithoutLatches(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        for _ in 0..<Self.optimisticWalkAttempts {
            if let answer = try index.getOptimistically(key) { return answer }
        }
        getsUnderLatches.wrappingAdd(1, ordering: .relaxed)
        return try index.get(key)
    }

    /// How many times `get` reads without a lock before it takes the shared lock.
    static let optimisticReadAttempts = 4

    /// The items of `query` in key order: entries, and common prefixes when it has a delimiter.
    ///
    /// Copies every item; to read many items without copying, use `forEach(_:_:)`.
    /// - Returns: At most `query.limit` items; resume with `startAfter` set to the last item's
    ///   `position`. The caller owns the arrays.
    /// - Throws: `.closed`, `.corrupted`, `.io`.
    ///
    /// Takes no tree-wide lock nor latch when it can (`ARTIndex.scanOptimistically`): it answers
    /// as of the last committed batch, trying again beside a batch that touched keys under the
    /// query's prefix or a writer that changed a blob it read (or when the walk failed while a
    /// batch was in flight: what it met may be a state between two of the batch's blob
    /// changes); after four tries, or for a scan of more than 16 blobs, it reads under the
    /// shared lock, which waits for the batch in flight (`Stats.rangesUnderLock` counts those).
    public func range(_ query: RangeQuery) throws(HoltError) -> [RangeItem] {
        try flushIfBuffered(under: query.prefix)
        attempts: for _ in 0..<Self.optimisticReadAttempts {
            guard isOpen.load(ordering: .acquiring) else { throw .closed }
            let outcome = try visibility.readUntouched({ $0.touches(prefix: query.prefix) }) { () throws(HoltError) -> [RangeItem]? in
                try index.scanOptimistically(query)
            }
            switch outcome {
            case .answer(let items): return items
            case .retry: continue
            case .useLock: break attempts
            }
        }
        rangesUnderLock.wrappingAdd(1, ordering: .relaxed)
        return try withSharedLock { () throws(HoltError) -> [RangeItem] in
            guard !isClosed else { throw .closed }
            return try index.scan(query)
        }
    }

    /// `range` calls that read under the shared lock (`Stats.rangesUnderLock`).
    let rangesUnderLock = Atomic<Int>(0)

    /// Calls `body` with each item of `query` in key order, borrowed: until the items run out,
    /// `query.limit` items were visited, or `body` returns false. The same items as
    /// `range(_:)`, none of them copied.
    ///
    /// ```swift
    /// var files = 0
    /// try tree.forEach(RangeQuery(prefix: Array("dir/".utf8), delimiter: UInt8(ascii: "/"))) { item in
    ///     if !item.isCommonPrefix { files += 1 }
    ///     return true
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - query: Which items (see `RangeQuery`).
    ///   - body: Called once per item; returns whether to go on. The view's `key` and `value`
    ///     are valid **only during that call** (the key lies in the walk's buffer, the value in
    ///     the cached blob): copy what must outlive it. To stop with an error of another type,
    ///     keep it in a local variable and return false.
    /// - Throws: `.closed`, `.corrupted`, `.io`, and what `body` throws (the walk stops there).
    ///
    /// The whole walk holds the tree's shared lock (unlike `range`, which reads without it when
    /// it can, `forEach` cannot throw a walk away and start again: `body` has seen its items):
    /// writers wait until it returns, and **`body` must not call this tree except `get`** (which
    /// takes no lock): not a write (it waits for the lock `body` holds), nor `range`, `forEach`
    /// or `hasKeys` (they may fall back to the lock, and the lock prefers writers, so taking it
    /// again behind a waiting writer deadlocks as well). Collect what needs the tree
    /// and act on it after `forEach` returns. Other trees may be used. Keep `body` short when
    /// writers are waiting.
    public func forEach(_ query: RangeQuery, _ body: (RangeView) throws(HoltError) -> Bool) throws(HoltError) {
        try flushIfBuffered(under: query.prefix)
        try withSharedLock { () throws(HoltError) in
            guard !isClosed else { throw .closed }
            try index.visit(query, body)
        }
    }

    /// The items below `prefix` after `startAfter`, at most `limit`, rolled up at `delimiter`.
    /// The same as `range(RangeQuery(...))`.
    public func range(
        prefix: [UInt8] = [], startAfter: [UInt8]? = nil, delimiter: UInt8? = nil, limit: Int? = nil
    ) throws(HoltError) -> [RangeItem] {
        try range(RangeQuery(prefix: prefix, startAfter: startAfter, delimiter: delimiter, limit: limit))
    }

    /// Whether any key starts with `prefix`.
    /// - Throws: `.closed`, `.corrupted`, `.io`.
    ///
    /// Takes no tree-wide lock nor latch, as `get`: it answers as of the last committed batch
    /// (beside a batch that has touched keys under `prefix` it tries again), falling back to the
    /// shared lock after a few tries.
    public func hasKeys(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool {
        try flushIfBuffered(under: prefix)
        attempts: for _ in 0..<Self.optimisticReadAttempts {
            guard isOpen.load(ordering: .acquiring) else { throw .closed }
            let outcome = try visibility.readUntouched({ $0.touches(prefix: prefix) }) { () throws(HoltError) -> Bool? in
                try index.hasKeysOptimistically(withPrefix: prefix)
            }
            switch outcome {
            case .answer(let found): return found
            case .retry: continue
            case .useLock: break attempts
            }
        }
        return try withSharedLock { () throws(HoltError) -> Bool in
            guard !isClosed else { throw .closed }
            return try index.hasKeys(withPrefix: prefix)
        }
    }

    // MARK: Writes

    /// Sets `key` to `value`. A batch of one op; see `apply(_:)` for what it throws.
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(HoltError) {
        try apply([.put(key: key, value: value)])
    }

    /// Removes `key`; removing an absent key does nothing. A batch of one op.
    public func delete(_ key: [UInt8]) throws(HoltError) {
        try apply([.delete(key: key)])
    }

    /// Moves the value at `from` to `to`, replacing `to`. Throws `.conditionFailed` when `from` is absent.
    public func rename(from: [UInt8], to: [UInt8]) throws(HoltError) {
        try apply([.rename(from: from, to: to)])
    }

    /// Moves `from` and everything below `from/` to `to`, at a cost independent of how many keys
    /// move. See `TxnOp.renamePrefix` for the conditions.
    public func renamePrefix(from: [UInt8], to: [UInt8]) throws(HoltError) {
        try apply([.renamePrefix(from: from, to: to)])
    }

    /// Applies `ops` atomically, as one log record: all of them or, when a condition fails, none.
    /// Returns when the batch is as durable as `Options.sync` asks.
    ///
    /// - Throws: `.conditionFailed` (nothing applied), `.keyTooLong`, `.valueTooLarge`,
    ///   `.invalidKey` (nothing applied), `.io(errno: ENOSPC, ...)` when the disk is full
    ///   (nothing applied; the tree goes on, and a batch that frees space may still pass, using
    ///   room the log keeps for it: one that removes more keys than it adds and adds no more key
    ///   and value bytes than it removes, such as deletes, or a delete with rewrites of other
    ///   values at no greater length), other `.io` or `.previousIOFailure` (the tree refuses writes
    ///   until reopened), `.closed`.
    public func apply(_ ops: [TxnOp]) throws(HoltError) {
        try waitUntilDurable(applyDeferringDurability(ops))
    }

    /// Applies `ops` as `apply` does, but returns as soon as readers see them, before the log
    /// has made them durable; `waitUntilDurable(_:)` then waits as `apply` would. A caller that
    /// must keep other state in step with the tree (HoltFS's node table) updates it between the
    /// two calls, under its own lock, without holding that lock through a log flush.
    ///
    /// - Throws: what `apply` throws before its wait.
    public func applyDeferringDurability(_ ops: [TxnOp]) throws(HoltError) -> Commit {
        // Through a buffer pointer: ops are borrowed in place, not copied (retained) out of the array.
        try ops.withUnsafeBufferPointer { (buffer) throws(HoltError) in
            for position in buffer.indices { try Self.validate(buffer[position]) }
        }
        if let parallel = try commitInParallel(ops) { return parallel }
        return try commit { () throws(HoltError) -> UInt64? in try applyLocked(ops) }
    }

    /// The write path every kind of batch takes (ops of the default family, ops spanning
    /// column families, a family's creation or drop): the throttle, then `body` holding
    /// `writer` and `lock` exclusively, which changes the index and appends the log record and
    /// returns its LSN (nil: nothing changed, nothing logged); then an automatic checkpoint
    /// asked for when one is wanted.
    @inline(__always)
    func commit(_ body: () throws(HoltError) -> UInt64?) throws(HoltError) -> Commit {
        // Writers that outrun the checkpointer are slowed a little per batch, holding no lock
        // (`WriteThrottle`); only at the hard bound does a batch wait for a checkpointer's round.
        if case .delay(let nanoseconds) = throttle.decide(dirtyBytes: store.dirtyBytes, logBytes: log.bytesSinceTrim) {
            throttle.sleep(nanoseconds)
        }
        while true {
            // nil: the writers reached the hard bound; wait for the checkpointer, holding no lock.
            let outcome = try withWriterLock { () throws(HoltError) -> UInt64?? in
                guard !isClosed else { throw .closed }
                guard !failed else { throw .previousIOFailure }
                if checkpointOverdue(), checkpointDue() { return nil }
                let lsn = try lock.withWriteLock { () throws(HoltError) -> UInt64? in try body() }
                if lsn != nil, checkpointWanted(), checkpointDue() { checkpointer.request() }
                return .some(lsn)
            }
            if let lsn = outcome {
                // Under `.none` the log's buffer is written out here, past a MiB, not under the locks.
                if lsn != nil { try log.writeIfLarge() }
                return Commit(lsn: lsn)
            }
            throttle.stoppedBatches.wrappingAdd(1, ordering: .relaxed)
            checkpointer.waitForRound()
        }
    }

    /// The part of a batch readers must not see half of: the index changes and the log append.
    /// Call holding `writer` and `lock` exclusively. Returns the batch's LSN, nil when it changed
    /// nothing.
    private func applyLocked(_ ops: [TxnOp]) throws(HoltError) -> UInt64? {
        if buffers(ops), let outcome = try bufferLocked(ops) { return outcome }
        // Any other batch finds every op before it on the keys it reads or changes in the index
        // (conditions, renames); the buffer's other keys stay buffered.
        if !writeBuffer.isEmpty { try flushWriteBuffer(under: BufferFootprint(ops)) }
        // Readers that take no lock (`get`) see the batch whole or not at all: before-images of
        // the keys it changes, or, for prefix moves, the shared lock.
        let movesPrefixes = ops.contains { if case .renamePrefix = $0 { true } else { false } }
        let installing = InstallingBatch(exclusive: movesPrefixes, ops: ops.count)
        let slot = visibility.begin(installing)
        defer { visibility.end(slot) }
        var applier = BatchApplier(index: index)
        applier.inKeyOrder = store.hasFilledItsCache
        applier.visibility = movesPrefixes ? nil : installing
        return try install(&applier, installing, payloadSize: BatchCodec.encodedSize(ops),
                           perform: { (applier) throws(HoltError) in try applier.performAll(ops) },
                           encode: { BatchCodec.encode(ops, into: &$0) })
    }

    /// Whether `ops` go to the write buffer: the buffer is on, the tree has outgrown its cache
    /// (the condition that turns on `BatchApplier.keyOrder`; a tree that fits never buffers),
    /// and the batch holds only puts, deletes and conditions on one key (`.exists`, `.absent`,
    /// `.value`, `.noDescendants`; not `.noDescendantLongerThan`, which walks keys).
    private func buffers(_ ops: [TxnOp]) -> Bool {
        guard options.writeBufferLimit > 0, !ops.isEmpty,
              options.writeBufferWhileCacheFits || store.hasFilledItsCache else { return false }
        return ops.withUnsafeBufferPointer { buffer in
            for position in buffer.indices {
                switch buffer[position] {
                case .put, .delete, .expect(_, .exists), .expect(_, .absent), .expect(_, .value), .expect(_, .noDescendants):
                    continue
                default: return false
                }
            }
            return true
        }
    }

    /// Checks the conditions of a batch bound for the write buffer, in order, each against what
    /// its key holds at that point: the batch's own earlier put or delete of the key, else the
    /// buffer's entry, else the index (a lookup that may read a blob; the puts and deletes then
    /// cost none). A `.noDescendants` is checked in the index alone, when neither the batch
    /// before it nor the buffer holds a key below (`WriteBuffer.holdsKeys(below:)`); otherwise
    /// the batch is not buffered. The index is read without latches (mapped reads for blobs a
    /// full cache does not hold), under them when that fails. Call holding `writer` and `lock`
    /// exclusively.
    /// - Returns: false when the batch must be applied instead (nothing done yet).
    /// - Throws: `.conditionFailed` as `BatchApplier` names it (nothing applied), or what
    ///   reading the index throws.
    private func checkBufferedConditions(_ ops: [TxnOp]) throws(HoltError) -> Bool {
        for position in ops.indices {
            guard case .expect(let key, let expectation) = ops[position] else { continue }
            if case .noDescendants = expectation {
                let below = key + [BufferPrefixCounts.slash]
                let touchedBelow = ops[..<position].contains { op in
                    switch op {
                    case .put(let other, _), .delete(let other): KeyOrder.begins(other, with: below)
                    default: false
                    }
                }
                if touchedBelow || writeBuffer.holdsKeys(below: key) { return false }
                guard !(try index.hasKeysPreferringOptimistic(withPrefix: below)) else { throw expectation.unmet(at: position, key: key) }
                continue
            }
            var current: [UInt8]?? = nil
            search: for earlier in ops[..<position].reversed() {
                switch earlier {
                case .put(key, let value): current = .some(value); break search
                case .delete(key): current = .some(nil); break search
                default: continue
                }
            }
            if current == nil, case .value(let buffered) = writeBuffer.lookup(key) { current = .some(buffered) }
            let value: [UInt8]?
            if let known = current { value = known } else { value = try index.getPreferringOptimistic(key) }
            guard let holds = expectation.isMet(byValue: value) else { preconditionFailure("not buffered: \(expectation)") }
            guard holds else { throw expectation.unmet(at: position, key: key) }
        }
        return true
    }

    /// A batch of puts and deletes, and conditions on single keys, logged as any batch (same
    /// record: the puts and deletes, conditions are never logged; same LSN, same durability)
    /// and put in the write buffer instead of the index once its conditions hold
    /// (`checkBufferedConditions`); past the buffer's bound, the buffer is flushed here, by the
    /// writer that crossed it. Call holding `writer` and `lock` exclusively. Returns the batch's
    /// LSN, `.some(nil)` for a batch of conditions alone (nothing logged, as for any batch that
    /// changes nothing), nil when the batch must be applied instead (a `.noDescendants` the
    /// buffer cannot answer; nothing done).
    ///
    /// Unlike an applied batch, a buffered one is logged even when it changes nothing (deletes
    /// of absent keys): finding out would cost the blob reads the buffer saves. A batch of only
    /// deletes may use the room the log keeps for freeing space on a full disk.
    private func bufferLocked(_ ops: [TxnOp]) throws(HoltError) -> UInt64?? {
        var changes = ops
        if ops.contains(where: { if case .expect = $0 { true } else { false } }) {
            guard try checkBufferedConditions(ops) else { return nil }
            changes.removeAll { if case .expect = $0 { true } else { false } }
            if changes.isEmpty { return .some(nil) }
        }
        let onlyDeletes = changes.allSatisfy { if case .delete = $0 { true } else { false } }
        let lsn = try log.append(payloadSize: BatchCodec.encodedSize(changes), freesSpace: onlyDeletes, writeWhenLarge: false) {
            BatchCodec.encode(changes, into: &$0)
        }
        if bufferStartLSN == nil { bufferStartLSN = lsn }
        changes.withUnsafeBufferPointer { writeBuffer.insert($0, lsn: lsn) }
        appliedLSN = lsn
        if writeBuffer.bytes >= options.writeBufferLimit {
            // The batch is logged and visible: it stands. A failed flush fails the tree (later
            // writes throw `.previousIOFailure`); reads go on answering from the buffer.
            // Steps until it is under again: one, unless the batch was large beside the bound.
            while writeBuffer.bytes >= options.writeBufferLimit, (try? flushWriteBufferStep()) != nil {}
        }
        return lsn
    }

    /// Applies the write buffer to the index in key order (each blob read and written once),
    /// then empties it (entries leave only once the index holds them, so a `get` finds every
    /// key in one or the other). Does nothing when the buffer is empty. Call holding `writer`
    /// and `lock` exclusively.
    /// - Throws: `.previousIOFailure`; `.io`, `.corrupted` (the tree then refuses writes; the
    ///   buffer keeps its entries, the log has them all).
    func flushWriteBuffer() throws(HoltError) {
        guard !writeBuffer.isEmpty else { return }
        try applyBuffered(writeBuffer.ops()) { writeBuffer.removeAll() }
        bufferStartLSN = nil
    }

    /// Applies the buffered entries `footprint` covers to the index and drops them from the
    /// buffer (nothing when it covers none): what a batch or a read that does not go through
    /// the buffer must find in the index, while the buffer's other entries keep gathering keys.
    /// A conditional batch beside a full 32 MiB buffer flushed the whole of it first (400–550
    /// ms); it now applies the few keys it names. Call holding `writer` and `lock` exclusively.
    /// - Throws: as `flushWriteBuffer`.
    func flushWriteBuffer(under footprint: BufferFootprint) throws(HoltError) {
        guard !writeBuffer.isEmpty else { return }
        let (ops, oldest) = writeBuffer.ops(under: footprint)
        guard !ops.isEmpty else { return }
        try applyBuffered(ops) { writeBuffer.remove(ops) }
        // The oldest buffered batch moves on only when one of these entries held it.
        if oldest == bufferStartLSN { bufferStartLSN = writeBuffer.oldestLSN() }
    }

    /// One flush step, what a writer that takes the buffer past its bound runs: applies an
    /// eighth of the buffered keys (`flushStepShare`), the key range from `flushCursor` on
    /// (`WriteBuffer.stepOps`), and moves the cursor past it; at the last key the sweep starts
    /// over. The buffer stays nearly full, and each range is applied when it has gathered keys
    /// for a whole sweep: at 2M keys through a 32 MiB cache a load read and wrote 5.5 and 5.8 KB
    /// a key with steps against 10.0 and 10.2 KB with whole flushes. (Steps that started at the
    /// oldest entry's key instead, to move the oldest batch on, fragmented the key space: 11.8
    /// and 12.1 KB.) Call holding `writer` and `lock` exclusively.
    /// - Throws: as `flushWriteBuffer`.
    func flushWriteBufferStep() throws(HoltError) {
        guard !writeBuffer.isEmpty else { return }
        let (ops, next) = writeBuffer.stepOps(count: writeBuffer.count / Self.flushStepShare, from: flushCursor)
        try applyBuffered(ops) { writeBuffer.remove(ops) }
        flushCursor = next
        bufferStartLSN = writeBuffer.oldestLSN()
    }

    /// A flush step applies one in this many of the buffered keys: the writer that crosses the
    /// bound waits for that share (a 16 MiB buffer: 27–33 ms, 32 MiB: 54 ms; a whole 16 MiB flush
    /// took 180–220 ms).
    static let flushStepShare = 8

    /// Applies buffered `ops` (puts and deletes, published) to the index in key order, then
    /// `remove`s them from the buffer. Readers beside it see it as a batch: a `get` of a
    /// buffered key answers from the buffer, `hasKeys` of a prefix it touches tries again. Call
    /// holding `writer` and `lock` exclusively.
    /// - Throws: `.previousIOFailure`; `.io`, `.corrupted` (the tree then refuses writes; the
    ///   buffer keeps its entries, the log has them all).
    private func applyBuffered(_ ops: [TxnOp], thenRemove remove: () -> Void) throws(HoltError) {
        guard !failed else { throw .previousIOFailure }
        let started = Monitor.monotonicNanoseconds()
        let installing = InstallingBatch(exclusive: false, ops: ops.count)
        let slot = visibility.begin(installing)
        var applier = BatchApplier(index: index)
        applier.inKeyOrder = true
        applier.visibility = installing
        do throws(HoltError) { try applier.performAll(ops) } catch {
            installing.abandon()
            visibility.end(slot)
            failed = true
            throw error
        }
        visibility.end(slot)
        remove()
        let took = Monitor.monotonicNanoseconds() &- started
        writeBuffer.flushes.wrappingAdd(1, ordering: .relaxed)
        writeBuffer.flushNanoseconds.wrappingAdd(took, ordering: .relaxed)
        writeBuffer.longestFlushNanoseconds.max(took, ordering: .relaxed)
    }

    /// `flushWriteBuffer` for a reader that must see every committed op in the index
    /// (snapshots): takes `writer` and `lock` only when the buffer holds something.
    func flushIfBuffered() throws(HoltError) {
        guard !writeBuffer.isEmpty else { return }
        try withWriterLock { () throws(HoltError) in
            guard !isClosed else { throw .closed }
            try lock.withWriteLock { () throws(HoltError) in try flushWriteBuffer() }
        }
    }

    /// `flushWriteBuffer(under:)` for a reader of the keys under `prefix` (`range`, `forEach`,
    /// `hasKeys`), which must find every committed op on them in the index: takes `writer` and
    /// `lock` only when the buffer holds such a key (one lookup for a `dir/` prefix once the
    /// buffer keeps its prefix counts, else a walk of the entries).
    ///
    /// When no batch was buffered since the last such flush, it flushes the whole buffer
    /// instead: reads with no writes between them (a `find` over a tree after a load) then pay
    /// one flush and find the buffer empty, instead of each walking it and flushing its share.
    /// Reads between writes (a listing beside a load) flush only their prefix.
    func flushIfBuffered(under prefix: [UInt8]) throws(HoltError) {
        guard writeBuffer.holdsKeys(withPrefix: prefix) else { return }
        try withWriterLock { () throws(HoltError) in
            guard !isClosed else { throw .closed }
            try lock.withWriteLock { () throws(HoltError) in
                let batches = writeBuffer.batchesBuffered
                if batches == batchesAtLastReaderFlush {
                    try flushWriteBuffer()
                } else {
                    try flushWriteBuffer(under: BufferFootprint(prefix: prefix))
                }
                batchesAtLastReaderFlush = batches
            }
        }
    }

    /// The steps every batch shares once its applier is set up (`applyLocked`,
    /// `applyFamiliesLocked`): `perform` changes the index; a refused op (a condition, a bad
    /// key) undoes what was done and throws, any other failure fails the tree; a batch that
    /// changed something is logged (undone if the log refuses it) and its LSN returned. Call
    /// holding `writer` and `lock` exclusively.
    func install<Applier: UndoableBatch>(
        _ applier: inout Applier, _ installing: InstallingBatch?, payloadSize: Int,
        perform: (inout Applier) throws(HoltError) -> Void, encode: (inout [UInt8]) -> Void
    ) throws(HoltError) -> UInt64? {
        do throws(HoltError) {
            try perform(&applier)
        } catch {
            installing?.abandon()
            switch error {
            case .conditionFailed, .invalidKey:
                do throws(HoltError) { try applier.undo() } catch { failed = true; throw error }
            default:
                failed = true
            }
            throw error
        }
        guard applier.changedAnything else { return nil }
        let lsn: UInt64
        do throws(HoltError) {
            lsn = try log.append(payloadSize: payloadSize, freesSpace: applier.freesSpace, writeWhenLarge: false, writePayload: encode)
        } catch {
            do throws(HoltError) { try applier.undo() } catch { failed = true }
            throw error
        }
        appliedLSN = lsn
        lastDirectLSN = lsn
        return lsn
    }

    /// Waits until the batch of `commit` is as durable as `Options.sync` asks (a log flush
    /// shared with other waiters under `.always`).
    /// - Throws: `.io` (later writes then throw `.previousIOFailure`), `.previousIOFailure`.
    public func waitUntilDurable(_ commit: Commit) throws(HoltError) {
        if let lsn = commit.lsn { try log.waitDurable(lsn) }
    }

    /// Makes every batch applied so far durable, whatever `Options.sync` says: one log flush.
    /// The corresponding FUSE op is `fsync`.
    /// - Throws: `.io` (later writes then throw `.previousIOFailure`), `.previousIOFailure`, `.closed`.
    public func sync() throws(HoltError) {
        try withSharedLock { () throws(HoltError) in
            guard !isClosed else { throw .closed }
        }
        try log.sync()
    }

    /// Writes the cached blobs to the data file and trims the log, now.
    ///
    /// Checkpoints also happen by themselves when the log passes `Options.checkpointLogBytes`,
    /// when dirty blobs fill half the cache, and at `close()`.
    /// - Throws: `.io(errno: ENOSPC, ...)` when the disk is full (nothing lost, the tree goes
    ///   on: the log keeps what the checkpoint would have covered), other `.io` (later writes
    ///   then throw `.previousIOFailure`), `.closed`.
    public func checkpoint() throws(HoltError) {
        try checkpointing.withLock { () throws(HoltError) in
            do throws(HoltError) { try runCheckpoint(onlyIfWanted: false) } catch {
                switch error {
                case .closed, .previousIOFailure: break
                default: withWriterLock { noteCheckpointFailure(error) }
                }
                throw error
            }
        }
    }

    /// Whether the log or the cache calls for an automatic checkpoint (reads figures only: any
    /// thread may ask).
    ///
    /// A checkpoint writes every dirty blob (512 KiB each, however few bytes of it changed) and
    /// lets the log be trimmed; what it bounds is the log a reopen replays. So: when dirty blobs
    /// fill half the cache, always (they must go somewhere). Past `checkpointLogBytes` of log,
    /// only when the checkpoint writes at most as many blob bytes as the log bytes it trims (a
    /// write amplification of at most one over the log): a random-key load dirties nearly every
    /// blob, and checkpointing it every `checkpointLogBytes` rewrites the whole tree each time.
    /// Past `checkpointLogBytesLimitFactor` times `checkpointLogBytes`, always, which bounds the
    /// replay at open (about a second per 16-32 MiB of log on this class of machine).
    func checkpointWanted() -> Bool {
        let logBytes = log.bytesSinceTrim
        guard logBytes >= options.checkpointLogBytes else {
            return throttle.countedDirtyBytes(store.dirtyBytes, logBytes: logBytes) >= options.cacheBytes / 2
        }
        if logBytes >= Self.checkpointLogBytesLimitFactor * options.checkpointLogBytes { return true }
        let dirty = store.dirtyBytes
        return dirty <= logBytes || dirty >= options.cacheBytes / 2
    }

    /// The log may grow to this many times `Options.checkpointLogBytes` while a checkpoint would
    /// write more blob bytes than log bytes it trims (see `checkpointWanted`).
    /// (Where the writers' slowdown starts, too: `WriteThrottle.softLogFactor`.)
    static let checkpointLogBytesLimitFactor = WriteThrottle.softLogFactor

    /// Whether the writers are at the hard bound (`WriteThrottle`): past three times
    /// `Options.checkpointLogBytes` of log, or with dirty blobs filling three quarters of the
    /// cache, a batch waits for the checkpointer's round before it is applied (reads figures
    /// only: any thread may ask).
    func checkpointOverdue() -> Bool {
        throttle.atHardBound(dirtyBytes: store.dirtyBytes, logBytes: log.bytesSinceTrim)
    }

    /// One round of the background checkpointer: a checkpoint when one is still wanted and due.
    /// Holds `writer` (batches wait) but not `lock`: reads go on while the blobs are written.
    /// A failure does not fail any batch (they are logged): a full disk postpones the next
    /// checkpoint, anything else stops later writes (`failed`).
    /// A periodic round (no writer asked) checkpoints whatever is left dirty or logged, then
    /// gives space back (`compactIfWorthIt`).
    private func checkpointIfWanted(periodic: Bool) {
        let succeeded = checkpointing.withLock { () -> Bool in
            do throws(HoltError) { try runCheckpoint(onlyIfWanted: true, periodic: periodic) } catch {
                switch error {
                case .closed, .previousIOFailure: break
                default: withWriterLock { noteCheckpointFailure(error) }
                }
                return false
            }
            return true
        }
        // A failed reclaim loses nothing (the slots stay free and are tried again next time).
        if periodic && succeeded { try? compactIfWorthIt() }
    }

    /// One checkpoint (when `onlyIfWanted`, only if one is still wanted and due): the log rolled
    /// to a new segment (holding no tree lock), captured holding `writer` (batches wait for that
    /// only: flags and a copy of the blob map), then the
    /// log made durable through the captured batch (log before data), the blobs, the map and the
    /// manifest written while batches and reads go on, and the log trimmed. A full disk (a blob
    /// or map write refused) leaves the previous checkpoint and the whole log in place and
    /// throws; the store and the log go on. Call holding `checkpointing`.
    private func runCheckpoint(onlyIfWanted: Bool, periodic: Bool = false) throws(HoltError) {
        let wanted = try withWriterLock { () throws(HoltError) -> Bool in
            guard !isClosed else { throw .closed }
            guard !failed else { throw .previousIOFailure }
            let quietWork = periodic && (log.bytesSinceTrim > 0 || store.dirtyBytes > 0)
            return !onlyIfWanted || ((checkpointWanted() || quietWork) && checkpointDue())
        }
        guard wanted else { return }
        // Batches applied from the roll on go to a new segment: the trim below drops every older
        // one. Rolled before the capture and outside the writer lock (its write, two syncs and
        // the new segment's creation held batches up to 60 ms): the few batches applied between
        // the roll and the capture land in the new segment; the checkpoint covers them and a
        // replay from its LSN skips them, and the next checkpoint's trim drops that segment.
        try log.roll()
        // Only what must be atomic with the batches is taken holding `writer`: the LSN, the
        // root, the dirty frames and the map.
        let capture = try withWriterLock { () throws(HoltError) -> BufferManager.CheckpointCapture in
            guard !isClosed else { throw .closed }
            guard !failed else { throw .previousIOFailure }
            // A checkpoint records no LSN whose ops are only in the write buffer: it records the
            // batch before the buffer's oldest (`lastAppliedLSN`), and the log keeps the buffered
            // batches. The index may hold some of their ops already (flush steps); a replay
            // applies them again, which leaves every key as its last op set it (they are puts and
            // deletes without conditions). That holds only while every batch after the recorded
            // LSN is such: a batch applied straight to the index since (a rename, a condition on
            // what lies below a key, a family's batch: `lastDirectLSN`) would be applied twice,
            // and a rename or a condition does not apply to a state that already holds it (or
            // holds later puts). So then, and for a checkpoint asked for (`checkpoint()`,
            // `close`), or one whose predecessor already stopped before the same buffered batch,
            // the buffer is flushed first: the log kept for the buffer spans at most one
            // checkpoint interval.
            if let start = bufferStartLSN,
               !onlyIfWanted || start <= store.anchor.checkpointLSN + 1 || lastDirectLSN >= start {
                try lock.withWriteLock { () throws(HoltError) in try flushWriteBuffer() }
            }
            if bufferStartLSN != nil { checkpointsBesideWriteBuffer.wrappingAdd(1, ordering: .relaxed) }
            return try store.captureCheckpoint(
                root: index.root, lsn: lastAppliedLSN, user: [], catalog: families.withLock { $0.catalogRoot })
        }
        checkpointsTaken.wrappingAdd(1, ordering: .relaxed)
        let started = Monitor.monotonicNanoseconds()
        defer { checkpointTimes.record(since: started) }
        try log.sync()
        try store.writeCheckpoint(capture)
        withWriterLock { checkpointRetry = nil }
        // Segments a change-feed consumer has not read stay, within the retention bound.
        try log.trim(through: capture.lsn, keepingAfter: changeFeeds.floor, retentionBytes: options.changeRetentionBytes)
        // The slots only the previous checkpoint used are free now: their blocks go back, but
        // for as many as the next checkpoint or write-outs may fill (a cacheful) when writers
        // are busy: punching those would only have the file system allocate them again (a
        // load larger than the cache punched 0.68 slots per key). A quiet round punches all.
        _ = try? store.reclaimFreeSlots(keeping: periodic ? 0 : store.capacity)
    }

    /// Waits until the background checkpointer has nothing asked of it and nothing under way
    /// (tests that count checkpoints).
    func waitForCheckpointer() {
        checkpointer.waitUntilIdle()
    }

    /// Whether an automatic checkpoint may run now: always, unless the last one found the disk
    /// full and neither the log has grown `checkpointRetryLogBytes` since nor
    /// `checkpointRetryNanoseconds` have passed. Call holding `writer`.
    func checkpointDue() -> Bool {
        guard let retry = checkpointRetry else { return true }
        return log.bytesSinceTrim >= retry.logBytes || Monitor.monotonicNanoseconds() >= retry.time
    }

    /// After a failed checkpoint: a full disk (a blob or map write refused, the store and the log
    /// are intact) postpones the next automatic one; anything else fails the tree. Call holding
    /// `writer`.
    private func noteCheckpointFailure(_ error: HoltError) {
        if Syscall.isOutOfSpace(error) {
            checkpointRetry = (log.bytesSinceTrim + Self.checkpointRetryLogBytes,
                               Monitor.monotonicNanoseconds() + Self.checkpointRetryNanoseconds)
        } else {
            failed = true
        }
    }

    // MARK: Checks

    /// Runs `body` when the tree is open (for `statistics()`), taking no lock: what it reads
    /// are counters of their own.
    func withOpenState<R>(_ body: () throws(HoltError) -> R) throws(HoltError) -> R {
        guard isOpen.load(ordering: .acquiring) else { throw .closed }
        return try body()
    }

    /// Runs `body` under the shared lock when the tree is open: no batch changes a blob meanwhile
    /// (for the space figures, which read cached blobs' headers).
    func withoutWriters<R>(_ body: () throws(HoltError) -> R) throws(HoltError) -> R {
        try withSharedLock { () throws(HoltError) -> R in
            guard !isClosed else { throw .closed }
            return try body()
        }
    }

    var storeStatistics: StoreStatistics { store.statistics }
    var storeDirtyBytes: Int { store.dirtyBytes }
    var logStatistics: WriteAheadLog.Statistics { log.statistics }

    /// Walks every blob, node and checksum of the database and returns what is wrong (empty when sound).
    /// - Throws: `.closed`.
    public func verify() throws(HoltError) -> [String] {
        // No checkpoint is writing blobs and no batch runs while the store's bookkeeping is checked.
        try checkpointing.withLock { () throws(HoltError) -> [String] in
            try withWriterLock { () throws(HoltError) -> [String] in
                guard !isClosed else { throw .closed }
                if !writeBuffer.isEmpty { try lock.withWriteLock { () throws(HoltError) in try flushWriteBuffer() } }
                return try withSharedLock { () throws(HoltError) -> [String] in
                guard !isClosed else { throw .closed }
                return store.verifyBlobs() + index.verify() + verifyFamilies()
            } }
        }
    }

    static func validate(_ op: TxnOp) throws(HoltError) {
        switch op {
        case .put(let key, let value):
            try validate(key: key)
            guard value.count <= maxValueLength else {
                throw .valueTooLarge(length: value.count, limit: maxValueLength)
            }
        case .delete(let key), .expect(let key, _):
            try validate(key: key)
        case .rename(let from, let to), .renamePrefix(let from, let to):
            try validate(key: from)
            try validate(key: to)
        }
    }

    private static func validate(key: [UInt8]) throws(HoltError) {
        guard key.count <= maxKeyLength else { throw .keyTooLong(length: key.count, limit: maxKeyLength) }
        guard !containsNUL(key) else { throw .invalidKey(reason: "a key may not contain a NUL byte") }
    }

    /// Whether `key` holds a 0 byte (`memchr`: every put checks its key).
    static func containsNUL(_ key: [UInt8]) -> Bool {
        key.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return false }
            return memchr(base, 0, raw.count) != nil
        }
    }
}

/// What opening a database found and repaired.
public struct RecoveryReport: Sendable, Equatable {
    /// The sequence number of the last checkpoint the database opened from.
    public var checkpointLSN: UInt64
    /// How many logged batches were applied again.
    public var replayedBatches: Int
    /// How many bytes of a torn record at the log's end were cut off (never acknowledged).
    public var tornBytesCut: Int
}
