import Synchronization
/// The engine's write-ahead log: every batch is a record here before it counts as committed.
///
/// Concepts. An *LSN* (log sequence number) numbers records 1, 2, 3, ... with no gaps inside a
/// segment. A *segment* is one file of records (`LogSegment`); a new one starts when the next
/// record would take the current one past `segmentLimit` bytes, at `trim`, and when `setNextLSN`
/// skips numbers. *Admission*: a segment's file is preallocated (`fallocate`) in chunks ahead of
/// the records, and `append` admits a record only into room already allocated, so writing it can
/// never fail for want of space; when no more room can be allocated, `append` throws `ENOSPC`
/// and the log goes on (see `WriteAheadLog+Admission.swift`). A record is
/// *written* once `pwrite` put it in the segment and *durable* once `fdatasync` returned after
/// that. *Group commit*: concurrent `waitDurable` callers share one write and one `fdatasync` —
/// the first becomes the leader and writes everything buffered so far, the others wait on the
/// monitor and find their record durable when it is done (or lead the next round).
///
/// Life cycle: `open`, then `replay(after:_:)` exactly once (also for a new log), then
/// `append`/`waitDurable`/`sync`/`trim` from any threads, then `close`.
///
/// Invariants:
/// 1. `durableLSN <= writtenLSN <= nextLSN - 1`; the buffer holds exactly the records
///    `writtenLSN + 1 ..< nextLSN` in LSN order (LSN order = append order = apply order).
/// 2. Only the holder of the I/O token (`State.ioBusy`) touches `io` and the files.
/// 3. Every segment but the last is durable in full before any byte goes into the next one, so
///    damage in a segment that is not the last is corruption, never a torn write.
/// 4. A record's durable mark is a durable LSN read when it was appended, so it never claims more
///    than was durable when its bytes reached the file.
/// 5. After a failed write, sync or segment change (`State.failed`), nothing is written again:
///    every later call throws `.previousIOFailure` (an fsync is never retried; see
///    https://wiki.postgresql.org/wiki/Fsync_Errors). A full disk found while allocating room
///    (before anything was written or synced) is not a failure: that append throws `ENOSPC`.
/// 6. `State.room >= 0`: buffered records never reach past the current segment's allocation;
///    when nobody holds the I/O token, `room == io.allocated - io.size - pending.count`.
///
/// `@unchecked Sendable`: `state` is guarded by `monitor`; `io` is owned by whichever thread
/// holds the I/O token, which it takes and returns under `monitor` (so each owner sees the
/// previous owner's writes); `directory`, `syncMode` and `segmentLimit` never change.
final class WriteAheadLog: @unchecked Sendable {
    /// The `wal/` directory holding the segments.
    let directory: String
    /// When `waitDurable` returns.
    let syncMode: SyncMode
    /// A segment is closed and a new one started once it holds this many bytes.
    let segmentLimit: Int
    /// Under `.none`, buffered records are written (not synced) once they pass this many bytes.
    static let unsyncedWriteThreshold = 1 << 20
    /// A write buffer larger than this is freed after use instead of kept for the next round.
    static let retainedBufferBytes = 8 << 20
    /// A segment's file grows (is preallocated) by this much at a time (less for tiny segments).
    static let allocationChunk = 1 << 20
    /// Room kept allocated for batches that free space (deletes, unlinks): ordinary batches may not use
    /// it, so a full disk can still be emptied through the tree.
    static let spaceReserve = 64 << 10

