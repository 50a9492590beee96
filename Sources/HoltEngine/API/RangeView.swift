/// One item of a range, borrowed: the bytes of a key and its value (or of a rolled-up common
/// prefix) where they lie, handed to the body of `Tree.forEach(_:_:)`.
///
/// Nothing is copied to make one. `key` points into the walk's path buffer and `value` into the
/// cached blob frame, so both are valid **only during the call of the body** that receives the
/// view: copy what must outlive it (`item` copies both). The memory is read-only.
public struct RangeView {
    /// The key of an entry, or the bytes of a common prefix (ending in the delimiter): the item's
    /// position in key order, what a listing resumes after.
    public let key: UnsafeRawBufferPointer
    /// The value of an entry; empty for a common prefix.
    public let value: UnsafeRawBufferPointer
    /// Whether the item is a rolled-up common prefix rather than an entry.
    public let isCommonPrefix: Bool

    /// A view of an entry or a common prefix over borrowed bytes.
    init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, isCommonPrefix: Bool) {
        self.key = key
        self.value = value
        self.isCommonPrefix = isCommonPrefix
    }

    /// The item, copied: the caller owns the arrays.
    public var item: RangeItem {
        isCommonPrefix ? .commonPrefix([UInt8](key)) : .entry(key: [UInt8](key), value: [UInt8](value))
    }
}

/// The bytes are borrowed for one call on one thread; a view must never cross to another.
@available(*, unavailable)
extension RangeView: Sendable {}
