#if canImport(Glibc)
import Glibc
#endif

/// Applies the ops of one batch to an index in order and remembers how to undo them, so a batch
/// whose condition fails halfway leaves the index as it found it.
///
/// Generic over the index (not `any OrderedIndex`): the tree's ART calls are then direct and
/// specialised, which matters on the write path (one call per op).
struct BatchApplier<Index: OrderedIndex> {
    /// One step back to the state before the batch.
    private enum UndoStep {
        /// Set `key` to `value`, or remove it when `value` is nil.
        case restore(key: [UInt8], value: [UInt8]?)
        /// Move the keys below `from` back to `to`.
        case moveKeys(from: [UInt8], to: [UInt8])
    }

    let index: Index
    /// Where the before-image of each key is recorded for lock-free readers (nil at replay and
    /// for batches that move prefixes, which readers do not read beside).
    var visibility: InstallingBatch?
    private var steps: [UndoStep] = []
    /// How many keys the ops performed so far added, less how many they removed.
    private(set) var keyDelta = 0
    /// How many key and value bytes the ops performed so far added, less how many they removed.
    /// A prefix move counts the change of its prefix's length once (it relinks one node).
    private(set) var byteDelta = 0

    /// Whether any op performed so far changed the index (a batch that changed nothing is not logged).
    var changedAnything: Bool { !steps.isEmpty }

    /// Whether the batch, by its net effect, frees space: it removes more keys than it adds and
    /// adds no more bytes than it removes. Such a batch may use the room the log keeps for
    /// emptying a full disk (an unlink that rewrites its parent's record qualifies; a write that
    /// deletes one key on the way but adds another, or grows a value by more, does not).
    var freesSpace: Bool { keyDelta < 0 && byteDelta <= 0 }

    init(index: Index) {
        self.index = index
    }

    /// Applies `op`, the `position`th op of its batch.
    mutating func perform(_ op: TxnOp, at position: Int) throws(HoltError) {
        switch op {
        case .put(let key, let value):
            let old = try put(key, value)
            steps.append(.restore(key: key, value: old))
            count(put: key, value, replacing: old)
        case .delete(let key):
            if let old = try remove(key) {
                steps.append(.restore(key: key, value: old))
                count(removed: key, old)
            }
        case .rename(let from, let to):
            guard let value = try index.get(from) else {
                throw .conditionFailed(index: position, key: from, reason: "no such key")
            }
            if from == to { return }
            let old = try put(to, value)
            steps.append(.restore(key: to, value: old))
            count(put: to, value, replacing: old)
            try remove(from)
            steps.append(.restore(key: from, value: value))
            count(removed: from, value)
        case .renamePrefix(let from, let to):
            try renamePrefix(from: from, to: to, at: position)
        case .expect(let key, let expectation):
            try check(key, expectation, at: position)
        }
    }

    /// `index.put`, with the key's before-image recorded around it.
    private func put(_ key: [UInt8], _ value: [UInt8]) throws(HoltError) -> [UInt8]? {
        guard let visibility else { return try index.put(key, value) }
        visibility.willChange(key)
        let old = try index.put(key, value)
        visibility.didChange(key, old: old)
        return old
    }

    /// `index.remove`, with the key's before-image recorded around it.
    @discardableResult
    private func remove(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        guard let visibility else { return try index.remove(key) }
        visibility.willChange(key)
        let old = try index.remove(key)
        visibility.didChange(key, old: old)
        return old
    }

    /// Counts a put of `value` at `key` that replaced `old` (nil: the key is new).
    private mutating func count(put key: [UInt8], _ value: [UInt8], replacing old: [UInt8]?) {
        if let old {
            byteDelta += value.count - old.count
        } else {
            keyDelta += 1
            byteDelta += key.count + value.count
        }
    }

    /// Counts the removal of `key`, which held `value`.
    private mutating func count(removed key: [UInt8], _ value: [UInt8]) {
        keyDelta -= 1
        byteDelta -= key.count + value.count
    }

    /// Applies every op of `ops` in order (`perform(_:at:)` each).
    ///
    /// Through a buffer pointer: each op is borrowed in place, not copied out of the array
    /// (which would retain its key and value, a cache miss on each array's header).
    /// Whether long batches of puts and deletes go in key order (`keyOrder`): the tree asks for
    /// it once its cache is full, when blobs visited out of order cost reads and write-outs; in
    /// a tree that fits its cache the sort costs more than it saves.
    var inKeyOrder = true

