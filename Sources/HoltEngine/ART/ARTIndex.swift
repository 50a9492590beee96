import CURing
/// An adaptive radix tree whose nodes live inside 512 KiB blobs: the `OrderedIndex` a `Tree`
/// keeps its data in.
///
/// Concepts:
/// - A *position* is the string of key bytes consumed from the root. Every node stands at a
///   position and holds the keys below it. Each key is stored as its bytes followed by a
///   terminator byte 0 (keys never hold NUL), so no key is a prefix of another inside the tree
///   and the terminator, the smallest byte, keeps bytewise order.
/// - A *leaf* holds the rest of its key after its position (its suffix) and the value; it never
///   holds the full key, so a subtree can be relinked under another position unchanged.
/// - Nodes refer to each other by *slot* inside one blob; a *Blob node* refers to a subtree of
///   a child blob (blob id and root slot), whose root stands at the Blob node's position. A
///   child blob may hold several such subtrees (a split packs small siblings together). Each
///   Blob node stands at least one key byte below the subtree root holding it, so descent depth
///   is bounded by the key length.
/// - Slots are stable: a node that grows, shrinks or is replaced keeps its slot, so its parent
///   never changes. Freed node bytes are *dead* until the blob is compacted.
///
/// Invariants (checked by `verify()`):
/// 1. The root blob's root is EmptyRoot exactly when the index is empty; no other node is empty.
/// 2. Node4 has 2...4 children, Node16 4...16, Node48 13...48, Node256 41...256.
/// 3. A child under byte 0 is a Leaf with an empty suffix; no other path byte is 0.
/// 4. Node4/Node16 keys are strictly increasing.
/// 5. Every subtree of a child blob is referred to by exactly one Blob node; every live slot
///    is reachable; each blob's live bytes add up; a blob with no subtree left is freed.
final class ARTIndex<Source: BlobSource>: OrderedIndex {
    /// Where the blobs come from.
    let source: Source
    /// The root blob. It never changes after creation (the store keeps it in its manifest).
    let root: BlobID
    /// The end of the data area for new blobs (`blobSize`, or smaller in tests to force splits).
    let dataEnd: Int
    /// Counters of write-side work, for tests and stats. Changed under the writer's lock, or
    /// beside parallel writers under `writeLocks.structure`.
    var counters = ARTCounters()
    /// What parallel writers (`putInParallel`) lock.
    let writeLocks = BlobWriteLocks()

    /// The longest key the walkers accept before calling the structure corrupted.
    static var maxPathLength: Int { Tree.maxKeyLength + 1 }

    private init(source: Source, root: BlobID, dataEnd: Int) {
        self.source = source
        self.root = root
        self.dataEnd = dataEnd
    }

    /// Allocates and formats a root blob holding an empty tree.
    ///
    /// - Parameters:
    ///   - source: Where blobs come from.
    ///   - blobCapacity: The bytes of each blob the tree may use (tests pass less to force splits).
    /// - Returns: The new index; persist its `root`.
    static func create(in source: Source, blobCapacity: Int = BlobGeometry.blobSize) throws(HoltError) -> ARTIndex {
        precondition(blobCapacity >= 16 * 1024 && blobCapacity <= BlobGeometry.blobSize && blobCapacity % 8 == 0)
        let id = try source.allocate()
        try source.write(id) { (raw) throws(HoltError) in
            let page = MutablePageView(base: raw, id: id)
            page.format(dataEnd: blobCapacity)
            let root = try page.newNode(.emptyRoot, size: ARTLayout.emptyRootSize)
            page.setRoot(root.slot)
        }
        return ARTIndex(source: source, root: id, dataEnd: blobCapacity)
    }

