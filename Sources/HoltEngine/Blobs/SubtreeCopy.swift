/// Copying a subtree of nodes from one blob into another: the one mechanism behind split
/// (subtree to a new child blob), merge (child blob back into its parent) and prefix moves
/// (detached subtree into a holding blob). Blob nodes are copied as references, so the cost is
/// bounded by the bytes of the one source blob, never by the keys below its child blobs.
enum SubtreeCopy {
    /// The in-blob nodes of the subtree at `root`, parents before children.
    static func nodes(of root: UInt16, in page: PageView) throws(HoltError) -> [UInt16] {
        var order: [UInt16] = []
        var stack = [root]
        while let s = stack.popLast() {
            order.append(s)
            guard order.count <= page.slotCount else { throw page.corrupted("cycle below slot \(root)") }
            stack += try page.childSlots(try page.node(s))
        }
        return order
    }

    /// The bytes (with one slot entry each) the subtree at `root` occupies.
    static func cost(of root: UInt16, in page: PageView) throws(HoltError) -> Int {
        var total = 0
        for s in try nodes(of: root, in: page) { total += try page.size(of: try page.node(s)) + 4 }
        return total
    }

    /// Copies the subtree at `root` of `source` into `target`, dropping the first `skip` path
    /// bytes of the root (a Prefix's bytes or a leaf's suffix). The root goes into `rootSlot`
    /// when given (replacing that node), else into a new slot. The caller checks for room.
    /// - Returns: The slot of the copied root in `target`.
    static func copy(
        from source: PageView, root: UInt16, skip: Int, into target: MutablePageView, rootSlot: UInt16?,
        counters: inout ARTCounters
    ) throws(HoltError) -> UInt16 {
        let order = try nodes(of: root, in: source)
        var map = [UInt16](repeating: 0, count: source.slotCount)
        for s in order {
            let node = try source.node(s)
            let isRoot = s == root
            var size = try source.size(of: node)
            var from = node.offset
            var length = size
            var trimmed: [UInt8]? = nil
            if isRoot && skip > 0 {
                switch node.type {
                case .prefix:
                    let p = try source.prefix(node)
                    guard skip < p.length else { throw source.corrupted("cannot trim \(skip) bytes of a prefix") }
                    trimmed = source.bytes(p.bytes + skip, p.length - skip)
                    size = ARTLayout.prefixSize(p.length - skip)
                case .leaf:
                    let l = try source.leaf(node)
                    guard skip <= l.suffixLength else { throw source.corrupted("cannot trim \(skip) bytes of a leaf") }
                    size = ARTLayout.leafSize(suffix: l.suffixLength - skip, value: l.valueLength)
                    from = l.suffix + skip
                    length = l.suffixLength - skip + l.valueLength
                default:
                    throw source.corrupted("cannot trim a \(node.type) node")
                }
            }
            let slot: UInt16, offset: Int
            if isRoot, let rootSlot {
                slot = rootSlot
                offset = try target.replaceNode(rootSlot, node.type, size: size)
            } else {
                (slot, offset) = try target.newNode(node.type, size: size)
            }
            map[Int(s)] = slot
            if isRoot && skip > 0 {
                if node.type == .prefix, let trimmed {
                    target.writePrefix(at: offset, child: try source.prefix(node).child, bytes: trimmed[...])
                } else {
                    let l = try source.leaf(node)
                    target.set16(offset, UInt16(l.suffixLength - skip))
                    target.set16(offset + 2, UInt16(l.valueLength))
                    target.copy(from: source, from, to: offset + 4, length: length)
                }
            } else {
                target.copy(from: source, from, to: offset, length: length)
            }
            counters.bytesCopied += length
        }
        // Point the copies at the copies of their children.
        let copied = target.view
        for s in order {
            let node = try copied.node(map[Int(s)])
            switch node.type {
            case .prefix:
                let child = try copied.prefix(node).child
                guard Int(child) < map.count, map[Int(child)] != 0 else { throw source.corrupted("dangling child \(child)") }
                target.setPrefixChild(node, map[Int(child)])
            case .node4, .node16, .node48, .node256:
                for c in try copied.children(node) {
                    guard Int(c.slot) < map.count, map[Int(c.slot)] != 0 else { throw source.corrupted("dangling child \(c.slot)") }
                    try target.setChild(node, c.byte, map[Int(c.slot)])
                }
            default:
                break
            }
        }
        return map[Int(root)]
    }
}
