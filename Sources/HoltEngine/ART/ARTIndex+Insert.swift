/// Insertion: `put`, and the attach step of `moveKeys` (hanging a child blob under a new path).
///
/// An insert walks read-only to the one node it changes, then checks that the blob has room for
/// the worst case before touching a byte; when it has not, the blob is compacted or split and
/// the insert starts over from the root. So a failed room check leaves nothing half done.
extension ARTIndex {
    /// What goes at the end of an inserted path.
    enum Payload {
        /// A leaf with this value.
        case value(UnsafeRawBufferPointer)
        /// A Blob node referring to the subtree at this slot of this child blob (the path must
        /// not end at an existing key).
        case blob(BlobID, UInt16)
        /// A copy of the subtree at this slot of a scratch page (the same rule as `.blob`).
        case subtree(PageView, UInt16, cost: Int)

        /// Whether the key is a path prefix (no terminator) rather than a key.
        var isPath: Bool {
            if case .value = self { return false }
            return true
        }
    }

    /// The result of one insert attempt in one blob.
    enum InsertOutcome {
        /// Done; the value replaced (for `.value`), and the slot of the new Blob node (for `.blob`).
        case done(old: [UInt8]?, blobNode: UInt16)
        /// The blob needs this many free bytes first.
        case needRoom(Int)
    }

    @discardableResult
    func put(_ key: [UInt8], _ value: [UInt8]) throws(HoltError) -> [UInt8]? {
        guard key.count <= Tree.maxKeyLength else { throw .keyTooLong(length: key.count, limit: Tree.maxKeyLength) }
        guard value.count <= Tree.maxValueLength else {
            throw .valueTooLarge(length: value.count, limit: Tree.maxValueLength)
        }
        guard !Tree.containsNUL(key) else { throw .invalidKey(reason: "a key may not contain a NUL byte") }
        return try key.withUnsafeBufferPointer { (k) throws(HoltError) -> [UInt8]? in
            try value.withUnsafeBufferPointer { (v) throws(HoltError) -> [UInt8]? in
                let (old, _, _) = try insert(k, .value(UnsafeRawBufferPointer(v)))
                return old
            }
        }
    }

    /// Inserts `payload` at key (or path) `k`, making room as needed.
    /// - Returns: The replaced value, and where a Blob payload's node went.
    func insert(_ k: UnsafeBufferPointer<UInt8>, _ payload: Payload) throws(HoltError)
        -> (old: [UInt8]?, blob: BlobID, blobNode: UInt16)
    {
        for _ in 0..<1_000 {
            let (blob, slot, i, via) = try findInsertPoint(k, payload)
            let outcome = try source.write(blob) { (raw) throws(HoltError) -> InsertOutcome in
                try Self.insert(MutablePageView(base: raw, id: blob), at: slot, k, from: i, payload, &counters)
            }
            switch outcome {
            case .done(let old, let node): return (old, blob, node)
            case .needRoom(let need): try makeRoom(in: blob, need: need, via: via)
            }
        }
        throw .corrupted(what: "\(root)", reason: "no room for an insert after repeated splits")
    }

    /// Walks to the node an insert of `k` changes: returns its blob, slot, the key offset there,
    /// and the last Blob node passed on the way (the one referring into that blob), if any.
    func findInsertPoint(_ k: UnsafeBufferPointer<UInt8>, _ payload: Payload) throws(HoltError)
        -> (BlobID, UInt16, Int, (blob: BlobID, slot: UInt16)?)
    {
        var nothingKept: [HeldBlob]? = nil
        guard let point = try findInsertPoint(k, payload, optimistic: false, keeping: &nothingKept) else {
            preconditionFailure("a walk under shared latches has nothing to retry")
        }
        return point
    }

    /// `findInsertPoint(_:_:)` as `walkBlobs(_:optimistic:keeping:_:)` walks: optimistically
    /// (nil: a writer changed a blob under the walk), keeping the blobs it held when `kept` is
    /// not nil (the last one is the blob the insert changes).
    func findInsertPoint(
        _ k: UnsafeBufferPointer<UInt8>, _ payload: Payload, optimistic: Bool, keeping kept: inout [HeldBlob]?
    ) throws(HoltError) -> (BlobID, UInt16, Int, (blob: BlobID, slot: UInt16)?)? {
        let isPath = payload.isPath
        // The last Blob node passed: set when a step descends, read by the step that answers.
        var via: (blob: BlobID, slot: UInt16)? = nil
        return try walkBlobs(k, optimistic: optimistic, keeping: &kept) { (page, start, from) throws(HoltError) -> BlobStep<(BlobID, UInt16, Int, (blob: BlobID, slot: UInt16)?)> in
            var slot = start
            var i = from
            while true {
                let node = try page.node(slot)
                switch node.type {
                case .leaf, .emptyRoot, .invalid:
                    return .done((page.id, slot, i, via))
                case .prefix:
                    let prefix = try page.prefix(node)
                    let m = page.matchLength(prefix.bytes, prefix.length, k, i)
                    if isPath && i + m == k.count { throw Self.notEmpty }
                    if m < prefix.length { return .done((page.id, slot, i, via)) }
                    i += m
                    slot = prefix.child
                case .node4, .node16, .node48, .node256:
                    if isPath && i == k.count { throw Self.notEmpty }
                    let byte = i < k.count ? k[i] : 0
                    let child = try page.child(node, byte)
                    if child == 0 { return .done((page.id, slot, i, via)) }
                    if byte == 0 { return .done((page.id, child, i, via)) }
                    i += 1
                    slot = child
                case .blob:
                    if isPath && i == k.count { throw Self.notEmpty }
                    via = (page.id, slot)
                    return .descend(page.blobChild(node), i)
                }
            }
        }
    }

