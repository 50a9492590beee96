/// A log sequence number: the position of one committed batch in the write-ahead log.
///
/// Batches that change something get consecutive LSNs in commit order, starting at 1; a batch
/// that changes nothing gets none. `LSN.zero` is the position before the first batch. The change
/// feed (`Tree.changes(after:)`) delivers batches by LSN and resumes from one.
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The number.
    public var rawValue: UInt64

    /// The LSN `rawValue`.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The LSN `value`.
    public init(_ value: UInt64) {
        self.rawValue = value
    }

    /// The position before the first batch.
    public static let zero = LSN(0)

    /// Orders LSNs by number (commit order).
    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The number in decimal.
    public var description: String { String(rawValue) }
}
