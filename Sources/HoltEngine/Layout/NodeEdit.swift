/// Structural edits of nodes inside one blob: chains of Prefix nodes, adding and removing
/// children of inner nodes (growing at 5/17/49 children, shrinking at 3/12/40 with the
/// hysteresis that gives), collapsing a Node4 left with one child, and freeing subtrees.
///
/// Edits keep slot numbers: a node that changes kind keeps its slot, so its parent's
/// reference stays valid. Removal edits never allocate (they shrink in place), so a remove
/// never needs room.
extension MutablePageView {
    /// Writes a chain of Prefix nodes holding `bytes` (not empty) above `child`; the top node
    /// goes into `topSlot` when given (replacing what was there), else into a new slot.
    /// - Returns: The slot of the top of the chain.
    func writeChain(_ bytes: ArraySlice<UInt8>, child: UInt16, topSlot: UInt16?) throws(HoltError) -> UInt16 {
        let cap = ARTLayout.prefixCapacity
        var starts: [Int] = []
        var s = bytes.startIndex
        while s < bytes.endIndex {
            starts.append(s)
            s += cap
        }
        var next = child
        for (n, start) in starts.enumerated().reversed() {
            let end = min(start + cap, bytes.endIndex)
            let size = ARTLayout.prefixSize(end - start)
            let slot: UInt16, offset: Int
            if n == 0, let top = topSlot {
                slot = top
                offset = try replaceNode(top, .prefix, size: size)
            } else {
                (slot, offset) = try newNode(.prefix, size: size)
            }
            writePrefix(at: offset, child: next, bytes: bytes[start..<end])
            next = slot
        }
        return next
    }

    /// Adds `child` under `byte` to the inner node in `slot`, growing it when full.
    func addChild(_ slot: UInt16, _ byte: UInt8, _ child: UInt16) throws(HoltError) {
        let v = view
        let node = try v.node(slot)
        let o = node.offset
        let count = v.childCount(node)
        switch node.type {
        case .node256:
            guard v.u16(o + 2 + 2 * Int(byte)) == 0 else { throw v.corrupted("child \(byte) exists in slot \(slot)") }
            set16(o + 2 + 2 * Int(byte), child)
            set16(o, UInt16(truncatingIfNeeded: count + 1))
            return
        case .node48 where count < 48:
            guard v.u8(o + 2 + Int(byte)) == 0 else { throw v.corrupted("child \(byte) exists in slot \(slot)") }
            // Children of a Node48 are kept packed in 0..<count.
            set8(o + 2 + Int(byte), UInt8(count + 1))
            set16(o + 258 + 2 * count, child)
            set8(o, UInt8(count + 1))
            return
        case .node4, .node16, .node48:
            break
        default:
            throw v.corrupted("slot \(slot) is not an inner node")
        }
        var kids = try v.children(node)
        let at = kids.firstIndex { $0.byte >= byte } ?? kids.count
        if at < kids.count && kids[at].byte == byte { throw v.corrupted("child \(byte) exists in slot \(slot)") }
        kids.insert((byte, child), at: at)
        let type: NodeType
        switch kids.count {
        case ...4: type = .node4
        case ...16: type = .node16
        case ...48: type = .node48
        default: type = .node256
        }
        let size = Self.innerSize(type)
        let offset: Int
        if type == node.type {
            offset = o
            zero(o, size)
        } else {
            offset = try replaceNode(slot, type, size: size)
        }
        writeInner(at: offset, type, kids)
    }

    /// The size of an inner node of `type`.
    static func innerSize(_ type: NodeType) -> Int {
        switch type {
        case .node4: ARTLayout.node4Size
        case .node16: ARTLayout.node16Size
        case .node48: ARTLayout.node48Size
        default: ARTLayout.node256Size
        }
    }