    /// The state shared by appenders, waiters and the flusher. Guarded by `monitor`.
    struct State {
        /// Encoded records not yet written: LSNs `writtenLSN + 1 ..< nextLSN`.
        var pending: [UInt8] = []
        /// How many records `pending` holds.
        var pendingRecords = 0
        /// Records written but not yet synced.
        var unsyncedRecords = 0
        /// The LSN the next append gets.
        var nextLSN: UInt64 = 1
        /// Every LSN up to this one is in the segment file.
        var writtenLSN: UInt64 = 0
        /// Every LSN up to this one is durable.
        var durableLSN: UInt64 = 0
        /// Someone holds the I/O token (see invariant 2).
        var ioBusy = false
        /// A write or sync failed (see invariant 5).
        var failed = false
        /// `replay` has run.
        var replayed = false
        /// `close` has run.
        var closed = false
        /// Tells the periodic flusher to stop.
        var stopFlusher = false
        /// Record bytes in the log since the last trim (or in the whole log after open).
        var bytesSinceTrim = 0
        /// Bytes that may still be appended to `pending` before the current segment needs more
        /// allocated room (invariant 6).
        var room = 0
        /// Counters.
        var statistics = Statistics()
        /// Every record with an LSN above this one is still in the log's files (or buffered):
        /// the previous last LSN of the oldest segment on disk. Rises when `trim` removes
        /// segments. The change feed reads history only after it (`WriteAheadLog+Feed.swift`).
        var heldAfter: UInt64 = 0
        /// The highest checkpoint LSN `trim` was given: segments whose records all lie at or
        /// below it are kept only for change-feed consumers and do not count in `bytesSinceTrim`.
        var trimmedThrough: UInt64 = 0
        /// Record bytes of the segments kept only for change-feed consumers (see `trimmedThrough`).
        var retainedBytes = 0
        /// Threads waiting in `waitForChanges` for the horizon to move (an append under `.none`
        /// broadcasts only when there are some).
        var changeWaiters = 0
    }

    /// A closed segment kept on disk until `trim` removes it.
    struct OlderSegment {
        /// Its number.
        var number: UInt64
        /// The last LSN it accounts for (its last record's, or `firstLSN - 1` when it has none).
        var lastLSN: UInt64
        /// The bytes of its records.
        var recordBytes: Int
    }

    /// The files. Owned by the holder of the I/O token.
    struct IOState {
        /// The descriptor of the segment records are appended to (-1 before replay and after close).
        var file: Int32 = -1
        /// Its header.
        var current = LogSegment(number: 0, firstLSN: 1, previousLastLSN: 0)
        /// Its size in bytes (the offset of the next write).
        var size = 0
        /// How many of its bytes are allocated (preallocated zeros past `size`): writes below
        /// this offset cannot fail for want of space.
        var allocated = 0
        /// The last LSN it accounts for.
        var lastLSN: UInt64 = 0
        /// The bytes of its records.
        var recordBytes = 0
        /// Closed segments, oldest first.
        var older: [OlderSegment] = []
        /// The buffer the leader writes from; swapped with `State.pending`, so appends continue
        /// into the other one during the write.
        var spare: [UInt8] = []
    }

    let monitor = Monitor()
    /// Guarded by `monitor`.
    var state = State()
    /// Wakes change-feed readers waiting asynchronously when the feed's horizon moves
    /// (`WriteAheadLog+Feed.swift`). Thread-safe itself (its own lock, a leaf).
    let feedNotifier = ChangeNotifier()
    /// Owned by the holder of the I/O token.
    var io = IOState()
    /// The periodic flusher. Guarded by `monitor`.
    private var flusher: PlainThread?

    private init(directory: String, syncMode: SyncMode, segmentLimit: Int) {
        self.directory = directory
        self.syncMode = syncMode
        self.segmentLimit = segmentLimit
    }

