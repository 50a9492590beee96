/// Prefix moves: detaching the subtree of the keys that start with one prefix and attaching it
/// under another, at a cost set by the path lengths and at most one blob's bytes.
///
/// The subtree is detached as a child blob: when it already is one (a Blob node stands at the
/// prefix), its Blob node is relinked; otherwise its nodes inside their blob (at most that
/// blob's bytes; child blobs below are carried by reference) are copied into a new holding blob.
/// The holding blob is attached under the new prefix by a Blob node, and inlined into its new
/// parent when small.
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
        let detached = try from.withUnsafeBufferPointer { (k) throws(HoltError) -> BlobID? in
            guard let (path, skip) = try walkPath(k, exact: false) else { return nil }
            let target = path[path.count - 1]
            let reference = try source.read(target.blob) { (raw) throws(HoltError) -> BlobID? in
                let page = PageView(base: raw, id: target.blob)
                let node = try page.node(target.slot)
                return node.type == .blob ? page.blobChild(node) : nil
            }
            let moved: BlobID
            if let reference {
                moved = reference
            } else {
                moved = try source.allocate()
                try source.write(moved) { (holdRaw) throws(HoltError) in
                    let hold = MutablePageView(base: holdRaw, id: moved)
                    hold.format(dataEnd: dataEnd)
                    try source.write(target.blob) { (raw) throws(HoltError) in
                        let page = MutablePageView(base: raw, id: target.blob)
                        let top = try SubtreeCopy.copy(from: page.view, root: target.slot, skip: skip, into: hold,
                                                       rootSlot: nil, counters: &counters)
                        hold.setRoot(top)
                        for c in try page.view.childSlots(try page.view.node(target.slot)) { try page.freeSubtree(c) }
                    }
                }
            }
            let top = try unlink(path)
            try mergeAfterUnlink(path, top)
            return moved
        }
        guard let detached else { return }
        let (_, parent, node) = try to.withUnsafeBufferPointer { (k) throws(HoltError) in
            try insert(k, .blob(detached))
        }
        try mergeIfSmall(parent: parent, slot: node, child: detached)
    }
}
