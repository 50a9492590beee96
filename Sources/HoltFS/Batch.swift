import HoltEngine

/// The ops of one filesystem change, and what a failed condition in each of them means.
///
/// A *guard* is an expectation on a value the operation read (compare-and-swap): when it fails,
/// something changed underneath and the whole operation is read and tried again. A *requirement*
/// is an expectation that maps to an errno (`.absent` failing means EEXIST).
struct Batch {
    /// The ops, in order.
    private(set) var ops: [TxnOp] = []
    /// For each op that can fail its condition, by op index: nil = retry, an error = answer it.
    /// A short list searched only when a condition failed (cheaper than a dictionary per batch).
    private var meanings: [(index: Int, meaning: FSError?)] = []
    /// Whether the batch moves something into the garbage keyspace (`/g/`), so a sweep is due
    /// once it commits.
    private(set) var producesGarbage = false

    /// Requires `expectation` on `key`; when it does not hold the operation fails with `error`.
    mutating func require(_ key: [UInt8], _ expectation: TxnOp.Expectation, else error: FSError) {
        meanings.append((ops.count, error))
        ops.append(.expect(key: key, expectation))
    }

    /// Guards that `key` still holds `value` (nil: still absent), as read earlier.
    mutating func guardValue(_ key: [UInt8], _ value: [UInt8]?) {
        meanings.append((ops.count, nil))
        ops.append(.expect(key: key, value.map { .value($0) } ?? .absent))
    }

    /// Guards that nothing lies below `key/`, as read earlier.
    mutating func guardNoDescendants(_ key: [UInt8]) {
        meanings.append((ops.count, nil))
        ops.append(.expect(key: key, .noDescendants))
    }

    /// Guards that no key below `key/` is longer than `length` bytes, as measured earlier (the
    /// engine walks those keys to check it).
    mutating func guardKeyLengths(below key: [UInt8], atMost length: Int) {
        meanings.append((ops.count, nil))
        ops.append(.expect(key: key, .noDescendantLongerThan(length)))
    }

    /// Sets `key` to `value`.
    mutating func put(_ key: [UInt8], _ value: [UInt8]) { ops.append(.put(key: key, value: value)) }

    /// Removes `key` (nothing when absent).
    mutating func delete(_ key: [UInt8]) { ops.append(.delete(key: key)) }

    /// Moves one key; when `from` is absent the operation is retried.
    mutating func rename(from: [UInt8], to: [UInt8]) {
        meanings.append((ops.count, nil))
        ops.append(.rename(from: from, to: to))
    }

    /// Moves a subtree; when the destination is not empty the operation fails with `error`.
    mutating func renamePrefix(from: [UInt8], to: [UInt8], else error: FSError) {
        if to.starts(with: ReservedKeys.garbageRoot) { producesGarbage = true }
        meanings.append((ops.count, error))
        ops.append(.renamePrefix(from: from, to: to))
    }

    /// What a failed condition at op `index` means: `.some(nil)` retry, `.some(e)` fail, nil unknown.
    func meaning(at index: Int) -> FSError?? {
        for entry in meanings where entry.index == index { return .some(entry.meaning) }
        return nil
    }

    /// The value of the last put of `key` in the batch, or nil when it puts none: what a later op
    /// of the same batch finds there (a plain value given a record in the batch has its chunks
    /// only here, not yet in the tree). Callers ask for keys the batch does not delete.
    func lastPut(of key: [UInt8]) -> [UInt8]? {
        for op in ops.reversed() {
            if case .put(let putKey, let value) = op, putKey == key { return value }
        }
        return nil
    }

    /// Whether the batch holds no op (nothing to apply).
    var isEmpty: Bool { ops.isEmpty }
}
