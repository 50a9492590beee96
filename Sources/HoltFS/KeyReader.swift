import HoltEngine

/// What the offline tools (`FSCheck`, `FSExporter`) read a tree through: an open `Tree`, or a
/// `Snapshot` of a mounted one (`holtfs check MNT`, `holtfs dump MNT`), which reads one
/// committed state while the mount goes on serving.
protocol KeyReader {
    /// The value at `key`, or nil.
    func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]?
    /// The items of `query`, in key order.
    func range(_ query: RangeQuery) throws(HoltError) -> [RangeItem]
    /// The engine's own structural check (empty when sound).
    func verify() throws(HoltError) -> [String]
}

extension KeyReader {
    /// `range(RangeQuery(...))`.
    func range(prefix: [UInt8], startAfter: [UInt8]?, limit: Int) throws(HoltError) -> [RangeItem] {
        try range(RangeQuery(prefix: prefix, startAfter: startAfter, limit: limit))
    }
}

extension Tree: KeyReader {}
extension Snapshot: KeyReader {
    // The default family (the filesystem's keys).
    func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]? { try get(key, in: nil) }
    func range(_ query: RangeQuery) throws(HoltError) -> [RangeItem] { try range(query, in: nil) }
}
