#if canImport(Glibc)
import Glibc
#endif

/// The state of one range walk over an `ARTIndex`: the key bytes of the current position in one
/// buffer allocated once, the nodes still to visit, and the query's bounds.
///
/// The index drives it blob by blob: while `nextBlob` names a blob, it pins that blob once and
/// calls `walk(_:_:)`, which handles every waiting node of that blob before returning (so a
/// listing inside one blob is one pin). Items go to the body as `RangeView`s borrowing the path
/// buffer and the blob frame: no item is copied unless the body copies it.
///
/// The walk keeps the query's resume point as a flag per node: a node is *bounded* while its
/// position is a prefix of `startAfter`, and only bounded nodes compare anything with it; the
/// rest of the walk never looks at it.
///
/// Damaged bytes cannot make it loop or run away: each node stands deeper in the key than its
/// parent (a Blob node hop adds none, so hops are bounded by the path length), the path is
/// bounded by `ARTIndex.maxPathLength`, and each blob's node visits are bounded by twice its slot
/// count (a sound walk visits a node once, plus once per child it descends into), which stops
/// cycles and shared children. Those counts live in one integer per blob session and a small
/// dictionary touched only when the walk leaves a blob it may come back to.
///
/// Invariants:
/// 1. `length <= capacity`; the frames on `stack` have `pathLength` non-decreasing upward within
///    a blob session and at most `length` when they are popped (else the bytes are damaged).
/// 2. A frame's path bytes `path[0..<pathLength]` are the key bytes above its node, the node's
///    first `skip` own bytes included.
struct RangeWalk: ~Copyable {
    /// One node waiting on the walk's stack.
    private struct Frame {
        /// The node's blob.
        var blob: BlobID
        /// The node's slot, or 0 for the blob's root.
        var slot: UInt16
        /// The length of the path up to this node (including `skip` bytes of its own).
        var pathLength: Int
        /// How many of the node's own path bytes are already in the path.
        var skip: Int
        /// For inner nodes: the child cursor to go on from (`PageView.child(_:cursor:)`), or -1
        /// before the first child.
        var next: Int
        /// Whether the path so far is a prefix of `startAfter` (so what sorts before it is pruned).
        var bounded: Bool
        /// Blob references followed to get here.
        var hops: Int
    }

    /// The key bytes of the current position (`capacity` of them allocated, `length` in use).
    private let path: UnsafeMutablePointer<UInt8>
    /// The size of `path`: one more than the longest key.
    private let capacity: Int
    /// The bytes of `path` in use.
    private var length = 0
    /// Nodes still to visit, the next on top.
    private var stack: [Frame] = []
    /// The resume point (empty when none; only read under bounded nodes).
    private let after: [UInt8]
    /// The delimiter byte, or -1 for none (0 never matches: no key holds NUL).
    private let delimiter: Int
    /// Items the query still allows.
    private var remaining: Int
    /// Set when the body asked to stop or the limit is reached.
    private(set) var stopped = false
    /// Nodes visited so far (inner nodes once, whatever the number of their children), for the
    /// tests that prove a rollup's cost.
    private(set) var visited = 0
    /// The sum of the bytes `touch` loaded ahead (kept so the loads are not optimized away).
    private var touchSum: UInt32 = 0
    /// Node visits of the blobs the walk left and may come back to.
    private var visits: [BlobID: Int] = [:]

    /// A walk of `query` from `start`, the node `ARTIndex.locate(_:)` found for the prefix;
    /// nil when the query can hold no item.
    init?(_ query: RangeQuery, start: (blob: BlobID, slot: UInt16, skip: Int), maxPathLength: Int) {
        let limit = query.limit ?? Int.max
        guard limit > 0, query.prefix.count <= maxPathLength else { return nil }
        var bounded = false
        if let after = query.startAfter {
            if after.starts(with: query.prefix) {
                bounded = true  // the resume point is at or below the prefix (`== prefix` included)
            } else if !after.lexicographicallyPrecedes(query.prefix) {
                return nil  // every key under the prefix sorts before the resume point
            }
        }
        after = bounded ? query.startAfter! : []
        delimiter = query.delimiter.map { Int($0) } ?? -1
        remaining = limit
        capacity = maxPathLength + 1
        path = .allocate(capacity: capacity)
        query.prefix.withUnsafeBufferPointer { prefix in
            if let bytes = prefix.baseAddress { path.update(from: bytes, count: prefix.count) }
        }
        length = query.prefix.count
        stack.reserveCapacity(32)
        stack.append(Frame(blob: start.blob, slot: start.slot, pathLength: length, skip: start.skip,
                           next: -1, bounded: bounded, hops: 0))
    }

    deinit { path.deallocate() }

    /// The blob whose nodes the walk visits next, or nil when it is over.
    var nextBlob: BlobID? { stopped ? nil : stack.last?.blob }

