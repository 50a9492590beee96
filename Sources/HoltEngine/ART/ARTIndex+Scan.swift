/// Range scans: the keys under a prefix in order, after a resume point, with S3-style rollup at
/// a delimiter. A rolled-up common prefix is emitted without walking its subtree (the walk
/// stops at the delimiter byte), so listing a directory costs its children, not its descendants.
///
/// The walk is iterative (an explicit stack), reads only, and keeps all its state local, so any
/// number of scans may run at once.
extension ARTIndex {
    /// One node waiting on the scan's stack.
    private struct Frame {
        /// The node's blob.
        var blob: BlobID
        /// The node's slot, or 0 for the blob's root.
        var slot: UInt16
        /// The length of the path up to this node (including `skip` bytes of its own).
        var pathLength: Int
        /// How many of the node's own path bytes are already in the path.
        var skip: Int
        /// For inner nodes: the next child byte to look at (-1 before the first).
        var next: Int
        /// Whether the path so far is a prefix of `startAfter` (so children must be pruned).
        var bounded: Bool
        /// Blob references followed to get here.
        var hops: Int
    }

    func scan(_ query: RangeQuery) throws(HoltError) -> [RangeItem] {
        var visited = 0
        return try scan(query, visited: &visited)
    }

    /// `scan(_:)`, also counting the nodes it visited (for tests of the rollup's cost).
    func scan(_ query: RangeQuery, visited: inout Int) throws(HoltError) -> [RangeItem] {
        let limit = query.limit ?? Int.max
        guard limit > 0, let start = try locate(query.prefix) else { return [] }
        var bounded = false
        // As SortedIndex does: a resume point that does not sort after the prefix is ignored
        // (so with `startAfter == prefix` the key equal to the prefix is still returned).
        let startAfter = query.startAfter.flatMap { query.prefix.lexicographicallyPrecedes($0) ? $0 : nil }
        if let after = startAfter {
            if after.starts(with: query.prefix) {
                bounded = true
            } else if !after.lexicographicallyPrecedes(query.prefix) {
                return []  // every key under the prefix sorts before `after`
            }
        }
        let after = startAfter ?? []
        let delimiter = query.delimiter
        var items: [RangeItem] = []
        var path = query.prefix
        var stack = [Frame(blob: start.blob, slot: start.slot, pathLength: path.count, skip: start.skip,
                           next: -1, bounded: bounded, hops: 0)]
        /// Whether `candidate` may be emitted from a frame with `bounded`.
        func afterStart(_ bounded: Bool, _ candidate: [UInt8]) -> Bool {
            !bounded || after.lexicographicallyPrecedes(candidate)
        }
        // Visits per blob: a sound blob is walked at most once per slot, so more means damaged
        // bytes made a cycle or shared children (which could otherwise make the walk endless).
        var visits: [BlobID: Int] = [:]
        while let first = stack.last, items.count < limit {
            let blob = first.blob
            var blobVisits = visits[blob] ?? 0
            defer { visits[blob] = blobVisits }
            try source.read(blob) { (raw) throws(HoltError) in
                let page = PageView(base: raw, id: blob)
                try page.validateHeader()
                while let frame = stack.last, frame.blob == blob, items.count < limit {
                    guard frame.pathLength <= path.count else { throw page.corrupted("scan lost its path") }
                    path.removeSubrange(frame.pathLength...)
                    blobVisits += 1
                    guard blobVisits <= 2 * page.slotCount + 2 else { throw page.corrupted("cycle or shared node in the tree") }
                    guard path.count <= Self.maxPathLength, frame.hops <= path.count + 1 else {
                        throw page.corrupted("scan path deeper than any key")
                    }
                    let node = try page.node(frame.slot == 0 ? page.rootSlot : frame.slot)
                    if node.type.isInner {
                        if frame.next < 0 { visited += 1 }
                        let from = frame.next >= 0 ? frame.next
                            : (frame.bounded && path.count < after.count ? Int(after[path.count]) : 0)
                        guard let c = try page.child(node, atOrAfter: from) else {
                            stack.removeLast()
                            continue
                        }
                        stack[stack.count - 1].next = Int(c.byte) + 1
                        if c.byte == 0 {
                            guard try page.node(c.slot).type == .leaf else {
                                throw page.corrupted("terminator child in slot \(c.slot) is not a leaf")
                            }
                            stack.append(Frame(blob: blob, slot: c.slot, pathLength: path.count, skip: 0, next: -1,
                                               bounded: frame.bounded, hops: frame.hops))
                            continue
                        }
                        let childBounded = frame.bounded && path.count < after.count && c.byte == after[path.count]
                        path.append(c.byte)
                        if c.byte == delimiter {
                            if afterStart(frame.bounded, path) { items.append(.commonPrefix(path)) }
                            continue
                        }
                        stack.append(Frame(blob: blob, slot: c.slot, pathLength: path.count, skip: 0, next: -1,
                                           bounded: childBounded, hops: frame.hops))
                        continue
                    }
                    visited += 1
                    stack.removeLast()
                    switch node.type {
                    case .leaf:
                        let leaf = try page.leaf(node)
                        guard frame.skip <= leaf.suffixLength else { throw page.corrupted("scan skip past a leaf") }
                        let offset = leaf.suffix + frame.skip, length = leaf.suffixLength - frame.skip
                        if let delimiter, let cut = Self.firstIndex(of: delimiter, page, offset, length) {
                            path += page.bytes(offset, cut + 1)
                            if afterStart(frame.bounded, path) { items.append(.commonPrefix(path)) }
                        } else {
                            path += page.bytes(offset, length)
                            if afterStart(frame.bounded, path) {
                                items.append(.entry(key: path, value: page.bytes(leaf.value, leaf.valueLength)))
                            }
                        }
                    case .prefix:
                        let prefix = try page.prefix(node)
                        guard frame.skip < prefix.length else { throw page.corrupted("scan skip past a prefix") }
                        let offset = prefix.bytes + frame.skip, length = prefix.length - frame.skip
                        var bounded = frame.bounded
                        if bounded {
                            let order = Self.compare(page, offset, length, after, at: path.count)
                            if order < 0 { continue }
                            if order > 0 { bounded = false }
                        }
                        if let delimiter, let cut = Self.firstIndex(of: delimiter, page, offset, length) {
                            path += page.bytes(offset, cut + 1)
                            if afterStart(frame.bounded, path) { items.append(.commonPrefix(path)) }
                            continue
                        }
                        path += page.bytes(offset, length)
                        stack.append(Frame(blob: blob, slot: prefix.child, pathLength: path.count, skip: 0, next: -1,
                                           bounded: bounded, hops: frame.hops))
                    case .blob:
                        let child = page.blobChild(node)
                        guard child.slot != 0 else { throw page.corrupted("Blob node in slot \(node.slot) has no root slot") }
                        stack.append(Frame(blob: child.blob, slot: child.slot, pathLength: path.count, skip: 0,
                                           next: -1, bounded: frame.bounded, hops: frame.hops + 1))
                    default:
                        break
                    }
                }
            }
        }
        return items
    }

    /// The index of the first `byte` in `length` bytes at `offset`, or nil.
    private static func firstIndex(of byte: UInt8, _ page: PageView, _ offset: Int, _ length: Int) -> Int? {
        var t = 0
        while t < length {
            if page.u8(offset + t) == byte { return t }
            t += 1
        }
        return nil
    }

    /// How `length` bytes at `offset`, standing at key position `at`, compare with `bound` there:
    /// -1 below (the whole subtree sorts before `bound`), 1 above (after it), 0 still a prefix of it.
    private static func compare(_ page: PageView, _ offset: Int, _ length: Int, _ bound: [UInt8], at: Int) -> Int {
        for t in 0..<length {
            if at + t >= bound.count { return 1 }
            let b = page.u8(offset + t)
            if b < bound[at + t] { return -1 }
            if b > bound[at + t] { return 1 }
        }
        return 0
    }
}