    /// The error for a move whose destination already holds keys (the caller's precondition).
    static var notEmpty: HoltError { .invalidKey(reason: "the destination of a prefix move is not empty") }

    /// The bytes and slots the tail of an insert needs: a leaf, or a Blob node under a chain.
    private static func tailCost(_ length: Int, _ payload: Payload) -> Int {
        switch payload {
        case .value(let v): ARTLayout.leafSize(suffix: length, value: v.count) + 4
        case .blob: ARTLayout.blobNodeSize + 4 + ARTLayout.chainCost(length)
        case .subtree(_, _, let cost): cost + ARTLayout.chainCost(length)
        }
    }

    /// Writes the tail of an insert: a leaf with suffix `bytes`, or a chain of `bytes` above a
    /// Blob node. Its top goes into `topSlot` when given.
    /// - Returns: The top slot, and the Blob node's slot (0 for a leaf).
    private static func writeTail(
        _ page: MutablePageView, _ bytes: UnsafeBufferPointer<UInt8>, _ payload: Payload, topSlot: UInt16?,
        _ counters: inout ARTCounters
    ) throws(HoltError) -> (top: UInt16, blobNode: UInt16) {
        switch payload {
        case .subtree(let scratch, let root, _):
            let top = try SubtreeCopy.copy(from: scratch, root: root, skip: 0, into: page,
                                           rootSlot: bytes.isEmpty ? topSlot : nil, counters: &counters)
            if bytes.isEmpty { return (top, 0) }
            return (try page.writeChain(Array(bytes)[...], child: top, topSlot: topSlot), 0)
        case .value(let v):
            let size = ARTLayout.leafSize(suffix: bytes.count, value: v.count)
            let slot: UInt16, offset: Int
            if let topSlot {
                slot = topSlot
                offset = try page.replaceNode(topSlot, .leaf, size: size)
            } else {
                (slot, offset) = try page.newNode(.leaf, size: size)
            }
            page.writeLeaf(at: offset, suffix: UnsafeRawBufferPointer(bytes), value: v)
            return (slot, 0)
        case .blob(let id, let root):
            if bytes.isEmpty, let topSlot {
                let offset = try page.replaceNode(topSlot, .blob, size: ARTLayout.blobNodeSize)
                try page.writeBlob(at: offset, id, slot: root)
                return (topSlot, topSlot)
            }
            let (slot, offset) = try page.newNode(.blob, size: ARTLayout.blobNodeSize)
            try page.writeBlob(at: offset, id, slot: root)
            if bytes.isEmpty { return (slot, slot) }
            return (try page.writeChain(Array(bytes)[...], child: slot, topSlot: topSlot), slot)
        }
    }

