/// Removal: walking a recorded path, unlinking a node from its parent, and the cascade that
/// follows (an emptied Prefix or child blob goes too; a Node4 left with one child collapses).
extension ARTIndex {
    /// One node on a path from the root: where it is, and the byte of the edge taken out of it
    /// (-1 for Prefix nodes and the last node, `blobEdge` for Blob nodes).
    struct PathStep {
        /// The node's blob.
        var blob: BlobID
        /// The node's slot.
        var slot: UInt16
        /// The key byte of the edge taken out of the node, -1, or `blobEdge`.
        var byte: Int
        /// Whether the node is a Blob node (the next step is a subtree root it refers to, in a
        /// child blob, or even in the same blob after prefix moves).
        var isBlobNode: Bool { byte == PathStep.blobEdge }
        /// The edge value of a Blob node.
        static var blobEdge: Int { -2 }
    }

    @discardableResult
    func remove(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        try key.withUnsafeBufferPointer { (k) throws(HoltError) -> [UInt8]? in
            guard let (path, _) = try walkPath(k, exact: true) else { return nil }
            let leaf = path[path.count - 1]
            let old = try source.read(leaf.blob) { (raw) throws(HoltError) -> [UInt8] in
                let page = PageView(base: raw, id: leaf.blob)
                let l = try page.leaf(try page.node(leaf.slot))
                return page.bytes(l.value, l.valueLength)
            }
            let top = try unlink(path)
            try mergeAfterUnlink(path, top)
            return old
        }
    }

    /// Walks `k` and records the path. With `exact`, the path ends at the leaf of key `k`;
    /// otherwise at the node holding the keys that start with `k`, with how many of that node's
    /// own path bytes `k` covers (a Blob node at that position is the end itself).
    /// - Returns: Nil when there is no such key (no key with that prefix).
    func walkPath(_ k: UnsafeBufferPointer<UInt8>, exact: Bool) throws(HoltError) -> (path: [PathStep], skip: Int)? {
        var path: [PathStep] = []
        let found = try walkBlobs(k) { (page, start, from) throws(HoltError) -> BlobStep<(found: Bool, skip: Int)> in
            let blob = page.id
            var slot = start
            var i = from
            while true {
                let node = try page.node(slot)
                if node.type == .emptyRoot { return .done((false, 0)) }
                if !exact && i == k.count {
                    path.append(PathStep(blob: blob, slot: slot, byte: -1))
                    return .done((true, 0))
                }
                switch node.type {
                case .leaf:
                    let leaf = try page.leaf(node)
                    let rest = k.count - i
                    guard exact ? leaf.suffixLength == rest : rest <= leaf.suffixLength,
                          page.matchLength(leaf.suffix, rest, k, i) == rest
                    else { return .done((false, 0)) }
                    path.append(PathStep(blob: blob, slot: slot, byte: -1))
                    return .done((true, exact ? 0 : rest))
                case .prefix:
                    let prefix = try page.prefix(node)
                    let m = page.matchLength(prefix.bytes, prefix.length, k, i)
                    path.append(PathStep(blob: blob, slot: slot, byte: -1))
                    if m == prefix.length {
                        i += m
                        slot = prefix.child
                    } else if !exact && i + m == k.count {
                        return .done((true, m))
                    } else {
                        return .done((false, 0))
                    }
                case .node4, .node16, .node48, .node256:
                    let byte = i < k.count ? k[i] : 0
                    let child = try page.child(node, byte)
                    if child == 0 { return .done((false, 0)) }
                    path.append(PathStep(blob: blob, slot: slot, byte: Int(byte)))
                    if byte == 0 {
                        guard try page.node(child).type == .leaf else {
                            throw page.corrupted("terminator child in slot \(child) is not a leaf")
                        }
                    } else {
                        i += 1
                    }
                    slot = child
                case .blob:
                    path.append(PathStep(blob: blob, slot: slot, byte: PathStep.blobEdge))
                    return .descend(page.blobChild(node), i)
                case .emptyRoot, .invalid:
                    return .done((false, 0))
                }
            }
        }
        return found.found ? (path, found.skip) : nil
    }

    /// Unlinks the last node of `path` from its parent and frees its slot (its descendants must
    /// be freed or kept elsewhere by the caller). An emptied Prefix goes too, an emptied child
    /// blob is freed with its Blob node, the root becomes EmptyRoot when the tree empties.
    /// - Returns: The index in `path` of the deepest node still standing that was changed
    ///   (-1 when the tree became empty).
    @discardableResult
    func unlink(_ path: [PathStep]) throws(HoltError) -> Int {
        var index = path.count - 1
        while true {
            let target = path[index]
            if index == 0 {
                try source.write(target.blob) { (raw) throws(HoltError) in
                    let page = MutablePageView(base: raw, id: target.blob)
                    _ = try page.replaceNode(target.slot, .emptyRoot, size: ARTLayout.emptyRootSize)
                }
                return -1
            }
            let parent = path[index - 1]
            if parent.isBlobNode {
                // The target was the root of a subtree in a child blob: free it, and the blob when
                // that was its last subtree; then the Blob node referring to it goes.
                let empty = try source.write(target.blob) { (raw) throws(HoltError) -> Bool in
                    let page = MutablePageView(base: raw, id: target.blob)
                    try page.freeNode(target.slot)
                    return page.view.liveSlots == 0
                }
                if empty { try source.free(target.blob) }
                // Between two blobs' changes: lock-free readers may walk the tree as it is here.
                try Failpoints.hit("index.unlinkBetweenBlobs")
                index -= 1
                continue
            }
            let done = try source.write(target.blob) { (raw) throws(HoltError) -> Bool in
                let page = MutablePageView(base: raw, id: target.blob)
                try page.freeNode(target.slot)
                let node = try page.view.node(parent.slot)
                switch node.type {
                case .prefix:
                    return false
                case .node4, .node16, .node48, .node256:
                    guard parent.byte >= 0 else { throw page.view.corrupted("path through slot \(parent.slot) lost its byte") }
                    try page.removeChild(parent.slot, UInt8(parent.byte))
                    return true
                default:
                    throw page.view.corrupted("slot \(parent.slot) cannot have a child")
                }
            }
            if done { return index - 1 }
            index -= 1
        }
    }

    /// After an unlink that stopped at `path[top]`: merges that node's blob into its parent
    /// blob when it became small.
    func mergeAfterUnlink(_ path: [PathStep], _ top: Int) throws(HoltError) {
        guard top >= 1 else { return }
        // The subtree root holding path[top]: the step after the last Blob node above it.
        guard let edge = path[..<top].lastIndex(where: { $0.isBlobNode }) else { return }
        let reference = path[edge], subtree = path[edge + 1]
        guard subtree.blob == path[top].blob else { return }
        try mergeIfSmall(parent: reference.blob, slot: reference.slot, child: subtree.blob, childRoot: subtree.slot)
    }
}
