import HoltEngine
import Synchronization

/// A FUSE node id: the number the kernel uses for a node it has looked up. Node ids are handed out
/// by the node table, never reused within a mount, and say nothing about the inode number.
struct NodeID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    var rawValue: UInt64
    init(rawValue: UInt64) { self.rawValue = rawValue }
    /// The root directory's node id, fixed by FUSE.
    static let root = NodeID(rawValue: 1)
    var description: String { "#\(rawValue)" }
}

/// The map from FUSE node ids to where the nodes are: (parent node id, name), the kernel's lookup
/// count, and the inode number last seen.
///
/// A node's path is built by walking parent pointers up to the root, so a directory rename updates
/// one entry and every descendant follows. A node whose name was unlinked while the kernel still
/// holds it is *detached*: it has no path any more and is reached through its ino (`/i/` or `/o/`).
///
/// Invariants:
/// 1. The root (node id 1) is always present, attached, with the empty path.
/// 2. `byName[(p, n)] == id` if and only if node `id` is attached with parent `p` and name `n`.
/// 3. A node is in the table while its lookup count is above zero (the root always).
/// 4. `byIno[ino] == id` if and only if node `id` is shared with that ino; shared nodes are not in `byName`.
/// 5. A node's cached path key is *valid* when its `cachedEpoch` equals `pathEpoch`; a valid key is
///    the one a walk up the parents gives now, and every ancestor of a node with a valid key has a
///    valid key too (keys are cached only while walking up, ancestors first).
///
/// Path cache: the key of a node used as a parent (a directory) is kept, so building a child's key
/// costs one lookup of the parent instead of a walk to the root. Changing a node that has a valid
/// key (moving, detaching, sharing or dropping it) bumps `pathEpoch`, which invalidates every
/// cached key at once; changing a node without one cannot touch a valid key (by 5, it is nobody's
/// ancestor), so renames and unlinks of files keep the cache.
///
/// Locking: one `Locked` guards the whole table; it is a leaf lock (nothing else is taken while it
/// is held, and no engine call runs under it). Keeping the table in step with the tree is the
/// job of `Filesystem`'s namespace lock: every move, detach and share happens in the same
/// exclusive (move, detach) or shared (share: the old path still leads to the record) critical
/// section as the batch that made it, so a path built under that lock names the node's record.
final class NodeTable: Sendable {
    /// One node the kernel knows.
    struct Node: Equatable, Sendable {
        var parent: NodeID
        var name: [UInt8]
        var lookups: UInt64
        var ino: UInt64
        var attached: Bool
        /// Found by ino (`/i/<ino>`) rather than by path.
        var shared = false
        /// For a detached node: what it looked like when its name went (nlink 0), shown when it
        /// has no record left (a removed directory the kernel still holds open).
        var removed: Attributes? = nil
        /// The node's path key as last computed, valid while `cachedEpoch == State.pathEpoch`.
        var cachedKey: [UInt8] = []
        /// The `pathEpoch` at which `cachedKey` was computed; 0 = never.
        var cachedEpoch: UInt64 = 0
    }

    /// Where a node's record is found.
    enum Location: Equatable, Sendable {
        /// At the key of its path.
        case path([UInt8])
        /// Unlinked while still known: through its ino only.
        case detached(ino: UInt64)
    }

    private struct ChildKey: Hashable {
        var parent: NodeID
        var name: [UInt8]
    }

    private struct State {
        var nodes: [NodeID: Node] = [:]
        var byName: [ChildKey: NodeID] = [:]
        var byIno: [UInt64: NodeID] = [:]
        var nextID: UInt64 = 2
        /// Bumped when a node with a valid cached key changes place (invariant 5); starts at 1.
        var pathEpoch: UInt64 = 1

        /// Whether `node` has a valid cached key, so changing it must invalidate the cache.
        func hasValidKey(_ node: Node) -> Bool { node.cachedEpoch == pathEpoch }

        /// Invalidates every cached key when `node` had a valid one.
        mutating func willChange(_ node: Node?) {
            if let node, hasValidKey(node) { pathEpoch += 1 }
        }