    /// Opens the tree whose root blob is `root`, checking the root blob's ART header.
    ///
    /// - Throws: `.corrupted` when the root blob is not a sound ART blob,
    ///   `.unsupportedFormat` for another format version.
    init(source: Source, root: BlobID) throws(HoltError) {
        self.source = source
        self.root = root
        self.dataEnd = try source.read(root) { (raw) throws(HoltError) -> Int in
            let page = PageView(base: raw, id: root)
            try page.validateHeader()
            _ = try page.node(page.rootSlot)
            return page.dataEnd
        }
    }

    // MARK: Reads

    func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        try key.withUnsafeBufferPointer { (k) throws(HoltError) -> [UInt8]? in
            try walkBlobs(k) { (page, slot, i) throws(HoltError) in try Self.lookup(page, slot, k, from: i) }
        }
    }

    /// `get` without latches (`walkBlobs(_:optimistic:_:)`): nil when a writer changed a blob
    /// under it, else the answer (itself nil when the key is absent).
    func getOptimistically(_ key: [UInt8]) throws(HoltError) -> [UInt8]?? {
        try key.withUnsafeBufferPointer { (k) throws(HoltError) -> [UInt8]?? in
            try walkBlobs(k, optimistic: true) { (page, slot, i) throws(HoltError) in
                try Self.lookup(page, slot, k, from: i)
            }
        }
    }

    /// `get` without latches when no writer is in the way (`getOptimistically`; a blob outside a
    /// full cache is then read through the mapped file), else under shared latches.
    func getPreferringOptimistic(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        if let answer = try getOptimistically(key) { return answer }
        return try get(key)
    }

    /// What a walk found in one blob: the answer, or the child blob (and the root slot of the
    /// subtree in it) to go on in, at key offset `Int`.
    enum BlobStep<R> {
        /// The walk's answer.
        case done(R)
        /// Go on in this child blob, from this root slot, at this key offset.
        case descend((blob: BlobID, slot: UInt16), Int)
    }

    /// Walks `k` blob by blob from the root: `step` runs inside one blob, from a slot and a key
    /// offset, and either answers or names the child blob to go on in. Every descent of the
    /// index (`get`, `locate`, an insert's or a removal's search) is this loop.
    ///
    /// Lock coupling: the child blob is held (its latch taken) before the parent is let go, so
    /// a reader that runs beside a batch never lands in a blob that a split, merge or free
    /// changed after it left the parent (see docs/DESIGN.md, "Readers beside a batch"). At most
    /// two blobs are held at once.
    /// - Throws: `.corrupted` when the Blob references form a cycle, and what `step` throws.
    @inline(__always)
    func walkBlobs<R>(
        _ k: UnsafeBufferPointer<UInt8>, _ step: (PageView, UInt16, Int) throws(HoltError) -> BlobStep<R>
    ) throws(HoltError) -> R {
        guard let answer = try walkBlobs(k, optimistic: false, step) else {
            preconditionFailure("a walk under shared latches has nothing to retry")
        }
        return answer
    }

    /// `walkBlobs(_:optimistic:keeping:_:)` letting go of every blob it held.
    @inline(__always)
    func walkBlobs<R>(
        _ k: UnsafeBufferPointer<UInt8>, optimistic: Bool,
        _ step: (PageView, UInt16, Int) throws(HoltError) -> BlobStep<R>
    ) throws(HoltError) -> R? {
        var nothingKept: [HeldBlob]? = nil
        return try walkBlobs(k, optimistic: optimistic, keeping: &nothingKept, step)
    }

    /// `walkBlobs(_:_:)`, optimistically when `optimistic`: no latch is taken; each blob's
    /// version is checked after `step` read it, and the parent's again once the child is pinned
    /// (so the child was still its child). Returns nil when a writer changed a blob under the
    /// walk (what `step` returned or threw from torn bytes is thrown away): the caller tries
    /// again, or walks under shared latches. `step` must survive torn bytes (every offset it
    /// follows is checked against the blob's bounds, as for damaged bytes) and must not keep
    /// pointers into the blob.
    ///
    /// `kept` (optimistic walks only): when not nil, every blob the walk held is appended to it
    /// instead of let go, the last one included, for a caller that goes on reading from where
    /// the walk ended and checks them all at its end (`scanOptimistically`); it releases them.
    @inline(__always)
    func walkBlobs<R>(
        _ k: UnsafeBufferPointer<UInt8>, optimistic: Bool, keeping kept: inout [HeldBlob]?,
        _ step: (PageView, UInt16, Int) throws(HoltError) -> BlobStep<R>
    ) throws(HoltError) -> R? {
        /// Lets go of `blob`, or keeps it for the caller.
        func letGo(_ blob: HeldBlob) {
            if kept != nil { kept!.append(blob) } else { source.release(blob) }
        }
        guard var held = try hold(root, optimistic: optimistic) else { return nil }
        var slot: UInt16 = 0
        var i = 0
        var hops = 0
        while true {
            let next: BlobStep<R>
            do throws(HoltError) {
                if optimistic { holt_tsan_ignore_begin() }
                defer { if optimistic { holt_tsan_ignore_end() } }
                let page = PageView(base: held.bytes, id: held.id)
                try page.validateHeader()
                next = try step(page, slot == 0 ? page.rootSlot : slot, i)
            } catch {
                let torn = !source.isUnchanged(held)
                letGo(held)
                if torn { return nil }
                throw error
            }
            guard source.isUnchanged(held) else {
                letGo(held)
                return nil
            }
            switch next {
            case .done(let answer):
                letGo(held)
                return answer
            case .descend(let child, let at):
                hops += 1
                guard hops <= k.count + 1 else {
                    letGo(held)
                    throw .corrupted(what: "\(child.blob)", reason: "blob references form a cycle")
                }
                slot = child.slot
                i = at
                // A subtree of the same blob (a split packs siblings together): no new hold.
                if child.blob == held.id { continue }
                let parent = held
                let next: HeldBlob?
                do throws(HoltError) { next = try hold(child.blob, optimistic: optimistic) } catch {
                    let torn = !source.isUnchanged(parent)
                    letGo(parent)
                    if torn { return nil }
                    throw error
                }
                // Optimistic: the parent unchanged now means the child was still its child
                // when its version was noted.
                guard let next, source.isUnchanged(parent) else {
                    if let next { letGo(next) }
                    letGo(parent)
                    return nil
                }
                letGo(parent)
                held = next
            }
        }
    }

    /// Holds blob `id` shared, or optimistically (nil: a writer kept it busy).
    @inline(__always)
    private func hold(_ id: BlobID, optimistic: Bool) throws(HoltError) -> HeldBlob? {
        optimistic ? try source.holdOptimistic(id) : try source.holdShared(id)
    }

    /// Looks `k[from...]` up starting at `start` in `page`.
    private static func lookup(_ page: PageView, _ start: UInt16, _ k: UnsafeBufferPointer<UInt8>, from: Int)
        throws(HoltError) -> BlobStep<[UInt8]?>
    {
        var slot = start
        var i = from
        // Each step takes at least one key byte but the last two (a terminator, its leaf): more
        // means a cycle in damaged or torn bytes (an optimistic walk meets those).
        var steps = k.count - from + 2
        while true {
            steps -= 1
            guard steps >= 0 else { throw page.corrupted("lookup path longer than its key") }
            let node = try page.node(slot)
            switch node.type {
            case .leaf:
                let leaf = try page.leaf(node)
                guard leaf.suffixLength == k.count - i,
                      page.matchLength(leaf.suffix, leaf.suffixLength, k, i) == leaf.suffixLength
                else { return .done(nil) }
                return .done(page.bytes(leaf.value, leaf.valueLength))
            case .prefix:
                let prefix = try page.prefix(node)
                guard page.matchLength(prefix.bytes, prefix.length, k, i) == prefix.length else { return .done(nil) }
                i += prefix.length
                slot = prefix.child
            case .node4, .node16, .node48, .node256:
                let byte = i < k.count ? k[i] : 0
                let child = try page.child(node, byte)
                if child == 0 { return .done(nil) }
                if byte == 0 {
                    let leaf = try page.node(child)
                    guard leaf.type == .leaf else { throw page.corrupted("terminator child in slot \(child) is not a leaf") }
                } else {
                    i += 1
                }
                slot = child
            case .blob:
                return .descend(page.blobChild(node), i)
            case .emptyRoot, .invalid:
                return .done(nil)
            }
        }
    }

    func hasKeys(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool {
        try locate(prefix) != nil
    }

    /// `hasKeys` without latches (`walkBlobs(_:optimistic:_:)`): nil when a writer changed a
    /// blob under it.
    func hasKeysOptimistically(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool? {
        try prefix.withUnsafeBufferPointer { (k) throws(HoltError) -> Bool? in
            let found = try walkBlobs(k, optimistic: true) { (page, slot, i) throws(HoltError) in
                try Self.locate(page, slot, k, from: i)
            }
            return found.map { $0 != nil }
        }
    }

    /// Where the subtree of the keys starting with `prefix` is: a node and how many of its own
    /// path bytes (Prefix bytes or leaf suffix) `prefix` already covers. Nil when no key starts
    /// with `prefix`. A Blob node at the position is returned itself.
    func locate(_ prefix: [UInt8]) throws(HoltError) -> (blob: BlobID, slot: UInt16, skip: Int)? {
        try prefix.withUnsafeBufferPointer { (k) throws(HoltError) -> (blob: BlobID, slot: UInt16, skip: Int)? in
            try walkBlobs(k) { (page, slot, i) throws(HoltError) in try Self.locate(page, slot, k, from: i) }
        }
    }

    /// `hasKeys` as `getPreferringOptimistic` does `get`.
    func hasKeysPreferringOptimistic(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool {
        if let answer = try hasKeysOptimistically(withPrefix: prefix) { return answer }
        return try hasKeys(withPrefix: prefix)
    }

    /// The prefix walk of `locate(_:)` inside one blob, from `start`.
    static func locate(_ page: PageView, _ start: UInt16, _ k: UnsafeBufferPointer<UInt8>, from: Int)
        throws(HoltError) -> BlobStep<(blob: BlobID, slot: UInt16, skip: Int)?>
    {
        var slot = start
        var i = from
        while true {
            let node = try page.node(slot)
            if node.type == .emptyRoot { return .done(nil) }
            if i == k.count { return .done((page.id, slot, 0)) }
            switch node.type {
            case .leaf:
                let leaf = try page.leaf(node)
                let rest = k.count - i
                guard rest <= leaf.suffixLength, page.matchLength(leaf.suffix, rest, k, i) == rest else { return .done(nil) }
                return .done((page.id, slot, rest))
            case .prefix:
                let prefix = try page.prefix(node)
                let m = page.matchLength(prefix.bytes, prefix.length, k, i)
                if m == prefix.length {
                    i += m
                    slot = prefix.child
                } else if i + m == k.count {
                    return .done((page.id, slot, m))
                } else {
                    return .done(nil)
                }
            case .node4, .node16, .node48, .node256:
                let child = try page.child(node, k[i])
                if child == 0 { return .done(nil) }
                i += 1
                slot = child
            case .blob:
                return .descend(page.blobChild(node), i)
            case .emptyRoot, .invalid:
                return .done(nil)
            }
        }
    }
}

/// Counters of the work the writer did: what tests use to prove costs.
struct ARTCounters: Sendable {
    /// Node bytes copied from one place to another (subtree copies, compaction, leaf rewrites).
    var bytesCopied = 0
    /// Blobs split.
    var splits = 0
    /// Child blobs inlined back into their parent.
    var merges = 0
    /// Blobs compacted.
    var compactions = 0
}
