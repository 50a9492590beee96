import CURing
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

    /// The most blobs an optimistic scan holds; a longer scan gives up (the tree then reads it
    /// under its shared lock) rather than hold (and, for blobs it had to load, pin) much of the
    /// cache.
    static var optimisticScanBlobs: Int { 16 }

    /// `scan(_:)` without latches: every blob it reads, from the root to the last, stays held
    /// (`BlobSource.holdOptimistic`: its version noted; a frame that goes to another blob or is
    /// freed moves its version on) and every version is checked at the end, so a writer that
    /// changed any of them, however far back the walk left it, voids the whole scan. Nil then,
    /// or when the walk needed more than `optimisticScanBlobs` blobs. Torn bytes cost a retry,
    /// never a wild access: `RangeWalk` checks what it follows and bounds its visits, as for
    /// damaged bytes. What it throws with every blob unchanged may still come from a state
    /// between two blob changes of a batch: the caller's `BatchVisibility` decides.
    func scanOptimistically(_ query: RangeQuery) throws(HoltError) -> [RangeItem]? {
        guard query.limit ?? 1 > 0, query.prefix.count <= Self.maxPathLength else { return [] }
        var kept: [HeldBlob]? = []
        defer { for blob in kept ?? [] { source.release(blob) } }
        /// Whether no blob read so far changed.
        func unchanged() -> Bool { (kept ?? []).allSatisfy { source.isUnchanged($0) } }
        var items: [RangeItem] = []
        do throws(HoltError) {
            let located = try query.prefix.withUnsafeBufferPointer { (k) throws(HoltError) in
                try walkBlobs(k, optimistic: true, keeping: &kept) { (page, slot, i) throws(HoltError) in
                    try Self.locate(page, slot, k, from: i)
                }
            }
            guard let found = located else { return nil }
            guard let start = found, var walk = RangeWalk(query, start: start, maxPathLength: Self.maxPathLength) else {
                return unchanged() ? [] : nil
            }
            if let limit = query.limit { items.reserveCapacity(min(limit, 1_024)) }
            while let blob = walk.nextBlob {
                var held = kept?.first { $0.id == blob }
                if held == nil {
                    guard kept!.count < Self.optimisticScanBlobs, let taken = try source.holdOptimistic(blob) else { return nil }
                    kept!.append(taken)
                    held = taken
                }
                holt_tsan_ignore_begin()
                defer { holt_tsan_ignore_end() }
                try walk.walk(PageView(base: held!.bytes, id: blob)) { (view) throws(HoltError) -> Bool in
                    items.append(view.item)
                    return true
                }
                guard source.isUnchanged(held!) else { return nil }
            }
        } catch {
            if !unchanged() { return nil }
            throw error
        }
        return unchanged() ? items : nil
    }
}