    mutating func performAll(_ ops: [TxnOp]) throws(HoltError) {
        try ops.withUnsafeBufferPointer { (buffer) throws(HoltError) in
            if inKeyOrder, let order = Self.keyOrder(buffer) {
                for position in order { try perform(buffer[position], at: position) }
            } else {
                for position in buffer.indices { try perform(buffer[position], at: position) }
            }
        }
    }

    /// A batch this long or longer of puts and deletes only is applied in key order.
    static var sortedBatchMinimum: Int { 16 }

    /// The order to apply a batch of only puts and deletes in, when it is long and not in key
    /// order already: its positions sorted by key, stably (ops on one key keep their order).
    /// Puts and deletes of different keys commute, so the result is the batch's; in key order
    /// each blob is visited once per batch instead of once per key, which is what a random-key
    /// batch over a tree larger than the cache needs (every visit of an evicted blob reads it
    /// back). Nil: apply in the batch's order.
    static func keyOrder(_ ops: UnsafeBufferPointer<TxnOp>) -> [Int]? {
        guard ops.count >= sortedBatchMinimum else { return nil }
        var sorted = true
        for position in ops.indices {
            switch ops[position] {
            case .put, .delete: break
            default: return nil
            }
            if sorted, position > 0, KeyOrder.precedes(ops[position].putOrDeleteKey, ops[position - 1].putOrDeleteKey) { sorted = false }
        }
        if sorted { return nil }
        return ops.indices.sorted { a, b in
            let ka = ops[a].putOrDeleteKey, kb = ops[b].putOrDeleteKey
            return KeyOrder.precedes(ka, kb) || (!KeyOrder.precedes(kb, ka) && a < b)
        }
    }

    /// Undoes every op performed so far, newest first.
    mutating func undo() throws(HoltError) {
        while let step = steps.popLast() {
            switch step {
            case .restore(let key, let value?): try index.put(key, value)
            case .restore(let key, nil): try index.remove(key)
            case .moveKeys(let from, let to): try index.moveKeys(withPrefix: from, to: to)
            }
        }
    }

    private mutating func renamePrefix(from: [UInt8], to: [UInt8], at position: Int) throws(HoltError) {
        guard !from.isEmpty, !to.isEmpty else {
            throw .invalidKey(reason: "a prefix rename needs non-empty keys")
        }
        let fromChildren = from + [UInt8(ascii: "/")], toChildren = to + [UInt8(ascii: "/")]
        guard !to.starts(with: fromChildren) else {
            throw .invalidKey(reason: "cannot move a prefix below itself")
        }
        let value = try index.get(from)
        let hasChildren = try index.hasKeys(withPrefix: fromChildren)
        guard value != nil || hasChildren else {
            throw .conditionFailed(index: position, key: from, reason: "nothing to move")
        }
        if from == to { return }
        guard try index.get(to) == nil, !(try index.hasKeys(withPrefix: toChildren)) else {
            throw .conditionFailed(index: position, key: to, reason: "destination is not empty")
        }
        if let value {
            try index.put(to, value)
            steps.append(.restore(key: to, value: nil))
            count(put: to, value, replacing: nil)
            try index.remove(from)
            steps.append(.restore(key: from, value: value))
            count(removed: from, value)
        }
        if hasChildren {
            try index.moveKeys(withPrefix: fromChildren, to: toChildren)
            steps.append(.moveKeys(from: toChildren, to: fromChildren))
            byteDelta += to.count - from.count
        }
    }

    /// Whether a key below `key/` is longer than `length` bytes: a walk of those keys, a page at
    /// a time, stopping at the first longer one.
    private func hasDescendant(of key: [UInt8], longerThan length: Int) throws(HoltError) -> Bool {
        let prefix = key + [UInt8(ascii: "/")]
        var after: [UInt8]? = nil
        while true {
            let page = try index.scan(RangeQuery(prefix: prefix, startAfter: after, limit: 256))
            for item in page where item.position.count > length { return true }
            guard page.count == 256, let last = page.last else { return false }
            after = last.position
        }
    }

    private func check(_ key: [UInt8], _ expectation: TxnOp.Expectation, at position: Int) throws(HoltError) {
        let holds: Bool
        switch expectation {
        case .exists, .absent, .value: holds = expectation.isMet(byValue: try index.get(key))!
        case .noDescendants: holds = !(try index.hasKeys(withPrefix: key + [UInt8(ascii: "/")]))
        case .noDescendantLongerThan(let length): holds = !(try hasDescendant(of: key, longerThan: length))
        }
        guard holds else { throw expectation.unmet(at: position, key: key) }
    }
}
