/// A request for entries in key order: all keys that start with `prefix` and sort after
/// `startAfter`, at most `limit` items, with S3-style rollup when `delimiter` is set.
///
/// With a delimiter, a key that holds the delimiter after the prefix is not returned itself:
/// its common prefix (up to and including the first delimiter after `prefix`) is returned once,
/// and the whole subtree below it is skipped without being walked. A common prefix counts as one
/// item toward `limit`, and is returned only when it sorts after `startAfter`; so a listing resumes
/// past a rolled-up subtree by passing that common prefix as the next `startAfter`.
public struct RangeQuery: Sendable, Equatable, Hashable {
    /// Only keys that start with these bytes.
    public var prefix: [UInt8]
    /// Only keys (and common prefixes) that sort strictly after these bytes; `nil` starts at the prefix.
    public var startAfter: [UInt8]?
    /// The byte that separates path components (`/`), or `nil` for a flat listing.
    public var delimiter: UInt8?
    /// The most items to return; `nil` for all.
    public var limit: Int?

    /// A query; see the type's summary for the meaning of each field.
    public init(prefix: [UInt8] = [], startAfter: [UInt8]? = nil, delimiter: UInt8? = nil, limit: Int? = nil) {
        self.prefix = prefix
        self.startAfter = startAfter
        self.delimiter = delimiter
        self.limit = limit
    }
}

/// One item of a range: a key with its value, or a rolled-up common prefix.
public enum RangeItem: Sendable, Equatable, Hashable {
    /// A key and its value.
    case entry(key: [UInt8], value: [UInt8])
    /// A common prefix ending in the delimiter, standing for every key below it.
    case commonPrefix([UInt8])

    /// The key of an entry or the bytes of a common prefix: the position of the item in key order.
    public var position: [UInt8] {
        switch self {
        case .entry(let key, _): key
        case .commonPrefix(let prefix): prefix
        }
    }
}
