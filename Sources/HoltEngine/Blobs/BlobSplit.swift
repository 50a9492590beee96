/// Making room in a full blob: compaction when dead bytes would give enough room, otherwise a
/// split that moves one subtree into a new child blob and leaves a Blob node in its place.
extension ARTIndex {
    /// Frees at least some room in `blob` for an insert that needs `need` bytes. The caller
    /// retries its insert from the root afterwards (the subtree it aimed at may have moved).
    func makeRoom(in blob: BlobID, need: Int) throws(HoltError) {
        let split = try source.write(blob) { (raw) throws(HoltError) -> Bool in
            let page = MutablePageView(base: raw, id: blob)
            let v = page.view
            guard need <= v.capacity / 2 else {
                throw v.corrupted("an insert needs \(need) bytes, more than a blob can give")
            }
            if v.freeBytes + v.deadBytes >= need + v.capacity / 8 {
                try page.compact(&counters)
                return false
            }
            return true
        }
        if split { try self.split(blob) }
    }

    /// Moves the subtree of `blob` whose size is closest below 3/4 of the blob's live bytes into
    /// a new child blob, replaces it by a Blob node (in the subtree's own bytes, so it always
    /// fits), and compacts `blob`.
    func split(_ blob: BlobID) throws(HoltError) {
        let candidate = try source.read(blob) { (raw) throws(HoltError) -> UInt16 in
            try Self.splitCandidate(PageView(base: raw, id: blob))
        }
        let child = try source.allocate()
        try source.write(blob) { (raw) throws(HoltError) in
            let page = MutablePageView(base: raw, id: blob)
            try source.write(child) { (childRaw) throws(HoltError) in
                let target = MutablePageView(base: childRaw, id: child)
                target.format(dataEnd: dataEnd)
                let top = try SubtreeCopy.copy(from: page.view, root: candidate, skip: 0, into: target,
                                               rootSlot: nil, counters: &counters)
                target.setRoot(top)
            }
            for c in try page.view.childSlots(try page.view.node(candidate)) { try page.freeSubtree(c) }
            let offset = try page.replaceNode(candidate, .blob, size: ARTLayout.blobNodeSize)
            page.writeBlob(at: offset, child)
            try page.compact(&counters)
        }
        counters.splits += 1
    }

    /// The slot of the subtree to move out of a full blob: not the blob's root, not a Blob node,
    /// not a terminator leaf, bigger than two Blob nodes; the biggest at most 3/4 of the live
    /// bytes, else the smallest bigger one.
    static func splitCandidate(_ page: PageView) throws(HoltError) -> UInt16 {
        let root = page.rootSlot
        let order = try SubtreeCopy.nodes(of: root, in: page)
        var size = [Int](repeating: 0, count: page.slotCount)
        var eligible = [Bool](repeating: false, count: page.slotCount)
        for s in order.reversed() {
            let node = try page.node(s)
            var total = try page.size(of: node)
            switch node.type {
            case .prefix:
                let c = try page.prefix(node).child
                total += size[Int(c)]
                eligible[Int(c)] = true
            case .node4, .node16, .node48, .node256:
                for c in try page.children(node) {
                    total += size[Int(c.slot)]
                    eligible[Int(c.slot)] = c.byte != 0
                }
            default:
                break
            }
            size[Int(s)] = total
        }
        let limit = size[Int(root)] * 3 / 4
        var best: UInt16 = 0, bestSize = 0
        var fallback: UInt16 = 0, fallbackSize = Int.max
        for s in order where s != root && eligible[Int(s)] && size[Int(s)] > 2 * ARTLayout.blobNodeSize {
            guard try page.node(s).type != .blob else { continue }
            let n = size[Int(s)]
            if n <= limit {
                if n > bestSize { best = s; bestSize = n }
            } else if n < fallbackSize {
                fallback = s
                fallbackSize = n
            }
        }
        if best != 0 { return best }
        if fallback != 0 { return fallback }
        throw page.corrupted("full blob has no subtree to split off")
    }
}
