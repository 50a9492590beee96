import Synchronization
/// The committed batches after a position, in commit order: history read back from the log,
/// then live batches as they commit. Made by `Tree.changes(after:)` or
/// `Tree.changes(forConsumer:)`.
///
/// Two ways to read, the same batches either way:
/// - `next(timeout:)` blocks the calling thread until the next batch (or the timeout). It is
///   the one for plain threads (the mount daemon's), which must never wait on a Swift task.
/// - `for try await batch in feed`: an `AsyncSequence` whose iterator waits without blocking a
///   thread (the log wakes it when the horizon moves); cancelling the task ends it (`nil`).
///
/// Why a pull sequence rather than a callback subscription: the consumer decides when it takes
/// the next batch, so a slow consumer slows only itself (the log keeps what it has not read,
/// within `Options.changeRetentionBytes`) and nothing of the engine runs its code; its position
/// is simply the last batch it took, which is what it stores to resume (`ChangeBatch.lsn`) and
/// what it acknowledges. A callback would run under the engine's threads, where blocking or
/// calling back into the tree is easy to get wrong.
///
/// Delivery: every batch after the start position exactly once, in LSN order, with no gap; a
/// batch only once it is durable (`.always`, `.periodic`), or once appended under `.none`. When
/// the log no longer holds the next batch, the feed throws `HoltError.changesNotHeld` and never
/// skips it. Across a restart, exactly-once is the consumer's to keep: store the LSN of the last
/// batch applied together with what it produced (in one batch of the consumer's own store), and
/// resume with `changes(after:)` from it.
///
/// An open feed pins the log from its position like a registered consumer (within the retention
/// bound) until `close()` or until it is released. Use one feed from one thread or task at a time.
public final class ChangeFeed: AsyncSequence, @unchecked Sendable {
    // @unchecked Sendable: the reader and queue are in `cursor` (a `Locked`); the rest never changes.

    /// A feed's element.
    public typealias Element = ChangeBatch
    /// What a feed throws.
    public typealias Failure = HoltError

    /// The registered consumer this feed reads for, or `nil` for `changes(after:)`.
    public let consumer: String?
    let log: WriteAheadLog
    private let registry: ChangeFeedRegistry
    private let feedID: Int
    /// Set by `close()` without the cursor's lock, which a `next()` waiting for a batch holds:
    /// the wait checks it and ends.
    private let closing = Atomic<Bool>(false)

    /// The reader and the batches read ahead. Guarded by `cursor`'s lock, held through a whole
    /// `next` (also while waiting for the log: lock order cursor, then the log's monitor).
    private struct Cursor {
        var reader: LogReader
        var ahead: [ChangeBatch] = []
        var taken = 0
        var delivered: UInt64
        var closed = false
    }

    private let cursor: Locked<Cursor>

    /// How many records one read from the log decodes at most.
    static let readAhead = 256

    init(log: WriteAheadLog, registry: ChangeFeedRegistry, after position: UInt64, consumer: String?) {
        self.log = log
        self.registry = registry
        self.consumer = consumer
        feedID = registry.openFeed(at: position)
        cursor = Locked(Cursor(reader: LogReader(log: log, after: position), delivered: position))
    }

    deinit {
        registry.closeFeed(feedID)
    }

    /// The LSN of the last batch this feed delivered (its start position before the first).
    public var position: LSN { LSN(cursor.withLock { $0.delivered }) }

    /// The next batch, waiting for one to commit when the feed has caught up.
    ///
    /// - Parameter timeout: How long to wait at most; `nil` waits until a batch commits or the
    ///   tree closes; `.zero` only looks.
    /// - Returns: The batch after `position`, or `nil` when none committed within `timeout`.
    ///   The caller owns it.
    /// - Throws: `.changesNotHeld` when the log no longer holds the next batch (the consumer fell
    ///   behind the retention bound, or started before the oldest segment); `.closed` when the
    ///   feed or the tree was closed and every batch committed before was delivered;
    ///   `.corrupted`, `.io` when the log cannot be read.
    public func next(timeout: Duration? = nil) throws(HoltError) -> ChangeBatch? {
        let deadline = timeout.map { Monitor.monotonicNanoseconds() &+ Self.nanoseconds($0) }
        let batch = try cursor.withLock { (cursor) throws(HoltError) -> ChangeBatch? in
            guard !cursor.closed else { throw .closed }
            if cursor.taken == cursor.ahead.count {
                cursor.ahead.removeAll(keepingCapacity: true)
                cursor.taken = 0
                let horizon = try log.waitForChanges(after: cursor.reader.position, until: deadline) { closing.load(ordering: .acquiring) }
                for record in try cursor.reader.read(horizon: horizon, limit: Self.readAhead) {
                    cursor.ahead.append(try ChangeBatch(lsn: LSN(record.lsn), payload: record.payload))
                }
                if cursor.ahead.isEmpty { return nil }
            }
            let batch = cursor.ahead[cursor.taken]
            cursor.taken += 1
            cursor.delivered = batch.lsn.rawValue
            return batch
        }
        if let batch { registry.moveFeed(feedID, to: batch.lsn.rawValue) }
        return batch
    }

    /// Closes the feed: it pins the log no more, and later reads throw `.closed`.
    public func close() {
        closing.store(true, ordering: .releasing)
        log.wakeChangeWaiters()
        cursor.withLock { $0.closed = true }
        registry.closeFeed(feedID)
    }

    /// Makes the async iterator (see the type's summary).
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(feed: self)
    }

    /// Waits for batches without blocking a thread: it looks (`next(timeout: .zero)`) and, when
    /// nothing is there, sleeps until the log's horizon moves.
    public struct AsyncIterator: AsyncIteratorProtocol {
        /// A feed's element.
        public typealias Element = ChangeBatch
        /// What a feed throws.
        public typealias Failure = HoltError

        let feed: ChangeFeed

        /// The next batch; `nil` once the task is cancelled.
        /// - Throws: what `ChangeFeed.next(timeout:)` throws.
        public mutating func next() async throws(HoltError) -> ChangeBatch? {
            let notifier = feed.log.feedNotifier
            while !Task.isCancelled {
                let generation = notifier.generation
                if let batch = try feed.next(timeout: .zero) { return batch }
                await withTaskCancellationHandler {
                    await notifier.wait(unlessChangedFrom: generation)
                } onCancel: {
                    notifier.notify()
                }
            }
            return nil
        }
    }

    /// `duration` in nanoseconds (0 for negative ones).
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
