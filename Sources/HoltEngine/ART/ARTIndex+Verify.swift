/// The structural check: every blob reachable from the root, every node in it, and the space
/// accounting of each blob, against the invariants listed on `ARTIndex`.
extension ARTIndex {
    /// What the walk found in one blob.
    private struct BlobTally {
        /// Slots reached from the blob's roots.
        var reached: [Bool]
        /// Their bytes.
        var bytes = 0
        /// How many.
        var slots = 0
    }

    func verify() -> [String] {
        var problems: [String] = []
        var tallies: [BlobID: BlobTally] = [:]
        var pending: [(blob: BlobID, slot: UInt16)] = [(root, 0)]
        while let (blob, slot) = pending.popLast() {
            do {
                let children = try source.read(blob) { (raw) throws(HoltError) -> [(blob: BlobID, slot: UInt16)] in
                    let page = PageView(base: raw, id: blob)
                    try page.validateHeader()
                    var tally = tallies[blob] ?? BlobTally(reached: [Bool](repeating: false, count: page.slotCount))
                    defer { tallies[blob] = tally }
                    let start = slot == 0 ? page.rootSlot : slot
                    return try Self.verify(page, from: start, isTreeRoot: blob == root, &tally, &problems)
                }
                pending += children
            } catch {
                problems.append("\(blob): \(error)")
            }
        }
        for (blob, tally) in tallies {
            do {
                try source.read(blob) { (raw) throws(HoltError) in
                    Self.verifySpace(PageView(base: raw, id: blob), tally, &problems)
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
        var visited: Set<[UInt64]> = []
        var pending: [(blob: BlobID, slot: UInt16)] = [(root, 0)]
        while let (blob, slot) = pending.popLast() {
            guard visited.insert([blob.rawValue, UInt64(slot)]).inserted else { continue }
            seen.insert(blob)
            pending += try source.read(blob) { (raw) throws(HoltError) -> [(blob: BlobID, slot: UInt16)] in
                let page = PageView(base: raw, id: blob)
                try page.validateHeader()
                var result: [(blob: BlobID, slot: UInt16)] = []
                for s in try SubtreeCopy.nodes(of: slot == 0 ? page.rootSlot : slot, in: page) {
                    let node = try page.node(s)
                    if node.type == .blob { result.append(page.blobChild(node)) }
                }
                return result
            }
        }
        return seen
    }

    /// Checks the subtree at `start` of one blob; returns the child subtrees it refers to.
    private static func verify(
        _ page: PageView, from start: UInt16, isTreeRoot: Bool, _ tally: inout BlobTally, _ problems: inout [String]
    ) throws(HoltError) -> [(blob: BlobID, slot: UInt16)] {
        let name = "\(page.id)"
        var children: [(blob: BlobID, slot: UInt16)] = []
        var stack: [(slot: UInt16, terminator: Bool)] = [(start, false)]
        while let (slot, terminator) = stack.popLast() {
            let node = try page.node(slot)
            if tally.reached[Int(slot)] {
                problems.append("\(name): slot \(slot) reached twice")
                continue
            }
            tally.reached[Int(slot)] = true
            tally.slots += 1
            tally.bytes += try page.size(of: node)
            let isRoot = slot == start
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
                let child = page.blobChild(node)
                if isRoot { problems.append("\(name): Blob node \(slot) is a subtree root") }
                if child.slot == 0 { problems.append("\(name): Blob node \(slot) has no root slot") } else { children.append(child) }
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
        }
        return children
    }

    /// Checks one blob's space accounting and slot table against what the walk reached.
    private static func verifySpace(_ page: PageView, _ tally: BlobTally, _ problems: inout [String]) {
        let name = "\(page.id)"
        var tableLive = 0
        for s in 1..<max(min(page.slotCount, tally.reached.count), 1) where page.entry(s) >> 24 != 0 {
            tableLive += 1
            if !tally.reached[s] { problems.append("\(name): slot \(s) is live but unreachable") }
        }
        if tableLive != tally.slots { problems.append("\(name): \(tableLive) live slots, \(tally.slots) reachable") }
        if page.liveBytes != tally.bytes {
            problems.append("\(name): header says \(page.liveBytes) live bytes, nodes hold \(tally.bytes)")
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
    }
}
