#if canImport(Glibc)
import Glibc
#endif

/// An open holt database: an ordered map of path-shaped byte keys to byte values.
///
/// Concepts: a *key* is a byte string of at most `maxKeyLength` bytes without NUL, its components
/// separated by `/`, compared bytewise; a *batch* (`apply(_:)`) is several ops applied atomically
/// and logged as one record; a *checkpoint* writes the cached state to the data file so the log
/// can be trimmed.
///
/// A `Tree` is safe to use from many threads at once. Readers never see half of a batch: a batch
/// runs under an exclusive lock, reads under a shared one. A write returns once it is as durable
/// as `Options.sync` asks.
public final class Tree: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `lock` (see each field).

    /// The longest key, in bytes.
    public static let maxKeyLength = 65_535
    /// The longest value, in bytes.
    public static let maxValueLength = 65_535

    /// The database directory.
    public let path: String
    /// The options the tree was opened with.
    public let options: Options

    private let lock = ReadWriteLock()
    /// Guarded by `lock`.
    private let index: any OrderedIndex
    /// Guarded by `lock`.
    private var isClosed = false
    /// Guarded by `lock`: set after a failed write; every later write is refused.
    private var failed = false

    /// What the last open found at the log's tail.
    public let recovery = RecoveryReport(checkpointLSN: 0, replayedBatches: 0, tornBytesCut: 0)
    /// Held from open to close: keeps other openers out.
    private var databaseLock: DatabaseLock?

    private init(path: String, options: Options, index: any OrderedIndex, lock: DatabaseLock) {
        self.path = path
        self.options = options
        self.index = index
        self.databaseLock = lock
    }

    /// Opens the database in directory `path`, creating it when missing and `options.createIfMissing`.
    ///
    /// - Parameters:
    ///   - path: The database directory.
    ///   - options: Cache budget, sync mode, and whether to create.
    /// - Returns: The open tree. Close it with `close()`.
    /// - Throws: `.notADatabase`, `.locked` when another process has it open,
    ///   `.unsupportedFormat`, `.corrupted` when the log or data is damaged, `.io`.
    public static func open(path: String, options: Options = Options()) throws(HoltError) -> Tree {
        try DatabaseDirectory.prepare(path, create: options.createIfMissing)
        let lock = try DatabaseLock(directory: path)
        return Tree(path: path, options: options, index: SortedIndex(), lock: lock)
    }

    /// Checkpoints and closes the database. Later calls throw `.closed`.
    ///
    /// - Throws: `.io` when the final checkpoint cannot be written (the log still holds every write).
    public func close() throws(HoltError) {
        lock.withWriteLock {
            isClosed = true
            databaseLock = nil
        }
    }

    // MARK: Reads

    /// The value stored at `key`, or `nil` when there is none.
    ///
    /// - Returns: A copy of the value; the caller owns it.
    /// - Throws: `.closed`, `.corrupted` or `.io` when the blob holding it cannot be read.
    public func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        try lock.withReadLock { () throws(HoltError) -> [UInt8]? in
            guard !isClosed else { throw .closed }
            return try index.get(key)
        }
    }

    /// The items of `query` in key order: entries, and common prefixes when it has a delimiter.
    ///
    /// - Throws: `.closed`, `.corrupted`, `.io`.
    public func range(_ query: RangeQuery) throws(HoltError) -> [RangeItem] {
        try lock.withReadLock { () throws(HoltError) -> [RangeItem] in
            guard !isClosed else { throw .closed }
            return try index.scan(query)
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
    public func hasKeys(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool {
        try lock.withReadLock { () throws(HoltError) -> Bool in
            guard !isClosed else { throw .closed }
            return try index.hasKeys(withPrefix: prefix)
        }
    }

    // MARK: Writes

    /// Sets `key` to `value`. One batch of one op.
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(HoltError) {
        try apply([.put(key: key, value: value)])
    }

    /// Removes `key`; removing an absent key does nothing.
    public func delete(_ key: [UInt8]) throws(HoltError) {
        try apply([.delete(key: key)])
    }

    /// Moves the value at `from` to `to`, replacing `to`. Throws `.conditionFailed` when `from` is absent.
    public func rename(from: [UInt8], to: [UInt8]) throws(HoltError) {
        try apply([.rename(from: from, to: to)])
    }

    /// Moves `from` and everything below `from/` to `to`, at a cost independent of how many keys move.
    /// See `TxnOp.renamePrefix`.
    public func renamePrefix(from: [UInt8], to: [UInt8]) throws(HoltError) {
        try apply([.renamePrefix(from: from, to: to)])
    }

    /// Applies `ops` atomically, as one log record: all of them or, when a condition fails, none.
    ///
    /// - Throws: `.conditionFailed` (nothing applied), `.keyTooLong`, `.valueTooLarge`,
    ///   `.invalidKey` (nothing applied), `.io` or `.previousIOFailure` (the tree refuses writes
    ///   until reopened), `.closed`.
    public func apply(_ ops: [TxnOp]) throws(HoltError) {
        for op in ops { try Self.validate(op) }
        try lock.withWriteLock { () throws(HoltError) in
            guard !isClosed else { throw .closed }
            guard !failed else { throw .previousIOFailure }
            var applier = BatchApplier(index: index)
            do throws(HoltError) {
                for (position, op) in ops.enumerated() { try applier.perform(op, at: position) }
            } catch {
                switch error {
                case .conditionFailed, .invalidKey:
                    do throws(HoltError) { try applier.undo() } catch { failed = true; throw error }
                default:
                    failed = true
                }
                throw error
            }
        }
    }

    // MARK: Checks

    /// Walks every structure of the database and returns what is wrong (empty when sound).
    public func verify() throws(HoltError) -> [String] {
        try lock.withReadLock { () throws(HoltError) -> [String] in
            guard !isClosed else { throw .closed }
            return index.verify()
        }
    }

    private static func validate(_ op: TxnOp) throws(HoltError) {
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
        guard !key.contains(0) else { throw .invalidKey(reason: "a key may not contain a NUL byte") }
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