    /// Visits every waiting node of `page`'s blob (the one `nextBlob` named), calling `body` with
    /// each item; returns when the walk moves to another blob, ends, or stops.
    ///
    /// - Throws: `.corrupted` when the nodes are damaged, and what `body` throws.
    mutating func walk(_ page: PageView, _ body: (RangeView) throws(HoltError) -> Bool) throws(HoltError) {
        let blob = page.id
        try page.validateHeader()
        let budgetLimit = 2 * page.slotCount + 2
        var budget = budgetLimit - (visits[blob] ?? 0)
        while !stopped, let frame = stack.last, frame.blob == blob {
            stack.removeLast()
            guard frame.pathLength <= length else { throw page.corrupted("scan lost its path") }
            length = frame.pathLength
            budget -= 1
            guard budget >= 0 else { throw page.corrupted("cycle or shared node in the tree") }
            guard frame.hops <= length + 1 else { throw page.corrupted("scan path deeper than any key") }
            let node = try page.node(frame.slot == 0 ? page.rootSlot : frame.slot)
            switch node.type {
            case .node4, .node16, .node48, .node256:
                var cursor: Int
                if frame.next < 0 {
                    visited += 1
                    cursor = page.childCursor(node, atOrAfter: frame.bounded && length < after.count ? Int(after[length]) : 0)
                } else {
                    cursor = frame.next
                }
                let base = length
                var touched = cursor
                while !stopped, let c = try page.child(node, cursor: cursor) {
                    if cursor >= touched { touched = touch(page, node, from: cursor) }
                    cursor = c.next
                    if c.byte == 0 {
                        // The terminator: the key ends here.
                        let child = try page.node(c.slot)
                        guard child.type == .leaf else { throw page.corrupted("terminator child in slot \(c.slot) is not a leaf") }
                        budget -= 1
                        try emitLeaf(page, child, skip: 0, bounded: frame.bounded, body)
                        length = base
                        continue
                    }
                    let childBounded = frame.bounded && base < after.count && c.byte == after[base]
                    guard base < capacity else { throw page.corrupted("scan path deeper than any key") }
                    path[base] = c.byte
                    length = base + 1
                    if Int(c.byte) == delimiter {
                        try emit(common: frame.bounded, body)
                        length = base
                        continue
                    }
                    let child = try Self.node(page, c.slot)
                    if child.type == .leaf {
                        // Most children are leaves: handled here, without a trip through the stack.
                        budget -= 1
                        try emitLeaf(page, child, skip: 0, bounded: childBounded, body)
                        length = base
                        continue
                    }
                    // Descend, and come back to this node at `cursor`.
                    var resume = frame
                    resume.next = cursor
                    stack.append(resume)
                    stack.append(Frame(blob: blob, slot: c.slot, pathLength: base + 1, skip: 0, next: -1,
                                       bounded: childBounded, hops: frame.hops))
                    break
                }
            case .leaf:
                try emitLeaf(page, node, skip: frame.skip, bounded: frame.bounded, body)
            case .prefix:
                visited += 1
                let prefix = try page.prefix(node)
                guard frame.skip < prefix.length else { throw page.corrupted("scan skip past a prefix") }
                let offset = prefix.bytes + frame.skip, count = prefix.length - frame.skip
                var bounded = frame.bounded
                if bounded {
                    let order = compare(page, offset, count)
                    if order < 0 { continue }  // the whole subtree sorts before the resume point
                    if order > 0 { bounded = false }
                }
                if let cut = firstDelimiter(page, offset, count) {
                    try append(page, offset, cut + 1)
                    try emit(common: frame.bounded, body)
                    continue
                }
                try append(page, offset, count)
                stack.append(Frame(blob: blob, slot: prefix.child, pathLength: length, skip: 0, next: -1,
                                   bounded: bounded, hops: frame.hops))
            case .blob:
                visited += 1
                let child = page.blobChild(node)
                guard child.slot != 0 else { throw page.corrupted("Blob node in slot \(node.slot) has no root slot") }
                stack.append(Frame(blob: child.blob, slot: child.slot, pathLength: length, skip: 0,
                                   next: -1, bounded: frame.bounded, hops: frame.hops + 1))
            case .emptyRoot, .invalid:
                break
            }
        }
        // Only a blob the walk may come back to needs its count kept.
        if !stopped && !stack.isEmpty { visits[blob] = budgetLimit - budget }
    }

    /// Loads the slot entries and first node bytes of the next 16 children of inner
    /// node `node` from `cursor` on, and returns the cursor after them.
    ///
    /// A blob's nodes lie in the order they were written, not in key order, so each child of a
    /// walk is a cache miss (two: its slot entry, then its bytes). Asked one after the other,
    /// the misses add up; asked together here, with nothing depending on them but a running
    /// sum, the processor overlaps them, and the walk then finds the children in cache. Nothing
    /// is checked here beyond bounds: the walk checks each child when it gets to it.
    @inline(__always)
    private mutating func touch(_ page: PageView, _ node: NodeRef, from cursor: Int) -> Int {
        let slots = page.slotCount, end = page.dataEnd
        var at = cursor
        var offsets = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var exhausted = false
        // First the offsets (slot entries are few and mostly cached), then the node bytes in a
        // tight loop, so the misses are all in flight together.
        withUnsafeMutableBytes(of: &offsets) { raw in
            let offset = raw.bindMemory(to: Int.self)
            while n < offset.count {
                guard let c = try? page.child(node, cursor: at) else {
                    exhausted = true
                    break
                }
                at = c.next
                let s = Int(c.slot)
                guard s < slots else { continue }
                let o = Int(page.entry(s) & 0xFFFF) << 3
                guard o + 4 <= end else { continue }
                offset[n] = o
                n += 1
            }
            var sum: UInt32 = 0
            for i in 0..<n { sum &+= page.u32(offset[i]) }
            touchSum &+= sum
        }
        return exhausted ? Int.max : at
    }


