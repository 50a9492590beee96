/// The ordered map of byte keys to byte values that a `Tree` keeps its data in.
///
/// The tree validates keys, values and conditions before it calls these; an index only stores.
/// Calls are serialised by the tree: writes under its exclusive lock, reads under its shared lock
/// (so several reads may run at once, never a read beside a write).
protocol OrderedIndex: AnyObject {
    /// The value of `key`, or `nil`.
    func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]?
    /// Sets `key` to `value`; returns the value it replaced.
    @discardableResult func put(_ key: [UInt8], _ value: [UInt8]) throws(HoltError) -> [UInt8]?
    /// Removes `key`; returns the value it had.
    @discardableResult func remove(_ key: [UInt8]) throws(HoltError) -> [UInt8]?
    /// Whether any key starts with `prefix` (the empty prefix: whether the index holds any key).
    func hasKeys(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool
    /// Moves every key that starts with `from` to start with `to` instead, keeping the rest of
    /// the key and the value. The caller guarantees that no key starts with `to`, that `from`
    /// and `to` are not empty, and that neither is a prefix of the other.
    func moveKeys(withPrefix from: [UInt8], to: [UInt8]) throws(HoltError)
    /// The items of `query`, in key order (see `RangeQuery`).
    func scan(_ query: RangeQuery) throws(HoltError) -> [RangeItem]
    /// Walks the whole structure and returns what is wrong with it (empty when sound).
    func verify() -> [String]
}