        /// The path key of attached node `id`, from its cache or built from its parent's key (which
        /// is cached on the way); nil when `id` or an ancestor is missing, detached or shared.
        /// With `caching`, the key is kept in the node (done for parents, not for the leaf asked).
        mutating func key(of id: NodeID, caching: Bool, depth: Int = 0) -> [UInt8]? {
            if id == .root { return [] }
            guard depth < 4096, let node = nodes[id], node.attached, !node.shared else { return nil }
            if hasValidKey(node) { return node.cachedKey }
            var key: [UInt8]
            if node.parent == .root {
                key = node.name
            } else {
                guard let parentKey = self.key(of: node.parent, caching: true, depth: depth + 1) else { return nil }
                key = parentKey
                key.reserveCapacity(parentKey.count + 1 + node.name.count)
                key.append(UInt8(ascii: "/"))
                key += node.name
            }
            if caching {
                nodes[id]!.cachedKey = key
                nodes[id]!.cachedEpoch = pathEpoch
            }
            return key
        }
    }

    private let state: Locked<State>

    /// A table holding only the root, whose inode number is `rootIno`.
    init(rootIno: UInt64 = 1) {
        var initial = State()
        initial.nodes[.root] = Node(parent: .root, name: [], lookups: 1, ino: rootIno, attached: true)
        state = Locked(initial)
    }

    /// The number of nodes in the table, root included.
    var count: Int { state.withLock { $0.nodes.count } }

    /// The node, or nil when the kernel has no such node.
    func node(_ id: NodeID) -> Node? { state.withLock { $0.nodes[id] } }

    /// Where node `id` is: its path key when attached, its ino when detached; nil when unknown.
    func location(of id: NodeID) -> Location? {
        state.withLock { state -> Location? in
            guard let node = state.nodes[id] else { return nil }
            guard node.attached, !node.shared else { return .detached(ino: node.ino) }
            guard let key = state.key(of: id, caching: false) else { return .detached(ino: node.ino) }
            return .path(key)
        }
    }

    /// The node id for `name` in `parent`, counting one more lookup; creates it when new.
    /// With `shared`, the name is one of several of inode `ino`: the node is the one for that ino.
    func remember(parent: NodeID, name: [UInt8], ino: UInt64, shared: Bool = false) -> NodeID {
        state.withLock { state in
            if shared {
                if let id = state.byIno[ino], state.nodes[id] != nil {
                    state.nodes[id]!.lookups += 1
                    return id
                }
                let id = NodeID(rawValue: state.nextID)
                state.nextID += 1
                state.nodes[id] = Node(parent: parent, name: name, lookups: 1, ino: ino, attached: true, shared: true)
                state.byIno[ino] = id
                return id
            }
            let key = ChildKey(parent: parent, name: name)
            if let id = state.byName[key], state.nodes[id] != nil {
                state.nodes[id]!.lookups += 1
                state.nodes[id]!.ino = ino
                return id
            }
            let id = NodeID(rawValue: state.nextID)
            state.nextID += 1
            state.nodes[id] = Node(parent: parent, name: name, lookups: 1, ino: ino, attached: true)
            state.byName[key] = id
            return id
        }
    }

    /// The node id of `name` in `parent` if the kernel holds one.
    func child(of parent: NodeID, named name: [UInt8]) -> NodeID? {
        state.withLock { $0.byName[ChildKey(parent: parent, name: name)] }
    }

    /// Drops `count` lookups of `id`; removes the node at zero. The root is never removed.
    func forget(_ id: NodeID, count: UInt64) {
        state.withLock { state in Self.forget(id, count: count, in: &state) }
    }

    /// Drops the lookups of many nodes under one lock (the kernel forgets in batches of
    /// hundreds after a cache drop; a lock per node made the daemon's threads spin on it).
    func forget(_ batch: [(id: NodeID, count: UInt64)]) {
        state.withLock { state in
            for item in batch { Self.forget(item.id, count: item.count, in: &state) }
        }
    }

    /// `forget(_:count:)` with the lock held.
    private static func forget(_ id: NodeID, count: UInt64, in state: inout State) {
        guard id != .root, var node = state.nodes[id] else { return }
        node.lookups = node.lookups > count ? node.lookups - count : 0
        if node.lookups > 0 {
            state.nodes[id] = node
            return
        }
        state.willChange(node)
        state.nodes[id] = nil
        if node.shared {
            if state.byIno[node.ino] == id { state.byIno[node.ino] = nil }
            return
        }
        let key = ChildKey(parent: node.parent, name: node.name)
        if node.attached, state.byName[key] == id { state.byName[key] = nil }
    }

