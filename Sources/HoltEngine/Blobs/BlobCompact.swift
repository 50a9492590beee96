/// Compaction of a blob of the index (`Tree.compact()`); the page-level packing is
/// `MutablePageView.compact` (Layout/PageCompaction.swift).
extension ARTIndex {
    /// Squeezes the dead bytes out of blob `id` (`Tree.compact()`): its nodes packed, its slots
    /// unchanged. Returns `false` when the blob is gone or has no dead bytes.
    /// Call holding the tree's writer lock and its exclusive lock (node offsets move).
    func squeeze(_ id: BlobID) throws(HoltError) -> Bool {
        guard source.contains(id) else { return false }
        var counters = self.counters
        defer { self.counters = counters }
        return try source.write(id) { (raw) throws(HoltError) -> Bool in
            let page = MutablePageView(base: raw, id: id)
            try page.view.validateHeader()
            guard page.view.deadBytes > 0 else { return false }
            try page.compact(&counters)
            return true
        }
    }
}
