/// Making room in a full blob: compaction when dead bytes would give enough room, otherwise a
/// split that moves subtrees into a new child blob and leaves a Blob node in place of each.
///
/// A split moves about half the blob's live bytes. When no single subtree is that big (a wide
/// node with many small children), it moves many sibling subtrees into the same new blob, so
/// child blobs stay well filled; each moved subtree keeps its own Blob node (blob id and root
/// slot), so a child blob may hold several roots.
extension ARTIndex {
    /// Frees at least some room in `blob` for an insert that needs `need` bytes; `via` is the
    /// Blob node the insert came through (nil in the root blob). The caller retries its insert
    /// from the root afterwards (the subtree it aimed at may have moved).
    func makeRoom(in blob: BlobID, need: Int, via: (blob: BlobID, slot: UInt16)?) throws(HoltError) {
        // Aside: a compaction rewrites the whole blob, and readers (the root blob is every
        // walk's) must not wait for it.
        let split = try source.writeAside(blob) { (raw) throws(HoltError) -> Bool in
            let page = MutablePageView(base: raw, id: blob)
            let v = page.view
            // A blob split down to its roots keeps at most the roots (a leaf of 128 KiB at worst)
            // and Blob nodes, so any insert of a valid key fits after enough splits; a bigger
            // need means damaged bytes, and must not loop.
            guard need <= v.capacity * 15 / 16 else {
                throw v.corrupted("an insert needs \(need) bytes, more than a blob can give")
            }
            if v.freeBytes + v.deadBytes >= need + v.capacity / 8 {
                try page.compact(&counters)
                return false
            }
            return true
        }
        if split { try self.split(blob, parent: via?.blob) }
    }

    /// Splits a full blob. A child blob holding several subtrees that `parent` refers to splits
    /// sideways (`splitRoots`): half of them move to a new sibling blob and the path to every key
    /// stays as long, as a B-tree's leaf split does. Otherwise (the root blob, or a child blob
    /// with one subtree) the subtrees `splitPlan` picks move into a new child blob, each replaced
    /// by a Blob node (in the subtree root's own bytes, so it always fits), and `blob` is
    /// compacted: the blob keeps the upper levels and the path through it grows by one hop.
    func split(_ blob: BlobID, parent: BlobID?) throws(HoltError) {
        if let parent, parent != blob, try splitRoots(blob, parent: parent) { return }
        let plan = try source.read(blob) { (raw) throws(HoltError) -> [UInt16] in
            try Self.splitPlan(PageView(base: raw, id: blob))
        }
        guard !plan.isEmpty else {
            throw .corrupted(what: "\(blob)", reason: "full blob has no subtree to split off")
        }
        let child = try source.allocate()
        try source.writeAside(blob) { (raw) throws(HoltError) in
            let page = MutablePageView(base: raw, id: blob)
            let tops = try source.write(child) { (childRaw) throws(HoltError) -> [UInt16] in
                let target = MutablePageView(base: childRaw, id: child)
                target.format(dataEnd: dataEnd)
                var tops: [UInt16] = []
                for subtree in plan {
                    tops.append(try SubtreeCopy.copy(from: page.view, root: subtree, skip: 0, into: target,
                                                     rootSlot: nil, counters: &counters))
                }
                return tops
            }
            for (subtree, top) in zip(plan, tops) {
                for c in try page.view.childSlots(try page.view.node(subtree)) { try page.freeSubtree(c) }
                let offset = try page.replaceNode(subtree, .blob, size: ARTLayout.blobNodeSize)
                try page.writeBlob(at: offset, child, slot: top)
            }
            try page.compact(&counters)
        }
        counters.splits += 1
    }

