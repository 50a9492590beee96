/// Prefix moves: detaching the subtree of the keys that start with one prefix and attaching it
/// under another, at a cost set by the path lengths and at most one blob's bytes.
///
/// When a Blob node stands at the prefix, the subtree already is a child blob and its Blob node
/// is simply relinked. Otherwise the subtree's nodes inside their blob (at most that blob's
/// bytes; child blobs below are carried by reference) are copied out: a small subtree (up to
/// `copyMoveLimit`) into a scratch page in memory and from there straight under the new
/// position, a bigger one into a new holding blob that is attached under the new prefix by a
/// Blob node and kept there, so moving it again is a relink.
extension ARTIndex {
    func moveKeys(withPrefix from: [UInt8], to: [UInt8]) throws(HoltError) {
        guard !from.isEmpty, !to.isEmpty, !from.starts(with: to), !to.starts(with: from) else {
            throw .invalidKey(reason: "a prefix move needs two non-empty prefixes, neither a prefix of the other")
        }
        guard !to.contains(0), to.count <= Tree.maxKeyLength else {
            throw .invalidKey(reason: "a prefix may not contain a NUL byte")
        }
        // Check the destination first: a failed attach after the detach would lose the keys.
        guard try !hasKeys(withPrefix: to) else { throw Self.notEmpty }
        let detached = try from.withUnsafeBufferPointer { (k) throws(HoltError) -> Detached? in
            guard let (path, skip) = try walkPath(k, exact: false) else { return nil }
            let target = path[path.count - 1]
            let (reference, cost) = try source.read(target.blob) { (raw) throws(HoltError) -> ((blob: BlobID, slot: UInt16)?, Int) in
                let page = PageView(base: raw, id: target.blob)
                let node = try page.node(target.slot)
                if node.type == .blob { return (page.blobChild(node), 0) }
                return (nil, try SubtreeCopy.cost(of: target.slot, in: page))
            }
            let moved: Detached
            if let reference {
                moved = .blob(reference.blob, reference.slot, keep: false)
            } else if cost <= Self.copyMoveLimit {
                // Small: carry it in memory and copy it straight under its new position.
                let scratch = ScratchPage(room: cost)
                try source.write(target.blob) { (raw) throws(HoltError) in
                    let page = MutablePageView(base: raw, id: target.blob)
                    let top = try SubtreeCopy.copy(from: page.view, root: target.slot, skip: skip, into: scratch.mutable,
                                                   rootSlot: nil, counters: &counters)
                    scratch.mutable.setRoot(top)
                    for c in try page.view.childSlots(try page.view.node(target.slot)) { try page.freeSubtree(c) }
                }
                moved = .scratch(scratch)
            } else {
                let hold = try source.allocate()
                let holdRoot = try source.write(hold) { (holdRaw) throws(HoltError) -> UInt16 in
                    let holdPage = MutablePageView(base: holdRaw, id: hold)
                    holdPage.format(dataEnd: dataEnd)
                    return try source.write(target.blob) { (raw) throws(HoltError) -> UInt16 in
                        let page = MutablePageView(base: raw, id: target.blob)
                        let top = try SubtreeCopy.copy(from: page.view, root: target.slot, skip: skip, into: holdPage,
                                                       rootSlot: nil, counters: &counters)
                        for c in try page.view.childSlots(try page.view.node(target.slot)) { try page.freeSubtree(c) }
                        return top
                    }
                }
                moved = .blob(hold, holdRoot, keep: true)
            }
            let top = try unlink(path)
            try mergeAfterUnlink(path, top)
            return moved
        }
        switch detached {
        case nil:
            return
        case .blob(let child, let childRoot, let keep):
            let (_, parent, node) = try to.withUnsafeBufferPointer { (k) throws(HoltError) in
                try insert(k, .blob(child, childRoot))
            }
            if !keep { try mergeIfSmall(parent: parent, slot: node, child: child, childRoot: childRoot) }
        case .scratch(let scratch):
            let view = scratch.view
            let cost = try SubtreeCopy.cost(of: view.rootSlot, in: view)
            _ = try to.withUnsafeBufferPointer { (k) throws(HoltError) in
                try withExtendedLifetime(scratch) { () throws(HoltError) in
                    try insert(k, .subtree(view, view.rootSlot, cost: cost))
                }
            }
        }
    }

    /// The most in-blob bytes of a moved subtree that a move copies under the new position.
    /// A bigger subtree goes to a holding blob of its own and stays there, so the next move of
    /// the same directory is a relink of one Blob node (a renamed big directory pays one copy).
    static var copyMoveLimit: Int { 8 * 1024 }

    /// A detached subtree on its way to its new position.
    private enum Detached {
        /// A subtree (at this root slot) of a child blob; `keep`: leave it there (a holding blob
        /// made for it), else inline it into its new parent blob when small.
        case blob(BlobID, UInt16, keep: Bool)
        /// Small, in memory.
        case scratch(ScratchPage)
    }
}
