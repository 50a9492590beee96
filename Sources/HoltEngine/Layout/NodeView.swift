/// Read access to the ART part of one blob frame: header fields, slot table and node bytes.
///
/// This file and `MutablePageView` below are the only ART code that touches raw pointers.
/// Every offset and slot read from the blob is bounds-checked against the header before it is
/// followed, so damaged bytes surface as `HoltError.corrupted`, never as a trap.
///
/// Invariants of a sound page (checked by `ARTIndex.verify()`):
/// 1. `slotTable + 4 * slotCount <= dataLow <= dataEnd <= blobSize`.
/// 2. every live slot's node lies in `dataLow..<dataEnd`, 8-byte aligned.
/// 3. live bytes + dead bytes == `dataEnd - dataLow`.
struct PageView {
    /// The first byte of the blob frame (valid only inside the source's closure).
    let base: UnsafeRawPointer
    /// The blob, for error messages.
    let id: BlobID

    /// `count` bytes at `offset`, borrowed (valid as long as the frame; callers bounds-check).
    @inline(__always) func rawBytes(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    /// Copies `count` bytes at `offset` to `destination`.
    @inline(__always) func copyBytes(_ offset: Int, _ count: Int, to destination: UnsafeMutableRawPointer) {
        destination.copyMemory(from: base + offset, byteCount: count)
    }

    /// The index of the first `byte` in `count` bytes at `offset`, or nil.
    @inline(__always) func firstIndex(of byte: UInt8, _ offset: Int, _ count: Int) -> Int? {
        guard let hit = memchr(base + offset, Int32(byte), count) else { return nil }
        return UnsafeRawPointer(hit) - (base + offset)
    }

    // Little-endian loads at a byte offset of the frame (callers bounds-check the offset).
    /// The byte at `o`.
    @inline(__always) func u8(_ o: Int) -> UInt8 { base.load(fromByteOffset: o, as: UInt8.self) }
    /// The `u16` at `o`.
    @inline(__always) func u16(_ o: Int) -> UInt16 {
        UInt16(littleEndian: base.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }
    /// The `u32` at `o`.
    @inline(__always) func u32(_ o: Int) -> UInt32 {
        UInt32(littleEndian: base.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }
    /// The `u64` at `o`.
    @inline(__always) func u64(_ o: Int) -> UInt64 {
        UInt64(littleEndian: base.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }

    // MARK: Header (fields as in docs/FORMAT.md; not trusted before `validateHeader()`)

    /// "HART" in a formatted blob.
    var magic: UInt32 { u32(ARTLayout.header + ARTLayout.magicField) }
    /// The ART format version.
    var version: UInt32 { u32(ARTLayout.header + ARTLayout.versionField) }
    /// The slot of the blob's root node.
    var rootSlot: UInt16 { u16(ARTLayout.header + ARTLayout.rootField) }
    /// Entries in the slot table, slot 0 included.
    var slotCount: Int { Int(u16(ARTLayout.header + ARTLayout.slotCountField)) }
    /// The first free slot, or 0.
    var freeSlotHead: UInt16 { u16(ARTLayout.header + ARTLayout.freeSlotHeadField) }
    /// The length of the free-slot list.
    var freeSlotCount: Int { Int(u16(ARTLayout.header + ARTLayout.freeSlotCountField)) }
    /// The lowest byte of node data (the bump pointer).
    var dataLow: Int { Int(u32(ARTLayout.header + ARTLayout.dataLowField)) }
    /// The end of the data area.
    var dataEnd: Int { Int(u32(ARTLayout.header + ARTLayout.dataEndField)) }
    /// Bytes of freed nodes not yet reclaimed by compaction.
    var deadBytes: Int { Int(u32(ARTLayout.header + ARTLayout.deadBytesField)) }
    /// The first byte after the slot table.
    var slotTableEnd: Int { ARTLayout.slotTable + 4 * slotCount }
    /// Bytes between the slot table and the node data: what allocation can still use.
    var freeBytes: Int { dataLow - slotTableEnd }
    /// Bytes of live node data.
    var liveBytes: Int { dataEnd - dataLow - deadBytes }
    /// The data area's capacity (everything after the header).
    var capacity: Int { dataEnd - ARTLayout.slotTable }

    /// The error for bad bytes in this blob.
    func corrupted(_ reason: String) -> HoltError { .corrupted(what: "\(id)", reason: reason) }

    /// Checks the header fields that every access relies on.
    func validateHeader() throws(HoltError) {
        guard magic == ARTLayout.magic else { throw corrupted("not an ART blob (magic \(magic))") }
        guard version == ARTLayout.formatVersion else { throw .unsupportedFormat(version: version) }
        let low = dataLow, end = dataEnd
        guard end <= BlobGeometry.blobSize, slotTableEnd <= low, low <= end, low & 7 == 0,
              deadBytes <= end - low
        else { throw corrupted("bad space fields (low \(low), end \(end), slots \(slotCount))") }
    }

    // MARK: Slots

    /// The raw slot-table entry of `slot` (no checks beyond the table's bounds).
    @inline(__always) func entry(_ slot: Int) -> UInt32 { u32(ARTLayout.slotTable + 4 * slot) }

    /// The node in `slot`, checked: a live slot, a known kind, its fixed part inside the data area.
    ///
    /// Inlined into every walk (it runs once per node visited); the reason for a failure is
    /// worked out apart, in `nodeFailure`.
    @inline(__always)
    func node(_ slot: UInt16) throws(HoltError) -> NodeRef {
        let s = Int(slot)
        if s > 0, s < slotCount {
            let e = entry(s)
            let raw = UInt8(truncatingIfNeeded: e >> 24)
            let offset = Int(e & 0xFFFF) << 3
            if raw > NodeType.invalid.rawValue, raw <= NodeType.emptyRoot.rawValue,
               offset >= dataLow, offset + Self.fixedSize(raw) <= dataEnd
            {
                // `raw` is in 1...8: the enum's cases are its raw values 0...8, in order.
                let type = unsafeBitCast(raw, to: NodeType.self)
                assert(type == NodeType(rawValue: raw), "NodeType's cases are not its raw values in order")
                return NodeRef(type: type, offset: offset, slot: slot)
            }
        }
        throw nodeFailure(slot)
    }

    /// The bytes of a node's fixed part, by raw node type.
    @inline(__always)
    private static func fixedSize(_ raw: UInt8) -> Int {
        switch raw {
        case NodeType.node16.rawValue: ARTLayout.node16Size
        case NodeType.node48.rawValue: ARTLayout.node48Size
        case NodeType.node256.rawValue: ARTLayout.node256Size
        default: 8
        }
    }

    /// Why `node(slot)` failed.
    @inline(never)
    private func nodeFailure(_ slot: UInt16) -> HoltError {
        let s = Int(slot)
        guard s > 0, s < slotCount else { return corrupted("slot \(s) out of range") }
        let e = entry(s)
        guard let type = NodeType(rawValue: UInt8(truncatingIfNeeded: e >> 24)), type != .invalid else {
            return corrupted("slot \(s) has bad type \(e >> 24)")
        }
        let offset = Int(e & 0xFFFF) << 3
        guard offset >= dataLow, offset + 8 <= dataEnd else { return corrupted("slot \(s) offset \(offset) outside data") }
        return corrupted("slot \(s) node overruns data")
    }

    /// The size in bytes of `node`, checked against the data area.
    func size(of node: NodeRef) throws(HoltError) -> Int {
        let size: Int
        switch node.type {
        case .invalid: size = 0
        case .leaf:
            let (_, s, _, v) = try leaf(node)
            size = ARTLayout.leafSize(suffix: s, value: v)
        case .prefix: size = ARTLayout.prefixSize(try prefix(node).length)
        case .blob: size = ARTLayout.blobNodeSize
        case .emptyRoot: size = ARTLayout.emptyRootSize
        case .node4: size = ARTLayout.node4Size
        case .node16: size = ARTLayout.node16Size
        case .node48: size = ARTLayout.node48Size
        case .node256: size = ARTLayout.node256Size
        }
        return size
    }

    // MARK: Leaf: u16 suffix length, u16 value length, suffix bytes, value bytes

    /// A leaf's suffix (offset, length) and value (offset, length).
    @inline(__always)
    func leaf(_ node: NodeRef) throws(HoltError) -> (suffix: Int, suffixLength: Int, value: Int, valueLength: Int) {
        let o = node.offset
        let s = Int(u16(o)), v = Int(u16(o + 2))
        guard o + 4 + s + v <= dataEnd else { throw corrupted("leaf in slot \(node.slot) overruns data") }
        return (o + 4, s, o + 4 + s, v)
    }

    /// The bytes at `offset..<offset+length`, copied.
    func bytes(_ offset: Int, _ length: Int) -> [UInt8] {
        [UInt8](UnsafeRawBufferPointer(start: base + offset, count: length))
    }

    // MARK: Prefix: u16 child, u8 length, u8 0, path bytes

    /// A Prefix node's child slot and path bytes (offset, length).
    @inline(__always) func prefix(_ node: NodeRef) throws(HoltError) -> (child: UInt16, bytes: Int, length: Int) {
        let o = node.offset
        let length = Int(u8(o + 2))
        guard length > 0, length <= ARTLayout.prefixCapacity, o + 4 + length <= dataEnd else {
            throw corrupted("prefix in slot \(node.slot) has bad length \(length)")
        }
        return (u16(o), o + 4, length)
    }

    // MARK: Blob: u64 = child blob id (bits 0..47) | root slot in the child (bits 48..63)

    /// The child blob a Blob node refers to, and the slot of the subtree's root in it.
    @inline(__always) func blobChild(_ node: NodeRef) -> (blob: BlobID, slot: UInt16) {
        let word = u64(node.offset)
        return (BlobID(rawValue: word & ARTLayout.blobIDMask), UInt16(truncatingIfNeeded: word >> 48))
    }

    /// Live slots (slot 0 and free slots excluded), as the header counts them.
    var liveSlots: Int { max(slotCount - freeSlotCount - 1, 0) }

    /// The roots of the blob's subtrees: the live slots no other node of the blob refers to
    /// (one, the header's root, in the tree's root blob; one per Blob node referring here in a
    /// child blob, which may hold several sibling subtrees).
    func roots() throws(HoltError) -> [UInt16] {
        var referenced = [Bool](repeating: false, count: slotCount)
        var live: [UInt16] = []
        for s in 1..<max(slotCount, 1) where entry(s) >> 24 != 0 {
            live.append(UInt16(s))
            for c in try childSlots(try node(UInt16(s))) where Int(c) < slotCount { referenced[Int(c)] = true }
        }
        return live.filter { !referenced[Int($0)] }
    }

    // MARK: Inner nodes

    /// The number of children of an inner node.
    @inline(__always) func childCount(_ node: NodeRef) -> Int {
        switch node.type {
        case .node256: Int(u16(node.offset))
        default: Int(u8(node.offset))
        }
    }

    /// The child of inner node `node` under `byte`, or 0.
    @inline(__always) func child(_ node: NodeRef, _ byte: UInt8) throws(HoltError) -> UInt16 {
        let o = node.offset
        switch node.type {
        case .node4, .node16:
            let (count, keys, children) = node.type == .node4 ? (min(Int(u8(o)), 4), o + 1, o + 8)
                                                             : (min(Int(u8(o)), 16), o + 2, o + 18)
            var i = 0
            while i < count {
                if u8(keys + i) == byte { return u16(children + 2 * i) }
                i += 1
            }
            return 0
        case .node48:
            let index = Int(u8(o + 2 + Int(byte)))
            if index == 0 { return 0 }
            guard index <= 48 else { throw corrupted("node48 in slot \(node.slot) has bad index \(index)") }
            return u16(o + 258 + 2 * (index - 1))
        case .node256:
            return u16(o + 2 + 2 * Int(byte))
        default:
            return 0
        }
    }

    /// The child of inner node `node` with the smallest key byte `>= from`, or nil.
    func child(_ node: NodeRef, atOrAfter from: Int) throws(HoltError) -> (byte: UInt8, slot: UInt16)? {
        guard from <= 255 else { return nil }
        guard let c = try child(node, cursor: childCursor(node, atOrAfter: from)) else { return nil }
        return (c.byte, c.slot)
    }

    /// Where an in-order walk of inner node `node`'s children starts to get the first child with
    /// a key byte `>= from`: pass it to `child(_:cursor:)`.
    ///
    /// A cursor is an index into the sorted keys of a Node4/Node16 and a key byte of a
    /// Node48/Node256; either way a walk never searches again from the start.
    @inline(__always) func childCursor(_ node: NodeRef, atOrAfter from: Int) -> Int {
        switch node.type {
        case .node4, .node16:
            // Keys are sorted (a damaged order only misorders the walk, it cannot lengthen it).
            let o = node.offset
            let (count, keys) = node.type == .node4 ? (min(Int(u8(o)), 4), o + 1) : (min(Int(u8(o)), 16), o + 2)
            var i = 0
            while i < count, Int(u8(keys + i)) < from { i += 1 }
            return i
        default:
            return max(from, 0)
        }
    }

    /// The child of inner node `node` at `cursor` or after it, in key order, and the cursor of the
    /// child after it; nil when the node has no more. Start with `childCursor(_:atOrAfter:)`.
    ///
    /// Node48 and Node256 are searched eight index bytes (four child slots) at a time, so a
    /// sparse node costs its word count, not 256 byte tests.
    @inline(__always)
    func child(_ node: NodeRef, cursor: Int) throws(HoltError) -> (byte: UInt8, slot: UInt16, next: Int)? {
        let o = node.offset
        switch node.type {
        case .node4, .node16:
            let (count, keys, children) = node.type == .node4 ? (min(Int(u8(o)), 4), o + 1, o + 8)
                                                             : (min(Int(u8(o)), 16), o + 2, o + 18)
            guard cursor >= 0, cursor < count else { return nil }
            return (u8(keys + cursor), u16(children + 2 * cursor), cursor + 1)
        case .node48:
            var b = cursor
            let index = o + 2
            while b < 256 {
                // Skip a run of empty index bytes a word at a time once `b` is word-aligned.
                if b & 7 == 0, b + 8 <= 256, u64(index + b) == 0 {
                    b += 8
                    continue
                }
                let i = Int(u8(index + b))
                if i != 0 {
                    guard i <= 48 else { throw corrupted("node48 in slot \(node.slot) has bad index \(i)") }
                    return (UInt8(b), u16(o + 258 + 2 * (i - 1)), b + 1)
                }
                b += 1
            }
            return nil
        case .node256:
            var b = cursor
            let children = o + 2
            while b < 256 {
                // Four empty child slots at a time once `b` is a multiple of four.
                if b & 3 == 0, b + 4 <= 256, u64(children + 2 * b) == 0 {
                    b += 4
                    continue
                }
                let c = u16(children + 2 * b)
                if c != 0 { return (UInt8(b), c, b + 1) }
                b += 1
            }
            return nil
        default:
            return nil
        }
    }

    /// Every (byte, child) of an inner node, in key order (in stored order for a Node4/Node16
    /// whose keys are damaged).
    func children(_ node: NodeRef) throws(HoltError) -> [(byte: UInt8, slot: UInt16)] {
        var result: [(byte: UInt8, slot: UInt16)] = []
        result.reserveCapacity(min(childCount(node), 256))
        var cursor = childCursor(node, atOrAfter: 0)
        while let c = try child(node, cursor: cursor) {
            result.append((c.byte, c.slot))
            cursor = c.next
        }
        return result
    }

    /// Every child slot a node refers to inside this blob (none for Leaf, Blob, EmptyRoot).
    func childSlots(_ node: NodeRef) throws(HoltError) -> [UInt16] {
        switch node.type {
        case .prefix: return [try prefix(node).child]
        case .node4, .node16, .node48, .node256: return try children(node).map { $0.slot }
        default: return []
        }
    }

    /// Compares the path bytes at `offset` with `key[from..<from+length]` (the key may be shorter):
    /// returns how many leading bytes are equal.
    @inline(__always)
    func matchLength(_ offset: Int, _ length: Int, _ key: UnsafeBufferPointer<UInt8>, _ from: Int) -> Int {
        let n = min(length, key.count - from)
        var i = 0
        while i < n, u8(offset + i) == key[from + i] { i += 1 }
        return i
    }
}

/// Write access to one blob frame: allocation, freeing and field updates of nodes.
///
/// The caller checks that there is room (`PageView.freeBytes`) before it allocates; allocation
/// itself only bump-allocates from the top of the free gap.
struct MutablePageView {
    /// The first byte of the blob frame (valid only inside the source's write closure).
    let base: UnsafeMutableRawPointer
    /// The blob, for error messages.
    let id: BlobID

    /// The same page, for reading.
    @inline(__always) var view: PageView { PageView(base: UnsafeRawPointer(base), id: id) }

    // Little-endian stores at a byte offset of the frame.
    /// Stores a byte.
    @inline(__always) func set8(_ o: Int, _ v: UInt8) { base.storeBytes(of: v, toByteOffset: o, as: UInt8.self) }
    /// Stores a `u16`.
    @inline(__always) func set16(_ o: Int, _ v: UInt16) {
        base.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self)
    }
    /// Stores a `u32`.
    @inline(__always) func set32(_ o: Int, _ v: UInt32) {
        base.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
    }
    /// Stores a `u64`.
    @inline(__always) func set64(_ o: Int, _ v: UInt64) {
        base.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self)
    }

    /// Copies `bytes` to `offset`.
    func write(_ bytes: [UInt8], at offset: Int) {
        bytes.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Copies `length` bytes from another frame's `from` to this frame's `to` (the frames may be the same).
    func copy(from source: PageView, _ from: Int, to: Int, length: Int) {
        copy(from: source.base, from, to: to, length: length)
    }

    /// Writes `bytes` at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        (base + offset).copyMemory(from: start, byteCount: bytes.count)
    }

    /// Copies `length` bytes from `source + from` to `to` in this frame.
    func copy(from source: UnsafeRawPointer, _ from: Int, to: Int, length: Int) {
        guard length > 0 else { return }
        (base + to).copyMemory(from: source + from, byteCount: length)
    }

    /// Moves `length` bytes inside this frame (overlap allowed).
    func move(from: Int, to: Int, length: Int) {
        guard length > 0 else { return }
        memmove(base + to, base + from, length)
    }

    /// Zeroes `length` bytes at `offset`.
    func zero(_ offset: Int, _ length: Int) {
        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: length)
    }

    // MARK: Header (setters of the fields `PageView` reads)

    /// Sets the root slot.
    func setRoot(_ slot: UInt16) { set16(ARTLayout.header + ARTLayout.rootField, slot) }
    /// Sets the slot-table length.
    func setSlotCount(_ n: Int) { set16(ARTLayout.header + ARTLayout.slotCountField, UInt16(truncatingIfNeeded: n)) }
    /// Sets the head of the free-slot list.
    func setFreeSlotHead(_ s: UInt16) { set16(ARTLayout.header + ARTLayout.freeSlotHeadField, s) }
    /// Sets the length of the free-slot list.
    func setFreeSlotCount(_ n: Int) { set16(ARTLayout.header + ARTLayout.freeSlotCountField, UInt16(truncatingIfNeeded: n)) }
    /// Sets the bump pointer.
    func setDataLow(_ n: Int) { set32(ARTLayout.header + ARTLayout.dataLowField, UInt32(truncatingIfNeeded: n)) }
    /// Sets the dead-byte count.
    func setDeadBytes(_ n: Int) { set32(ARTLayout.header + ARTLayout.deadBytesField, UInt32(truncatingIfNeeded: n)) }

    /// Writes an empty ART header over the whole ART part of the blob; the root is left unset.
    func format(dataEnd: Int) {
        zero(ARTLayout.header, dataEnd - ARTLayout.header)
        set32(ARTLayout.header + ARTLayout.magicField, ARTLayout.magic)
        set32(ARTLayout.header + ARTLayout.versionField, ARTLayout.formatVersion)
        set32(ARTLayout.header + ARTLayout.dataEndField, UInt32(dataEnd))
        setDataLow(dataEnd)
        setSlotCount(1)  // slot 0 means "none"
    }

    // MARK: Slots and allocation

    /// Sets the slot-table entry of `slot`.
    @inline(__always) func setEntry(_ slot: UInt16, _ type: NodeType, _ offset: Int) {
        set32(ARTLayout.slotTable + 4 * Int(slot), UInt32(type.rawValue) << 24 | UInt32(offset >> 3))
    }

    /// A slot for a new node: from the free list, else a new entry at the end of the table.
    func allocateSlot() throws(HoltError) -> UInt16 {
        let v = view
        if v.freeSlotHead != 0 {
            let slot = v.freeSlotHead
            let s = Int(slot)
            guard s < v.slotCount, v.entry(s) >> 24 == 0 else { throw v.corrupted("free slot list is damaged") }
            setFreeSlotHead(UInt16(truncatingIfNeeded: v.entry(s)))
            setFreeSlotCount(max(v.freeSlotCount - 1, 0))
            return slot
        }
        let n = v.slotCount
        guard n < ARTLayout.maxSlots, v.slotTableEnd + 4 <= v.dataLow else { throw v.corrupted("slot table is full") }
        setSlotCount(n + 1)
        return UInt16(n)
    }

    /// `size` bytes of node data (a multiple of 8) from the free gap.
    func allocateData(_ size: Int) throws(HoltError) -> Int {
        let v = view
        let low = v.dataLow - size
        guard low >= v.slotTableEnd else { throw v.corrupted("allocation of \(size) bytes found no room") }
        setDataLow(low)
        zero(low, size)
        return low
    }

    /// A new node of `type` and `size` bytes in a new slot; returns its slot and offset.
    func newNode(_ type: NodeType, size: Int) throws(HoltError) -> (slot: UInt16, offset: Int) {
        let slot = try allocateSlot()
        let offset = try allocateData(size)
        setEntry(slot, type, offset)
        return (slot, offset)
    }

    /// Gives `slot`'s node bytes to the dead count and `slot` to the free list.
    func freeNode(_ slot: UInt16) throws(HoltError) {
        let v = view
        let node = try v.node(slot)
        setDeadBytes(v.deadBytes + (try v.size(of: node)))
        set32(ARTLayout.slotTable + 4 * Int(slot), UInt32(v.freeSlotHead))
        setFreeSlotHead(slot)
        setFreeSlotCount(v.freeSlotCount + 1)
    }

    /// Gives `slot` new bytes for a node of `type` and `size` (the old bytes become dead);
    /// returns the new offset. Slot numbers stay, so nothing that points at `slot` changes.
    func replaceNode(_ slot: UInt16, _ type: NodeType, size: Int) throws(HoltError) -> Int {
        let v = view
        let old = try v.node(slot)
        let oldSize = try v.size(of: old)
        if size <= oldSize {
            // It fits: reuse the bytes in place; the tail left over is dead.
            zero(old.offset, size)
            setDeadBytes(v.deadBytes + oldSize - size)
            setEntry(slot, type, old.offset)
            return old.offset
        }
        let offset = try allocateData(size)
        setDeadBytes(v.deadBytes + oldSize)
        setEntry(slot, type, offset)
        return offset
    }

    // MARK: Node fields

    /// Writes a leaf's lengths, suffix and value at `offset`.
    func writeLeaf(at o: Int, suffix: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        set16(o, UInt16(suffix.count))
        set16(o + 2, UInt16(value.count))
        if suffix.count > 0 { (base + o + 4).copyMemory(from: suffix.baseAddress!, byteCount: suffix.count) }
        if value.count > 0 {
            (base + o + 4 + suffix.count).copyMemory(from: value.baseAddress!, byteCount: value.count)
        }
    }

    /// Writes a Prefix node's child, length and bytes at `offset`.
    func writePrefix(at o: Int, child: UInt16, bytes: ArraySlice<UInt8>) {
        set16(o, child)
        set8(o + 2, UInt8(bytes.count))
        set8(o + 3, 0)
        bytes.withUnsafeBytes { (base + o + 4).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Sets the child of a Prefix node.
    func setPrefixChild(_ node: NodeRef, _ child: UInt16) { set16(node.offset, child) }

    /// Writes a Blob node referring to the subtree at `slot` of blob `child`.
    func writeBlob(at o: Int, _ child: BlobID, slot: UInt16) throws(HoltError) {
        guard child.rawValue & ~ARTLayout.blobIDMask == 0 else {
            throw .corrupted(what: "\(child)", reason: "blob id too large for a Blob node")
        }
        set64(o, child.rawValue | UInt64(slot) << 48)
    }

    /// Writes an inner node of `type` at `offset` holding `children` (sorted by byte).
    func writeInner(at o: Int, _ type: NodeType, _ children: [(byte: UInt8, slot: UInt16)]) {
        switch type {
        case .node4, .node16:
            let (keys, slots) = type == .node4 ? (o + 1, o + 8) : (o + 2, o + 18)
            set8(o, UInt8(children.count))
            for (i, c) in children.enumerated() {
                set8(keys + i, c.byte)
                set16(slots + 2 * i, c.slot)
            }
        case .node48:
            set8(o, UInt8(children.count))
            for (i, c) in children.enumerated() {
                set8(o + 2 + Int(c.byte), UInt8(i + 1))
                set16(o + 258 + 2 * i, c.slot)
            }
        case .node256:
            set16(o, UInt16(children.count))
            for c in children { set16(o + 2 + 2 * Int(c.byte), c.slot) }
        default:
            preconditionFailure("not an inner node type")
        }
    }

    /// Replaces the child under `byte` of inner node `node` (which must have one) by `slot`.
    func setChild(_ node: NodeRef, _ byte: UInt8, _ slot: UInt16) throws(HoltError) {
        let v = view
        let o = node.offset
        switch node.type {
        case .node4, .node16:
            let (count, keys, slots) = node.type == .node4 ? (min(Int(v.u8(o)), 4), o + 1, o + 8)
                                                          : (min(Int(v.u8(o)), 16), o + 2, o + 18)
            for i in 0..<count where v.u8(keys + i) == byte {
                set16(slots + 2 * i, slot)
                return
            }
        case .node48:
            let index = Int(v.u8(o + 2 + Int(byte)))
            if index > 0 && index <= 48 {
                set16(o + 258 + 2 * (index - 1), slot)
                return
            }
        case .node256:
            set16(o + 2 + 2 * Int(byte), slot)
            return
        default:
            break
        }
        throw v.corrupted("no child \(byte) to replace in slot \(node.slot)")
    }
}

/// A page in ordinary memory, not a blob: where a small detached subtree waits during a
/// prefix move before it is copied under its new position.
final class ScratchPage {
    /// The page's bytes (`dataEnd` of them).
    let base: UnsafeMutableRawPointer
    /// The end of its data area.
    let dataEnd: Int

    /// A formatted, empty page with room for `bytes` of nodes and slots.
    init(room bytes: Int) {
        dataEnd = ARTLayout.align8(ARTLayout.slotTable + bytes + 64)
        base = .allocate(byteCount: dataEnd, alignment: 8)
        mutable.format(dataEnd: dataEnd)
    }

    deinit { base.deallocate() }

    /// The page for writing.
    var mutable: MutablePageView { MutablePageView(base: base, id: BlobID(rawValue: 0)) }
    /// The page for reading.
    var view: PageView { PageView(base: UnsafeRawPointer(base), id: BlobID(rawValue: 0)) }
}

#if canImport(Glibc)
import Glibc
#endif
