/// Range scans: the keys under a prefix in order, strictly after a resume point, with S3-style
/// rollup at a delimiter. A rolled-up common prefix is emitted without walking its subtree (the
/// walk stops at the delimiter byte), so listing a directory costs its children, not its
/// descendants.
///
/// `visit(_:_:)` is the walk: it hands each item to a body as borrowed bytes (`RangeView`) and
/// copies nothing; `scan(_:)` builds `[RangeItem]` on top of it. The walk (`RangeWalk`) keeps all
/// its state local and only reads, so any number of scans may run at once.
extension ARTIndex {
    func scan(_ query: RangeQuery) throws(HoltError) -> [RangeItem] {
        var visited = 0
        return try scan(query, visited: &visited)
    }

    /// `scan(_:)`, also counting the nodes it visited (for tests of the rollup's cost).
    func scan(_ query: RangeQuery, visited: inout Int) throws(HoltError) -> [RangeItem] {
        var items: [RangeItem] = []
        if let limit = query.limit { items.reserveCapacity(min(limit, 1_024)) }
        visited = try visit(query) { (view) throws(HoltError) -> Bool in
            items.append(view.item)
            return true
        }
        return items
    }

    /// Calls `body` with each item of `query` in key order, until the items run out, the limit
    /// is reached, or `body` returns false.
    ///
    /// The view's bytes are valid only during the call (the key lies in the walk's path buffer,
    /// the value in the pinned blob frame). Each blob is pinned once per stretch of the walk
    /// inside it, and stays pinned while `body` runs.
    ///
    /// - Returns: The number of nodes visited (for tests of the rollup's cost).
    /// - Throws: `.corrupted` when the tree's bytes are damaged, `.io`, and what `body` throws.
    @discardableResult
    func visit(_ query: RangeQuery, _ body: (RangeView) throws(HoltError) -> Bool) throws(HoltError) -> Int {
        guard query.limit ?? 1 > 0, query.prefix.count <= Self.maxPathLength,
              let start = try locate(query.prefix),
              var walk = RangeWalk(query, start: start, maxPathLength: Self.maxPathLength)
        else { return 0 }
        while let blob = walk.nextBlob {
            try source.read(blob) { (raw) throws(HoltError) in
                try walk.walk(PageView(base: raw, id: blob), body)
            }
        }
        return walk.visited
    }
}
