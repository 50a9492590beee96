/// The keys a batch or a read depends on, as the write buffer sees them: exact keys, and key
/// prefixes (every key that begins with one). A batch or a read that does not go through the
/// buffer must find those keys' buffered ops in the index first; the buffer's other entries
/// stay where they are (`Tree.flushWriteBuffer(under:)`).
///
/// A prefix covers more than "below `key/`" (also `key` itself and keys such as `keyX`): a
/// superset, which only flushes a few more entries.
struct BufferFootprint {
    /// Keys named exactly (puts, deletes, renames, conditions on a key's value).
    private(set) var keys: [[UInt8]] = []
    /// Key prefixes (prefix moves, conditions on what lies below a key, scans).
    private(set) var prefixes: [[UInt8]] = []

    /// The footprint of a scan of `prefix` (`range`, `forEach`, `hasKeys`).
    init(prefix: [UInt8]) {
        prefixes = [prefix]
    }

    /// The footprint of a batch of `ops`: every key an op reads or changes.
    init(_ ops: some Sequence<TxnOp>) {
        for op in ops { add(op) }
    }

    /// Adds what `op` reads or changes.
    mutating func add(_ op: TxnOp) {
        switch op {
        case .put(let key, _), .delete(let key):
            keys.append(key)
        case .rename(let from, let to):
            keys.append(from)
            keys.append(to)
        case .renamePrefix(let from, let to):
            prefixes.append(from)
            prefixes.append(to)
        case .expect(let key, let expectation):
            switch expectation {
            case .exists, .absent, .value: keys.append(key)
            case .noDescendants, .noDescendantLongerThan: prefixes.append(key)
            }
        }
    }

    /// Whether `key` is one of `keys` (in `exact`, the same keys as a set) or begins with one of
    /// `prefixes`.
    func covers(_ key: [UInt8], exact: Set<[UInt8]>) -> Bool {
        if exact.contains(key) { return true }
        for prefix in prefixes where KeyOrder.begins(key, with: prefix) { return true }
        return false
    }
}