    /// Removes the child under `byte` from the inner node in `slot` (the child itself is not
    /// freed), shrinking the node or collapsing a Node4 left with one child. Never allocates.
    func removeChild(_ slot: UInt16, _ byte: UInt8) throws(HoltError) {
        let v = view
        let node = try v.node(slot)
        let o = node.offset
        if node.type == .node256 && v.childCount(node) > 41 {
            guard v.u16(o + 2 + 2 * Int(byte)) != 0 else { throw v.corrupted("no child \(byte) in slot \(slot)") }
            set16(o + 2 + 2 * Int(byte), 0)
            set16(o, UInt16(v.childCount(node) - 1))
            return
        }
        if node.type == .node48 && v.childCount(node) > 13 && v.childCount(node) <= 48 {
            let count = v.childCount(node)
            let index = Int(v.u8(o + 2 + Int(byte)))
            guard index > 0, index <= count else { throw v.corrupted("no child \(byte) in slot \(slot)") }
            // Keep children packed: the last one moves into the hole.
            let last = count - 1
            if index - 1 != last {
                let moved = v.u16(o + 258 + 2 * last)
                set16(o + 258 + 2 * (index - 1), moved)
                for b in 0..<256 where Int(v.u8(o + 2 + b)) == count {
                    set8(o + 2 + b, UInt8(index))
                    break
                }
            }
            set16(o + 258 + 2 * last, 0)
            set8(o + 2 + Int(byte), 0)
            set8(o, UInt8(last))
            return
        }
        var kids = try v.children(node)
        guard let at = kids.firstIndex(where: { $0.byte == byte }) else {
            throw v.corrupted("no child \(byte) in slot \(slot)")
        }
        kids.remove(at: at)
        if kids.count == 1 && node.type == .node4 {
            try collapse(slot, kids[0])
            return
        }
        guard !kids.isEmpty else { throw v.corrupted("inner node in slot \(slot) lost its last child") }
        let type: NodeType
        switch node.type {
        case .node16 where kids.count <= 3: type = .node4
        case .node48 where kids.count <= 12: type = .node16
        case .node256 where kids.count <= 40: type = .node48
        default: type = node.type
        }
        let size = Self.innerSize(type)
        let offset = try replaceNode(slot, type, size: size)  // never larger: in place
        writeInner(at: offset, type, kids)
    }

    /// Turns the Node4 in `slot`, left with the single child `only`, into a Prefix of one byte
    /// (merged with the child when that fits in place), or into the child itself when the child
    /// is the terminator leaf.
    private func collapse(_ slot: UInt16, _ only: (byte: UInt8, slot: UInt16)) throws(HoltError) {
        let v = view
        if only.byte == 0 {
            try moveNode(from: only.slot, to: slot)
            return
        }
        let child = try v.node(only.slot)
        switch child.type {
        case .prefix:
            let p = try v.prefix(child)
            if p.length < ARTLayout.prefixCapacity {
                let size = ARTLayout.prefixSize(p.length + 1)
                if size <= ARTLayout.node4Size {
                    var bytes = [only.byte]
                    bytes += v.bytes(p.bytes, p.length)
                    let grandchild = p.child
                    try freeNode(only.slot)
                    let offset = try replaceNode(slot, .prefix, size: size)
                    writePrefix(at: offset, child: grandchild, bytes: bytes[...])
                    return
                }
                if size == ARTLayout.prefixSize(p.length) {
                    move(from: p.bytes, to: p.bytes + 1, length: p.length)
                    set8(p.bytes, only.byte)
                    set8(child.offset + 2, UInt8(p.length + 1))
                    try moveNode(from: only.slot, to: slot)
                    return
                }
            }
        case .leaf:
            let l = try v.leaf(child)
            if l.suffixLength < Tree.maxKeyLength,
               ARTLayout.leafSize(suffix: l.suffixLength + 1, value: l.valueLength)
                == ARTLayout.leafSize(suffix: l.suffixLength, value: l.valueLength) {
                move(from: l.suffix, to: l.suffix + 1, length: l.suffixLength + l.valueLength)
                set8(l.suffix, only.byte)
                set16(child.offset, UInt16(l.suffixLength + 1))
                try moveNode(from: only.slot, to: slot)
                return
            }
        default:
            break
        }
        let offset = try replaceNode(slot, .prefix, size: ARTLayout.prefixSize(1))
        writePrefix(at: offset, child: only.slot, bytes: [only.byte][...])
    }

    /// Makes `target` hold the node of slot `from` (whose slot is freed, its bytes kept); the
    /// bytes `target` had become dead.
    func moveNode(from: UInt16, to target: UInt16) throws(HoltError) {
        let v = view
        let old = try v.node(target)
        let moved = try v.node(from)
        setDeadBytes(v.deadBytes + (try v.size(of: old)))
        setEntry(target, moved.type, moved.offset)
        freeSlot(from)
    }

    /// Puts `slot` on the free list without touching the dead-byte count.
    func freeSlot(_ slot: UInt16) {
        let v = view
        set32(ARTLayout.slotTable + 4 * Int(slot), UInt32(v.freeSlotHead))
        setFreeSlotHead(slot)
        setFreeSlotCount(v.freeSlotCount + 1)
    }

    /// Frees `slot` and every node below it in this blob (child blobs are not touched).
    func freeSubtree(_ slot: UInt16) throws(HoltError) {
        let v = view
        var stack = [slot]
        var freed = 0
        while let s = stack.popLast() {
            freed += 1
            guard freed <= v.slotCount else { throw v.corrupted("cycle below slot \(slot)") }
            stack += try v.childSlots(try v.node(s))
            try freeNode(s)
        }
    }
}
