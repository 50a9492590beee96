/// Merging: a child blob that became small is copied back into its parent blob in place of the
/// Blob node that referred to it, and freed.
extension ARTIndex {
    /// A child blob is merged when its live bytes are at most this fraction of a blob.
    static var mergeDivisor: Int { 8 }

    /// Inlines `child` (referred to by the Blob node in `slot` of `parent`) into `parent` when
    /// the child is small and the parent stays at most 3/4 full; otherwise does nothing.
    /// - Returns: Whether the child was merged (and freed).
    @discardableResult
    func mergeIfSmall(parent: BlobID, slot: UInt16, child: BlobID) throws(HoltError) -> Bool {
        let (childCost, childRoot) = try source.read(child) { (raw) throws(HoltError) -> (Int, UInt16) in
            let page = PageView(base: raw, id: child)
            try page.validateHeader()
            guard page.liveBytes <= page.capacity / Self.mergeDivisor else { return (Int.max, 0) }
            return (try SubtreeCopy.cost(of: page.rootSlot, in: page), page.rootSlot)
        }
        guard childCost != Int.max else { return false }
        let merged = try source.write(parent) { (raw) throws(HoltError) -> Bool in
            let page = MutablePageView(base: raw, id: parent)
            var v = page.view
            let node = try v.node(slot)
            guard node.type == .blob, v.blobChild(node) == child else {
                throw v.corrupted("slot \(slot) does not refer to \(child)")
            }
            guard v.liveBytes + 4 * (v.slotCount - v.freeSlotCount) + childCost <= v.capacity * 3 / 4 else { return false }
            if v.freeBytes < childCost + 64 {
                try page.compact(&counters)
                v = page.view
                guard v.freeBytes >= childCost + 64 else { return false }
            }
            try source.read(child) { (childRaw) throws(HoltError) in
                _ = try SubtreeCopy.copy(from: PageView(base: childRaw, id: child), root: childRoot, skip: 0,
                                         into: page, rootSlot: slot, counters: &counters)
            }
            return true
        }
        if merged {
            try source.free(child)
            counters.merges += 1
        }
        return merged
    }
}