    /// Changes the node in `slot` to hold `k[from...]` with `payload`; checks room first.
    static func insert(
        _ page: MutablePageView, at slot: UInt16, _ k: UnsafeBufferPointer<UInt8>, from i: Int,
        _ payload: Payload, _ counters: inout ARTCounters
    ) throws(HoltError) -> InsertOutcome {
        let v = page.view
        let node = try v.node(slot)
        let rest = k.count - i
        let slack = 64
        func tail(_ from: Int) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: k[from...]) }
        switch node.type {
        case .emptyRoot:
            guard v.freeBytes >= tailCost(rest, payload) + slack else { return .needRoom(tailCost(rest, payload) + slack) }
            let (_, blobNode) = try writeTail(page, tail(i), payload, topSlot: slot, &counters)
            return .done(old: nil, blobNode: blobNode)

        case .leaf:
            let leaf = try v.leaf(node)
            let m = v.matchLength(leaf.suffix, leaf.suffixLength, k, i)
            if m == leaf.suffixLength && m == rest {
                guard case .value(let value) = payload else { throw notEmpty }
                let old = v.bytes(leaf.value, leaf.valueLength)
                if value.count == leaf.valueLength {
                    page.write(value, at: leaf.value)
                    counters.bytesCopied += value.count
                    return .done(old: old, blobNode: 0)
                }
                let need = ARTLayout.leafSize(suffix: leaf.suffixLength, value: value.count) + slack
                guard v.freeBytes >= need else { return .needRoom(need) }
                let suffix = v.bytes(leaf.suffix, leaf.suffixLength)
                let offset = try page.replaceNode(slot, .leaf, size: ARTLayout.leafSize(suffix: suffix.count, value: value.count))
                suffix.withUnsafeBytes { page.writeLeaf(at: offset, suffix: $0, value: value) }
                return .done(old: old, blobNode: 0)
            }
            if payload.isPath && m == rest { throw notEmpty }
            let oldByte: UInt8 = m < leaf.suffixLength ? v.u8(leaf.suffix + m) : 0
            let newByte: UInt8 = m < rest ? k[i + m] : 0
            let oldRest = oldByte == 0 ? 0 : leaf.suffixLength - m - 1
            let newRest = newByte == 0 ? 0 : rest - m - 1
            let need = ARTLayout.leafSize(suffix: oldRest, value: leaf.valueLength) + 4 + tailCost(newRest, payload)
                + ARTLayout.node4Size + 4 + ARTLayout.chainCost(m) + slack
            guard v.freeBytes >= need else { return .needRoom(need) }
            // The old leaf moves one level down with a shorter suffix.
            let (oldSlot, oldOffset) = try page.newNode(.leaf, size: ARTLayout.leafSize(suffix: oldRest, value: leaf.valueLength))
            page.writeLeaf(at: oldOffset,
                           suffix: v.rawBytes(leaf.suffix + m + 1, oldRest),
                           value: v.rawBytes(leaf.value, leaf.valueLength))
            counters.bytesCopied += oldRest + leaf.valueLength
            let (newSlot, blobNode) = try writeTail(page, tail(newByte == 0 ? k.count : i + m + 1), payload, topSlot: nil, &counters)
            try branch(page, slot, k, i, m, (oldByte, oldSlot), (newByte, newSlot))
            return .done(old: nil, blobNode: blobNode)

        case .prefix:
            let prefix = try v.prefix(node)
            let m = v.matchLength(prefix.bytes, prefix.length, k, i)
            let bytes = v.bytes(prefix.bytes, prefix.length)
            let oldByte = bytes[m]
            let newByte: UInt8 = m < rest ? k[i + m] : 0
            let newRest = newByte == 0 ? 0 : rest - m - 1
            let need = tailCost(newRest, payload) + ARTLayout.node4Size + 4 + 2 * ARTLayout.chainCost(prefix.length) + slack
            guard v.freeBytes >= need else { return .needRoom(need) }
            var lower = prefix.child
            if m + 1 < prefix.length {
                lower = try page.writeChain(bytes[(m + 1)...], child: prefix.child, topSlot: nil)
            }
            let (newSlot, blobNode) = try writeTail(page, tail(newByte == 0 ? k.count : i + m + 1), payload, topSlot: nil, &counters)
            try branch(page, slot, k, i, m, (oldByte, lower), (newByte, newSlot))
            return .done(old: nil, blobNode: blobNode)

        case .node4, .node16, .node48, .node256:
            let byte: UInt8 = i < k.count ? k[i] : 0
            let newRest = byte == 0 ? 0 : rest - 1
            let need = tailCost(newRest, payload) + ARTLayout.node256Size + slack
            guard v.freeBytes >= need else { return .needRoom(need) }
            let (newSlot, blobNode) = try writeTail(page, tail(byte == 0 ? k.count : i + 1), payload, topSlot: nil, &counters)
            try page.addChild(slot, byte, newSlot)
            return .done(old: nil, blobNode: blobNode)

        case .blob, .invalid:
            throw v.corrupted("insert landed on a \(node.type) node in slot \(slot)")
        }
    }

    /// Replaces the node in `slot` by a Node4 holding two children, below a chain of the `m`
    /// bytes `k[i..<i+m]` the two share.
    private static func branch(
        _ page: MutablePageView, _ slot: UInt16, _ k: UnsafeBufferPointer<UInt8>, _ i: Int, _ m: Int,
        _ a: (byte: UInt8, slot: UInt16), _ b: (byte: UInt8, slot: UInt16)
    ) throws(HoltError) {
        let kids = a.byte < b.byte ? [a, b] : [b, a]
        if m == 0 {
            let offset = try page.replaceNode(slot, .node4, size: ARTLayout.node4Size)
            page.writeInner(at: offset, .node4, kids)
        } else {
            let (node4, offset) = try page.newNode(.node4, size: ARTLayout.node4Size)
            page.writeInner(at: offset, .node4, kids)
            _ = try page.writeChain(Array(UnsafeBufferPointer(rebasing: k[i..<(i + m)]))[...], child: node4, topSlot: slot)
        }
    }
}