    /// The subtrees to move out of a full blob: none a root of the blob, a Blob node, a
    /// terminator leaf, or inside another chosen one; each bigger than two Blob nodes.
    /// *Deep pieces* first: subtrees of at most a sixteenth of the live bytes that hold no Blob
    /// node, the biggest first, until about half the live bytes are chosen. So the blob keeps the
    /// upper levels of its tree and its Blob nodes, and the pieces, packed together into one
    /// child blob, hang one Blob node below them: the blob tree grows in depth only when a blob
    /// is all routing, as a B-tree grows at its root (a lookup in a million path keys crosses
    /// two blobs, not five as when the biggest subtrees, the upper levels, moved down). When
    /// the pieces come to less than a quarter of the live bytes, the older rule: subtrees of at most 3/4 of the
    /// live bytes, the biggest first, until half (at most 3/4); when none qualifies, the
    /// smallest subtree bigger than 3/4.
    static func splitPlan(_ page: PageView) throws(HoltError) -> [UInt16] {
        let roots = try page.roots()
        var size = [Int](repeating: 0, count: page.slotCount)
        var parent = [UInt16](repeating: 0, count: page.slotCount)
        var eligible = [Bool](repeating: false, count: page.slotCount)
        var isBlob = [Bool](repeating: false, count: page.slotCount)
        var holdsBlob = [Bool](repeating: false, count: page.slotCount)
        var all: [UInt16] = []
        var live = 0
        for root in roots {
            let order = try SubtreeCopy.nodes(of: root, in: page)
            for s in order.reversed() {
                let node = try page.node(s)
                var total = try page.size(of: node)
                switch node.type {
                case .prefix:
                    let c = try page.prefix(node).child
                    total += size[Int(c)]
                    eligible[Int(c)] = true
                    parent[Int(c)] = s
                    holdsBlob[Int(s)] = holdsBlob[Int(c)]
                case .node4, .node16, .node48, .node256:
                    for c in try page.children(node) {
                        total += size[Int(c.slot)]
                        eligible[Int(c.slot)] = c.byte != 0
                        parent[Int(c.slot)] = s
                        holdsBlob[Int(s)] = holdsBlob[Int(s)] || holdsBlob[Int(c.slot)]
                    }
                case .blob:
                    isBlob[Int(s)] = true
                    holdsBlob[Int(s)] = true
                default:
                    break
                }
                size[Int(s)] = total
            }
            for r in roots { eligible[Int(r)] = false }
            live += size[Int(root)]
            all += order
        }
        let candidates = all.filter { eligible[Int($0)] && !isBlob[Int($0)] && size[Int($0)] > 2 * ARTLayout.blobNodeSize }
            .sorted { size[Int($0)] > size[Int($1)] }
        let limit = live * 3 / 4, target = live / 2
        /// Subtrees of at most `piece` bytes (with `dataOnly`, none holding a Blob node), the
        /// biggest first, none inside another, until `target` bytes (at most `limit`).
        func choose(piece: Int, dataOnly: Bool) -> (plan: [UInt16], total: Int) {
            var chosen = [Bool](repeating: false, count: page.slotCount)
            var plan: [UInt16] = []
            var total = 0
            for s in candidates where size[Int(s)] <= piece && total + size[Int(s)] <= limit
                && !(dataOnly && holdsBlob[Int(s)])
            {
                // Bigger first, so an ancestor of `s` was considered before `s`.
                var up = parent[Int(s)], steps = 0
                var inside = false
                while up != 0 && steps <= page.slotCount {
                    if chosen[Int(up)] { inside = true; break }
                    up = parent[Int(up)]
                    steps += 1
                }
                if inside { continue }
                chosen[Int(s)] = true
                plan.append(s)
                total += size[Int(s)]
                if total >= target || plan.count >= 4_096 { break }
            }
            return (plan, total)
        }
        let deep = choose(piece: live / 16, dataOnly: true)
        if deep.total >= live / 4 { return deep.plan }
        let plan = choose(piece: limit, dataOnly: false).plan
        if !plan.isEmpty { return plan }
        if let fallback = candidates.last(where: { size[Int($0)] > limit }) { return [fallback] }
        return []
    }

    /// Splits a child blob sideways: moves about half its live bytes worth of the subtrees that
    /// `parent`'s Blob nodes refer to (never all of them) into a new sibling blob, and points
    /// those Blob nodes there. Costs one pass over `parent` and `blob`.
    /// - Returns: `false`, changing nothing, when `parent` refers to fewer than two of its subtrees.
    func splitRoots(_ blob: BlobID, parent: BlobID) throws(HoltError) -> Bool {
        let references = try source.read(parent) { (raw) throws(HoltError) -> [(slot: UInt16, root: UInt16)] in
            let page = PageView(base: raw, id: parent)
            var found: [(slot: UInt16, root: UInt16)] = []
            for s in 1..<max(page.slotCount, 1) where page.entry(s) >> 24 == UInt32(NodeType.blob.rawValue) {
                let child = page.blobChild(try page.node(UInt16(s)))
                if child.blob == blob { found.append((UInt16(s), child.slot)) }
            }
            return found
        }
        let chosen = try source.read(blob) { (raw) throws(HoltError) -> [(slot: UInt16, root: UInt16)] in
            let page = PageView(base: raw, id: blob)
            var chosen: [(slot: UInt16, root: UInt16)] = []
            var total = 0
            for reference in references.dropLast() where total < page.liveBytes / 2 {
                total += try SubtreeCopy.cost(of: reference.root, in: page)
                chosen.append(reference)
            }
            return chosen
        }
        guard !chosen.isEmpty else { return false }
        let child = try source.allocate()
        let tops = try source.write(child) { (childRaw) throws(HoltError) -> [UInt16] in
            let target = MutablePageView(base: childRaw, id: child)
            target.format(dataEnd: dataEnd)
            return try source.read(blob) { (raw) throws(HoltError) -> [UInt16] in
                var tops: [UInt16] = []
                for reference in chosen {
                    tops.append(try SubtreeCopy.copy(from: PageView(base: raw, id: blob), root: reference.root, skip: 0,
                                                     into: target, rootSlot: nil, counters: &counters))
                }
                return tops
            }
        }
        try source.write(parent) { (raw) throws(HoltError) in
            let page = MutablePageView(base: raw, id: parent)
            for (reference, top) in zip(chosen, tops) {
                try page.writeBlob(at: try page.view.node(reference.slot).offset, child, slot: top)
            }
        }
        try source.write(blob) { (raw) throws(HoltError) in
            let page = MutablePageView(base: raw, id: blob)
            for reference in chosen { try page.freeSubtree(reference.root) }
            try page.compact(&counters)
        }
        counters.splits += 1
        return true
    }
}
