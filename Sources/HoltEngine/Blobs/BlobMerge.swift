/// Merging: a subtree in a child blob that became small is copied back into its parent blob in
/// place of the Blob node that referred to it; the child blob is freed with its last subtree.
extension ARTIndex {
    /// A child blob's subtrees merge back when its live bytes are at most this fraction of a blob.
    static var mergeDivisor: Int { 8 }

    /// Inlines the subtree at `childRoot` of `child` (referred to by the Blob node in `slot` of
    /// `parent`) into `parent` when the child blob is small and the parent stays at most 3/4
    /// full; otherwise does nothing.
    /// - Returns: Whether the subtree was merged.
    @discardableResult
    func mergeIfSmall(parent: BlobID, slot: UInt16, child: BlobID, childRoot: UInt16) throws(HoltError) -> Bool {
        // A Blob node may refer into its own blob after prefix moves; that needs no merge.
        guard parent != child else { return false }
        // The whole child's live bytes bound the subtree's: a cheap first test before any walk.
        let bound = try source.read(child) { (raw) throws(HoltError) -> Int? in
            let page = PageView(base: raw, id: child)
            try page.validateHeader()
            guard page.liveBytes <= page.capacity / Self.mergeDivisor else { return nil }
            return page.liveBytes + 4 * page.liveSlots
        }
        guard let bound else { return false }
        let merged = try source.write(parent) { (raw) throws(HoltError) -> Bool in
            let page = MutablePageView(base: raw, id: parent)
            var v = page.view
            let node = try v.node(slot)
            guard node.type == .blob, v.blobChild(node) == (child, childRoot) else {
                throw v.corrupted("slot \(slot) does not refer to \(child) slot \(childRoot)")
            }
            let used = v.liveBytes + 4 * v.liveSlots
            guard used + min(bound, v.capacity) <= v.capacity * 3 / 4 else { return false }
            return try source.read(child) { (childRaw) throws(HoltError) -> Bool in
                let childPage = PageView(base: childRaw, id: child)
                let cost = try SubtreeCopy.cost(of: childRoot, in: childPage)
                if v.freeBytes < cost + 64 {
                    try page.compact(&counters)
                    v = page.view
                    guard v.freeBytes >= cost + 64 else { return false }
                }
                _ = try SubtreeCopy.copy(from: childPage, root: childRoot, skip: 0, into: page, rootSlot: slot,
                                         counters: &counters)
                return true
            }
        }
        guard merged else { return false }
        let empty = try source.write(child) { (raw) throws(HoltError) -> Bool in
            let page = MutablePageView(base: raw, id: child)
            try page.freeSubtree(childRoot)
            return page.view.liveSlots == 0
        }
        if empty { try source.free(child) }
        counters.merges += 1
        return true
    }
}
