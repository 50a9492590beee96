/// The structural check: every blob reachable from the root, every node in it, and the space
/// accounting of each blob, against the invariants listed on `ARTIndex`.
extension ARTIndex {
    func verify() -> [String] {
        var problems: [String] = []
        var seen: Set<BlobID> = [root]
        var queue: [(blob: BlobID, depth: Int)] = [(root, 0)]
        while let (blob, depth) = queue.popLast() {
            guard depth <= Self.maxPathLength else {
                problems.append("\(blob): blob nesting deeper than any key")
                continue
            }
            do {
                let children = try source.read(blob) { (raw) throws(HoltError) -> [BlobID] in
                    try Self.verify(PageView(base: raw, id: blob), isTreeRoot: blob == root, &problems)
                }
                for child in children {
                    if seen.insert(child).inserted {
                        queue.append((child, depth + 1))
                    } else {
                        problems.append("\(child) is referred to more than once")
                    }
                }
            } catch {
                problems.append("\(blob): \(error)")
            }
        }
        return problems
    }

    /// Every blob reachable from the root (for tests and the store's leak check).
    func reachableBlobs() throws(HoltError) -> Set<BlobID> {
        var seen: Set<BlobID> = [root]
        var queue = [root]
        while let blob = queue.popLast() {
            let children = try source.read(blob) { (raw) throws(HoltError) -> [BlobID] in
                let page = PageView(base: raw, id: blob)
                try page.validateHeader()
                var result: [BlobID] = []
                for s in try SubtreeCopy.nodes(of: page.rootSlot, in: page) {
                    let node = try page.node(s)
                    if node.type == .blob { result.append(page.blobChild(node)) }
                }
                return result
            }
            for child in children where seen.insert(child).inserted { queue.append(child) }
            guard seen.count < 1 << 40 else { break }
        }
        return seen
    }

    /// Checks one blob; returns the child blobs it refers to.
    private static func verify(_ page: PageView, isTreeRoot: Bool, _ problems: inout [String]) throws(HoltError) -> [BlobID] {
        try page.validateHeader()
        let name = "\(page.id)"
        var children: [BlobID] = []
        var reached = [Bool](repeating: false, count: page.slotCount)
        var liveBytes = 0, liveSlots = 0
        var stack: [(slot: UInt16, terminator: Bool)] = [(page.rootSlot, false)]
        while let (slot, terminator) = stack.popLast() {
            let node = try page.node(slot)
            if reached[Int(slot)] {
                problems.append("\(name): slot \(slot) reached twice")
                continue
            }
            reached[Int(slot)] = true
            liveSlots += 1
            liveBytes += try page.size(of: node)
            let isRoot = slot == page.rootSlot
            if terminator && node.type != .leaf { problems.append("\(name): terminator child \(slot) is a \(node.type)") }
            switch node.type {
            case .leaf:
                let leaf = try page.leaf(node)
                if terminator && leaf.suffixLength != 0 { problems.append("\(name): terminator leaf \(slot) has a suffix") }
                if page.bytes(leaf.suffix, leaf.suffixLength).contains(0) { problems.append("\(name): leaf \(slot) suffix holds NUL") }
            case .prefix:
                let prefix = try page.prefix(node)
                if page.bytes(prefix.bytes, prefix.length).contains(0) { problems.append("\(name): prefix \(slot) holds NUL") }
                stack.append((prefix.child, false))
            case .blob:
                children.append(page.blobChild(node))
            case .emptyRoot:
                if !(isTreeRoot && isRoot) { problems.append("\(name): EmptyRoot in slot \(slot) is not the tree's root") }
            case .node4, .node16, .node48, .node256:
                let kids = try page.children(node)
                let bounds: ClosedRange<Int> = switch node.type {
                case .node4: 2...4
                case .node16: 4...16
                case .node48: 13...48
                default: 41...256
                }
                if !bounds.contains(kids.count) { problems.append("\(name): \(node.type) \(slot) has \(kids.count) children") }
                if page.childCount(node) != kids.count {
                    problems.append("\(name): \(node.type) \(slot) counts \(page.childCount(node)) children, has \(kids.count)")
                }
                if node.type == .node4 || node.type == .node16 {
                    let keyStart = node.offset + (node.type == .node4 ? 1 : 2)
                    let keys = page.bytes(keyStart, min(page.childCount(node), node.type == .node4 ? 4 : 16))
                    if zip(keys, keys.dropFirst()).contains(where: { $0 >= $1 }) {
                        problems.append("\(name): \(node.type) \(slot) keys out of order")
                    }
                }
                for c in kids {
                    if c.slot == 0 { problems.append("\(name): \(node.type) \(slot) has a null child"); continue }
                    stack.append((c.slot, c.byte == 0))
                }
            case .invalid:
                break
            }
            if isRoot && !isTreeRoot && node.type == .emptyRoot { problems.append("\(name): child blob is empty") }
        }
        var tableLive = 0
        for s in 1..<max(page.slotCount, 1) where page.entry(s) >> 24 != 0 {
            tableLive += 1
            if !reached[s] { problems.append("\(name): slot \(s) is live but unreachable") }
        }
        if tableLive != liveSlots { problems.append("\(name): \(tableLive) live slots, \(liveSlots) reachable") }
        if page.liveBytes != liveBytes {
            problems.append("\(name): header says \(page.liveBytes) live bytes, nodes hold \(liveBytes)")
        }
        var free = 0
        var next = Int(page.freeSlotHead)
        while next != 0 && free <= page.slotCount {
            guard next < page.slotCount, page.entry(next) >> 24 == 0 else {
                problems.append("\(name): free slot list reaches a live or bad slot \(next)")
                break
            }
            free += 1
            next = Int(page.entry(next) & 0xFFFF)
        }
        if free != page.freeSlotCount || free + tableLive + 1 != page.slotCount {
            problems.append("\(name): free slot list has \(free), header \(page.freeSlotCount), table \(page.slotCount)")
        }
        return children
    }
}
