/// An engine operation that failed, grouped by when it can happen.
///
/// The engine throws only this type (`throws(HoltError)`). Absence is not an error: `get`
/// returns `nil` for a missing key.
public enum HoltError: Error, Equatable, Sendable, CustomStringConvertible {
    // Opening
    /// The directory exists but does not hold a holt database, or `createIfMissing` was false.
    case notADatabase(path: String)
    /// The database was written by a format version this build cannot read.
    case unsupportedFormat(version: UInt32)
    /// Another process (or another `Tree` in this one) has the database open.
    case locked(path: String)

    // Writing
    /// A key longer than `Tree.maxKeyLength` bytes.
    case keyTooLong(length: Int, limit: Int)
    /// A value longer than `Tree.maxValueLength` bytes.
    case valueTooLarge(length: Int, limit: Int)
    /// A key that the operation cannot take: it contains a NUL byte, or it is empty where a
    /// non-empty key is required, or a prefix rename would move a key into its own subtree.
    case invalidKey(reason: String)
    /// A batch's precondition did not hold; nothing in the batch was applied.
    /// `index` is the position of the failing op in the batch.
    case conditionFailed(index: Int, key: [UInt8], reason: String)

    // Families
    /// No column family of this name exists (`Tree.family(named:)`, `Tree.dropFamily(named:)`).
    case noSuchFamily(name: String)
    /// A column family of this name exists already (`Tree.createFamily(named:)`).
    case familyExists(name: String)
    /// A family name the engine cannot take: empty, longer than `Tree.maxFamilyNameLength`
    /// bytes of UTF-8, or holding a NUL.
    case invalidFamilyName(reason: String)
    /// The default family is part of every database and cannot be dropped.
    case cannotDropDefaultFamily
    /// A `Family` handle whose family was dropped (by any handle, or by a name) was used.
    case familyDropped(name: String)

    // Storage
    /// A system call failed with `errno` (`EIO`, `ENOSPC`, ...).
    case io(errno: Int32, operation: String)
    /// Bytes on disk are not what the engine wrote: a bad checksum, an impossible offset.
    case corrupted(what: String, reason: String)
    /// An earlier write or fsync failed; nothing is written until the database is reopened.
    case previousIOFailure
    /// The tree was closed.
    case closed

    // Change feed
    /// The log does not hold the batches right after LSN `after`: the checkpoints trimmed them
    /// (the position lies before `heldAfter`, or a consumer fell behind the retention bound,
    /// `Options.changeRetentionBytes`), or `after` is past `lastLSN`, the last committed batch.
    /// Start again from a full copy; the feed never skips a batch silently.
    case changesNotHeld(after: UInt64, heldAfter: UInt64, lastLSN: UInt64)
    /// No change-feed consumer is registered under this name (`Tree.registerConsumer`).
    case noSuchConsumer(name: String)

    /// A one-line English description.
    public var description: String {
        switch self {
        case .notADatabase(let path): "not a holt database: \(path)"
        case .unsupportedFormat(let version): "unsupported format version \(version)"
        case .locked(let path): "database is in use by another process: \(path)"
        case .keyTooLong(let length, let limit): "key of \(length) bytes is longer than \(limit)"
        case .valueTooLarge(let length, let limit): "value of \(length) bytes is larger than \(limit)"
        case .invalidKey(let reason): "invalid key: \(reason)"
        case .conditionFailed(let index, let key, let reason):
            "condition of op \(index) on \(String(decoding: key, as: UTF8.self)) failed: \(reason)"
        case .noSuchFamily(let name): "no column family named \"\(name)\""
        case .familyExists(let name): "a column family named \"\(name)\" exists already"
        case .invalidFamilyName(let reason): "invalid family name: \(reason)"
        case .cannotDropDefaultFamily: "the default column family cannot be dropped"
        case .familyDropped(let name): "column family \"\(name)\" was dropped"
        case .io(let errno, let operation): "\(operation): \(String(cString: strerror(errno)))"
        case .corrupted(let what, let reason): "corrupted \(what): \(reason)"
        case .previousIOFailure: "an earlier write failed; reopen the database"
        case .closed: "the database is closed"
        case .changesNotHeld(let after, let heldAfter, let lastLSN):
            after > lastLSN
                ? "LSN \(after) is past the last committed batch (LSN \(lastLSN))"
                : "the log no longer holds the changes after LSN \(after) (it holds those after LSN \(heldAfter), up to \(lastLSN))"
        case .noSuchConsumer(let name): "no change-feed consumer named '\(name)'"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