    /// Marks the node at `name` in `parent` detached (its name is gone); it keeps its ino and
    /// remembers `removed`, its last attributes.
    func detach(parent: NodeID, name: [UInt8], removed: Attributes? = nil) {
        state.withLock { state in
            let key = ChildKey(parent: parent, name: name)
            guard let id = state.byName.removeValue(forKey: key) else { return }
            state.willChange(state.nodes[id])
            state.nodes[id]?.attached = false
            state.nodes[id]?.removed = removed
        }
    }

    /// Records a rename: the node at (`parent`, `name`) now sits at (`newParent`, `newName`);
    /// a node that was at the destination is detached. With `exchange`, the two swap places.
    func move(parent: NodeID, name: [UInt8], to newParent: NodeID, newName: [UInt8], exchange: Bool) {
        state.withLock { state in
            let from = ChildKey(parent: parent, name: name), to = ChildKey(parent: newParent, name: newName)
            guard from != to else { return }
            let moving = state.byName.removeValue(forKey: from)
            let displaced = state.byName.removeValue(forKey: to)
            if let moving { state.willChange(state.nodes[moving]) }
            if let displaced { state.willChange(state.nodes[displaced]) }
            if let moving {
                state.nodes[moving]?.parent = newParent
                state.nodes[moving]?.name = newName
                state.byName[to] = moving
            }
            if let displaced {
                if exchange {
                    state.nodes[displaced]?.parent = parent
                    state.nodes[displaced]?.name = name
                    state.byName[from] = displaced
                } else {
                    state.nodes[displaced]?.attached = false
                }
            }
        }
    }

    /// Makes `id` the shared node of inode `ino` (its file just got a second name) and counts one
    /// more lookup, for the new name. A node already shared for `ino` is returned instead.
    func share(_ id: NodeID, ino: UInt64) -> NodeID {
        state.withLock { state in
            if let existing = state.byIno[ino], state.nodes[existing] != nil {
                state.nodes[existing]!.lookups += 1
                return existing
            }
            guard var node = state.nodes[id] else {
                let fresh = NodeID(rawValue: state.nextID)
                state.nextID += 1
                state.nodes[fresh] = Node(parent: .root, name: [], lookups: 1, ino: ino, attached: true, shared: true)
                state.byIno[ino] = fresh
                return fresh
            }
            let key = ChildKey(parent: node.parent, name: node.name)
            if node.attached, !node.shared, state.byName[key] == id { state.byName[key] = nil }
            state.willChange(node)
            node.shared = true
            node.ino = ino
            node.lookups += 1
            state.nodes[id] = node
            state.byIno[ino] = id
            return id
        }
    }

    /// Updates the ino remembered for `id` (a plain value given a record).
    func setIno(_ id: NodeID, ino: UInt64) {
        state.withLock { $0.nodes[id]?.ino = ino }
    }

    /// Checks the numbered invariants; returns what is wrong.
    func invariantViolations() -> [String] {
        state.withLock { state in
            var problems: [String] = []
            if state.nodes[.root]?.attached != true { problems.append("root missing or detached") }
            for (key, id) in state.byName {
                guard let node = state.nodes[id] else { problems.append("byName points at missing \(id)"); continue }
                if !node.attached || node.parent != key.parent || node.name != key.name {
                    problems.append("byName entry for \(id) disagrees with the node")
                }
            }
            for (ino, id) in state.byIno where state.nodes[id]?.shared != true || state.nodes[id]?.ino != ino {
                problems.append("byIno entry for \(id) disagrees with the node")
            }
            for (id, node) in state.nodes where id != .root && node.attached && !node.shared {
                if state.byName[ChildKey(parent: node.parent, name: node.name)] != id {
                    problems.append("attached \(id) missing from byName")
                }
            }
            // 5: a valid cached key is what a walk to the root gives now.
            for (id, node) in state.nodes where id != .root && state.hasValidKey(node) {
                var names: [[UInt8]] = []
                var current = id
                var walked = true
                while current != .root {
                    guard let step = state.nodes[current], step.attached, !step.shared, names.count < 4096 else {
                        walked = false
                        break
                    }
                    names.append(step.name)
                    current = step.parent
                }
                let fresh = names.reversed().joined(separator: [UInt8(ascii: "/")])
                if !walked || Array(fresh) != node.cachedKey { problems.append("stale cached key for \(id)") }
            }
            return problems
        }
    }
}