    /// Opens the log in `directory` (`<db>/wal/`), creating the directory when missing.
    ///
    /// Nothing is read yet: call `replay(after:_:)` next, before any append.
    /// - Parameters:
    ///   - directory: The log directory.
    ///   - sync: When `waitDurable` returns; `.periodic` starts a flusher thread, which holds
    ///     the log until `close()` stops it.
    ///   - segmentBytes: The size past which a new segment starts (64 MiB; tests use less).
    /// - Throws: `.io` when the directory cannot be created.
    static func open(directory: String, sync: SyncMode, segmentBytes: Int = 64 << 20) throws(HoltError) -> WriteAheadLog {
        if try Syscall.makeDirectories(directory), let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            // A new directory: make its entry in the parent durable too, before segments go in it.
            try Syscall.fsyncDirectory(String(directory[..<slash]))
        }
        let log = WriteAheadLog(directory: directory, syncMode: sync, segmentLimit: max(segmentBytes, LogSegment.headerSize + 1))
        if case .periodic(let milliseconds) = sync {
            let interval = UInt64(max(1, milliseconds)) * 1_000_000
            let thread = PlainThread { log.runFlusher(interval: interval) }
            log.monitor.withLock { log.flusher = thread }
        }
        return log
    }

    /// Closes the segment if `close()` was never called (nothing is synced: an unclosed log is
    /// a crash as far as durability goes).
    deinit {
        if io.file >= 0 { try? Syscall.close(io.file) }
    }

    /// The path of segment `number`.
    func path(ofSegment number: UInt64) -> String {
        directory + "/" + LogSegment.fileName(number)
    }

    // MARK: Appending

    /// Appends a record holding `payload` to the log buffer and returns its LSN.
    ///
    /// Called under the tree's exclusive writer lock, so LSN order is apply order. Makes no
    /// system call, except when the segment's allocated room runs out (once a MiB or so: see
    /// `makeRoom`) and under `.none` when the buffer passes `unsyncedWriteThreshold`.
    /// The record is not durable until `waitDurable(lsn)` (or `sync`) returns.
    /// - Parameter freesSpace: The batch frees space (`BatchApplier.freesSpace`: by its net
    ///   effect it removes keys and adds no bytes): it may use the room kept for that
    ///   (`spaceReserve`), so that a full disk can be emptied.
    /// - Throws: `.io(errno: ENOSPC, ...)` when no room can be allocated for the record (nothing
    ///   was appended, the log goes on); `.previousIOFailure` after a failed write or sync,
    ///   `.closed`, `.valueTooLarge` for a payload over `LogRecord.maxPayload`; `.io` from the
    ///   `.none` write.
    func append(_ payload: [UInt8], freesSpace: Bool = false) throws(HoltError) -> UInt64 {
        try append(payloadSize: payload.count, freesSpace: freesSpace) { $0.append(contentsOf: payload) }
    }

    /// `append(_:freesSpace:)` for a payload that `writePayload` appends (exactly `payloadSize`
    /// bytes) straight into the log's buffer: a batch is encoded once, where it will be written
    /// from, instead of into a payload array that is then copied. `writePayload` runs holding
    /// the log's monitor, so it must be quick and must not call the log.
    /// - Parameter writeWhenLarge: Under `.none`, write the buffer out when it passes
    ///   `unsyncedWriteThreshold`. The tree passes false and calls `writeIfLarge()` once its own
    ///   locks are let go, so that no batch holds them through a write.
    func append(
        payloadSize: Int, freesSpace: Bool = false, writeWhenLarge: Bool = true, writePayload: (inout [UInt8]) -> Void
    ) throws(HoltError) -> UInt64 {
        guard payloadSize <= LogRecord.maxPayload else {
            throw .valueTooLarge(length: payloadSize, limit: LogRecord.maxPayload)
        }
        let recordSize = payloadSize + LogRecord.overhead
        monitor.lock()
        guard !state.closed else { monitor.unlock(); throw .closed }
        guard !state.failed else { monitor.unlock(); throw .previousIOFailure }
        precondition(state.replayed, "WriteAheadLog.replay must run before append")
        if state.room - (freesSpace ? 0 : reserveBytes) < recordSize {
            do throws(HoltError) {
                try makeRoom(for: recordSize, freesSpace: freesSpace)
            } catch {
                monitor.unlock()
                throw error
            }
        }
        let lsn = state.nextLSN
        state.nextLSN += 1
        let before = state.pending.count
        LogRecord.encode(lsn: lsn, durableMark: state.durableLSN, payloadSize: payloadSize, into: &state.pending,
                         writePayload: writePayload)
        let size = state.pending.count - before
        state.room -= size
        state.pendingRecords += 1
        state.bytesSinceTrim += size
        bytesSinceTrimNow.store(state.bytesSinceTrim, ordering: .relaxed)
        pendingBytesHint.store(state.pending.count, ordering: .relaxed)
        state.statistics.records += 1
        state.statistics.bytes += size
        checkInvariants()
        let writeNow = writeWhenLarge && syncMode == .none && state.pending.count >= Self.unsyncedWriteThreshold && !state.ioBusy
        if syncMode == .none {
            // Under `.none` the change feed's horizon is the last append (`waitForChanges`):
            // wake its waiters, when there are any (most appends have none).
            if state.changeWaiters > 0 { monitor.broadcast() }
            feedNotifier.notify()
        }
        monitor.unlock()
        if writeNow { try flush(through: lsn, durable: false) }
        return lsn
    }

    /// Under `.none`, writes the buffered records out when they pass `unsyncedWriteThreshold`
    /// and nobody is writing (the write `append(writeWhenLarge: false)` left to its caller).
    func writeIfLarge() throws(HoltError) {
        guard syncMode == .none, pendingBytesHint.load(ordering: .relaxed) >= Self.unsyncedWriteThreshold else { return }
        monitor.lock()
        let last = state.nextLSN - 1
        let writeNow = state.pending.count >= Self.unsyncedWriteThreshold && !state.ioBusy && !state.closed && !state.failed
        monitor.unlock()
        if writeNow { try flush(through: last, durable: false) }
    }

    /// Returns once record `lsn` is as durable as the sync mode promises.
    ///
    /// Called without the tree's lock, from a plain thread (it blocks). `.always`: returns once
    /// the record is written and `fdatasync`ed; concurrent callers share one write and one sync.
    /// `.periodic` and `.none`: returns at once.
    /// - Throws: `.io` when the round of I/O this caller led failed; `.previousIOFailure` when
    ///   an earlier round (or the one another caller led for this record) did: the record may
    ///   be lost. `.closed` when the log was closed before the record was written.
    func waitDurable(_ lsn: UInt64) throws(HoltError) {
        switch syncMode {
        case .always:
            try flush(through: lsn, durable: true)
        case .periodic, .none:
            let failed = monitor.withLock { state.failed }
            if failed { throw .previousIOFailure }
        }
    }

    /// Makes every record appended so far durable, whatever the sync mode (WAL before data:
    /// a checkpoint calls this before it writes blobs).
    /// - Throws: `.io`, `.previousIOFailure`.
    func sync() throws(HoltError) {
        let last = monitor.withLock { state.nextLSN - 1 }
        try flush(through: last, durable: true)
    }

    /// The bytes of the records the log holds, replay would read them all: grows with every
    /// append, drops at `trim`. The tree checkpoints when this passes `Options.checkpointLogBytes`.
    var bytesSinceTrim: Int { bytesSinceTrimNow.load(ordering: .relaxed) }
    /// `state.pending.count` as the last append or write left it: `writeIfLarge`, which every
    /// batch calls, takes `monitor` only when it is past the threshold (it checks again there).
    let pendingBytesHint = Atomic<Int>(0)
    /// `state.bytesSinceTrim`, stored beside each change of it: every batch reads it (the
    /// throttle, the checkpoint's trigger) without taking `monitor`.
    let bytesSinceTrimNow = Atomic<Int>(0)
    /// The bytes the log's segment files occupy on disk (preallocated room included).
    var allocatedBytes: Int {
        ((try? Syscall.listDirectory(directory)) ?? []).reduce(0) { $0 + Syscall.allocatedBytes(path: directory + "/" + $1) }
    }

    /// The LSN of the last record appended (or replayed); the next append gets `lastLSN + 1`.
    var lastLSN: UInt64 { monitor.withLock { state.nextLSN - 1 } }

    /// Every LSN up to this one is durable.
    var durableLSN: UInt64 { monitor.withLock { state.durableLSN } }

    /// Counters since open.
    var statistics: Statistics { monitor.withLock { state.statistics } }

    // MARK: Group commit

    /// Returns once every LSN up to `lsn` is written (and durable when `durable`), leading a
    /// round of I/O when nobody else is.
    func flush(through lsn: UInt64, durable: Bool) throws(HoltError) {
        monitor.lock()
        defer { monitor.unlock() }
        precondition(lsn < state.nextLSN, "waiting for LSN \(lsn), which was never appended")
        while true {
            guard !state.failed else { throw .previousIOFailure }
            if (durable ? state.durableLSN : state.writtenLSN) >= lsn { return }
            guard !state.closed else { throw .closed }
            if state.ioBusy { monitor.wait(); continue }
            try writeBuffered(sync: durable)
        }
    }

    /// The leader's round, called holding `monitor` with the I/O token free: takes the token,
    /// writes every buffered record, `fdatasync`s when `sync`, runs `more` (still holding the
    /// token but not the monitor: for segment changes), publishes the new state, returns the
    /// token and wakes every waiter. Returns holding `monitor`.
    /// - Throws: what the write, the sync or `more` threw; the log is then failed (invariant 5).
    func writeBuffered(sync: Bool, more: () throws(HoltError) -> Void = {}) throws(HoltError) {
        precondition(!state.ioBusy)
        state.ioBusy = true
        swap(&state.pending, &io.spare)
        pendingBytesHint.store(state.pending.count, ordering: .relaxed)
        let records = state.pendingRecords
        state.pendingRecords = 0
        let last = state.nextLSN - 1
        let alreadyDurable = state.durableLSN >= last
        monitor.unlock()

        var failure: HoltError?
        var synced = false
        do throws(HoltError) {
            synced = try writeOut(lastLSN: last, sync: sync && !alreadyDurable)
            try more()
        } catch {
            failure = error
        }
        let wrote = !io.spare.isEmpty
        // Keep the buffer for the next round, unless one huge batch blew it up.
        io.spare.removeAll(keepingCapacity: io.spare.capacity <= Self.retainedBufferBytes)

        monitor.lock()
        state.ioBusy = false
        monitor.broadcast()
        if let failure {
            state.failed = true
            throw failure
        }
        state.writtenLSN = last
        state.unsyncedRecords += records
        if wrote { state.statistics.writes += 1 }
        if synced {
            state.durableLSN = last
            state.statistics.syncs += 1
            state.statistics.syncedRecords += state.unsyncedRecords
            state.statistics.largestGroup = max(state.statistics.largestGroup, state.unsyncedRecords)
            state.unsyncedRecords = 0
        }
        checkInvariants()
        feedNotifier.notify()
    }

    /// Writes `io.spare` (records up to `lastLSN`) to the current segment (into allocated room:
    /// admission saw to it) and `fdatasync`s it when `sync`. Called by the I/O token holder
    /// without the monitor.
    /// - Returns: whether it synced.
    private func writeOut(lastLSN: UInt64, sync: Bool) throws(HoltError) -> Bool {
        let fd = io.file
        let path = path(ofSegment: io.current.number)
        if !io.spare.isEmpty {
            let offset = io.size
            try Failpoints.hit("wal.beforeWrite")
            try JournalBytes.withBytes(io.spare) { (bytes) throws(HoltError) in
                try Syscall.pwrite(fd, bytes, offset: offset, path)
            }
            io.size += io.spare.count
            io.recordBytes += io.spare.count
            io.lastLSN = lastLSN
            try Failpoints.hit("wal.afterWrite")
        }
        guard sync else { return false }
        try Failpoints.hit("wal.beforeSync")
        try Syscall.fdatasync(fd, path)
        try Failpoints.hit("wal.afterSync")
        return true
    }

    // MARK: Periodic flushing

    /// The `.periodic` flusher's loop: every `interval` nanoseconds, write and sync whatever is
    /// buffered or unsynced. Runs until `close` sets `stopFlusher`. A failure marks the log
    /// failed (the next append or wait throws `.previousIOFailure`).
    private func runFlusher(interval: UInt64) {
        monitor.lock()
        defer { monitor.unlock() }
        var deadline = Monitor.monotonicNanoseconds() + interval
        while !state.stopFlusher {
            let now = Monitor.monotonicNanoseconds()
            if now < deadline { monitor.wait(until: deadline); continue }
            if state.ioBusy { monitor.wait(); continue }
            deadline = now + interval
            guard state.replayed, !state.failed, !state.closed, state.durableLSN < state.nextLSN - 1 else { continue }
            do throws(HoltError) { try writeBuffered(sync: true) } catch { continue }
        }
    }

    // MARK: Closing

    /// Writes and syncs every buffered record, stops the flusher and closes the segment.
    /// Later calls throw `.closed`; closing twice does nothing.
    /// - Throws: `.io` when the last write or sync fails, `.previousIOFailure` when an earlier
    ///   one did (records appended since the last durable LSN may be lost). The file is closed
    ///   either way.
    func close() throws(HoltError) {
        let thread: PlainThread? = monitor.withLock {
            state.stopFlusher = true
            monitor.broadcast()
            defer { flusher = nil }
            return flusher
        }
        thread?.join()
        var failure: HoltError?
        let (closed, replayed) = monitor.withLock { (state.closed, state.replayed) }
        if closed { return }
        if replayed {
            do throws(HoltError) { try sync() } catch { failure = error }
        }
        monitor.withLock {
            while state.ioBusy { monitor.wait() }
            state.closed = true
            monitor.broadcast()  // change-feed readers waiting for records
            if io.file >= 0 { try? Syscall.close(io.file) }
            io.file = -1
        }
        feedNotifier.close()
        if let failure { throw failure }
    }
}