    /// `page.node(slot)`, with its most common answer, a leaf, checked here inline (the same
    /// checks: a slot in the table, the leaf type, 8 bytes inside the data area); anything else
    /// goes through `page.node`.
    @inline(__always)
    private static func node(_ page: PageView, _ slot: UInt16) throws(HoltError) -> NodeRef {
        let s = Int(slot)
        if s > 0, s < page.slotCount {
            let entry = page.entry(s)
            if entry >> 24 == UInt32(NodeType.leaf.rawValue) {
                let offset = Int(entry & 0xFFFF) << 3
                if offset >= page.dataLow, offset + 8 <= page.dataEnd {
                    return NodeRef(type: .leaf, offset: offset, slot: slot)
                }
            }
        }
        return try page.node(slot)
    }

    /// Emits the leaf `node` (its suffix after `skip` bytes appended to the path): an entry, or
    /// the common prefix up to the first delimiter in the suffix. Leaves the path extended.
    @inline(__always)
    private mutating func emitLeaf(
        _ page: PageView, _ node: NodeRef, skip: Int, bounded: Bool, _ body: (RangeView) throws(HoltError) -> Bool
    ) throws(HoltError) {
        visited += 1
        let leaf = try page.leaf(node)
        guard skip <= leaf.suffixLength else { throw page.corrupted("scan skip past a leaf") }
        let offset = leaf.suffix + skip, count = leaf.suffixLength - skip
        if let cut = firstDelimiter(page, offset, count) {
            try append(page, offset, cut + 1)
            try emit(common: bounded, body)
            return
        }
        try append(page, offset, count)
        if bounded && !pathSortsAfterStart() { return }
        let view = RangeView(key: UnsafeRawBufferPointer(start: path, count: length),
                             value: page.rawBytes(leaf.value, leaf.valueLength),
                             isCommonPrefix: false)
        try deliver(view, body)
    }

    /// Emits the path as a common prefix, unless a bounded node's path does not sort after the
    /// resume point (it was returned before).
    @inline(__always)
    private mutating func emit(common bounded: Bool, _ body: (RangeView) throws(HoltError) -> Bool) throws(HoltError) {
        if bounded && !pathSortsAfterStart() { return }
        let view = RangeView(key: UnsafeRawBufferPointer(start: path, count: length),
                             value: UnsafeRawBufferPointer(start: nil, count: 0), isCommonPrefix: true)
        try deliver(view, body)
    }

    /// Hands one item to the body and counts it against the limit.
    @inline(__always)
    private mutating func deliver(_ view: RangeView, _ body: (RangeView) throws(HoltError) -> Bool) throws(HoltError) {
        remaining -= 1
        if try !body(view) || remaining == 0 { stopped = true }
    }

    /// Appends `count` bytes of `page` at `offset` to the path.
    @inline(__always)
    private mutating func append(_ page: PageView, _ offset: Int, _ count: Int) throws(HoltError) {
        guard count <= capacity - length else { throw page.corrupted("scan path deeper than any key") }
        page.copyBytes(offset, count, to: UnsafeMutableRawPointer(path + length))
        length += count
    }

    /// The index of the first delimiter in `count` bytes of `page` at `offset`, or nil.
    @inline(__always)
    private func firstDelimiter(_ page: PageView, _ offset: Int, _ count: Int) -> Int? {
        guard delimiter > 0, count > 0 else { return nil }
        if count <= 16 {
            // Names are short: a plain loop beats the call.
            let byte = UInt8(truncatingIfNeeded: delimiter)
            for t in 0..<count where page.u8(offset + t) == byte { return t }
            return nil
        }
        return page.firstIndex(of: UInt8(truncatingIfNeeded: delimiter), offset, count)
    }

    /// Whether the path sorts strictly after the resume point.
    private func pathSortsAfterStart() -> Bool {
        let n = min(length, after.count)
        for i in 0..<n where path[i] != after[i] { return path[i] > after[i] }
        return length > after.count
    }

    /// How `count` bytes of `page` at `offset`, standing at the end of the path, compare with the
    /// resume point there: -1 below (the whole subtree sorts before it), 1 above, 0 still a
    /// prefix of it.
    private func compare(_ page: PageView, _ offset: Int, _ count: Int) -> Int {
        for t in 0..<count {
            if length + t >= after.count { return 1 }
            let b = page.u8(offset + t)
            if b < after[length + t] { return -1 }
            if b > after[length + t] { return 1 }
        }
        return 0
    }
}
