/// One operation of an atomic batch (`Tree.apply(_:)`). A batch is one log record.
///
/// Ops run in order; each sees the effects of the ones before it. If any op's condition does not
/// hold, the whole batch is undone and `HoltError.conditionFailed` names the op.
public enum TxnOp: Sendable, Equatable, Hashable {
    /// Sets `key` to `value`, replacing any value it had.
    case put(key: [UInt8], value: [UInt8])
    /// Removes `key`. Removing an absent key is not an error (use `.expect(key, .exists)` first to require it).
    case delete(key: [UInt8])
    /// Moves the value of key `from` to key `to`, replacing any value `to` had.
    /// Fails the batch when `from` is absent.
    case rename(from: [UInt8], to: [UInt8])
    /// Moves key `from` and every key below `from/` to `to` and below `to/`, as one relink whose
    /// cost does not depend on how many keys move. Fails the batch when nothing is at `from`, when
    /// anything is already at `to` or below `to/`, or when `to` lies below `from/`.
    case renamePrefix(from: [UInt8], to: [UInt8])
    /// Checks a condition without changing anything; the batch fails when it does not hold.
    case expect(key: [UInt8], Expectation)

    /// A condition on a key, checked inside a batch.
    public enum Expectation: Sendable, Equatable, Hashable {
        /// The key has a value.
        case exists
        /// The key has no value.
        case absent
        /// The key has exactly this value.
        case value([UInt8])
        /// No key lies below `key/` (an empty directory, in HoltFS's words).
        case noDescendants
        /// No key below `key/` is longer than this many bytes. Checking it walks every key below
        /// `key/` (it stops at the first longer one), so its cost grows with their number: it is
        /// meant for the few batches that must know, such as a prefix rename that makes keys longer.
        case noDescendantLongerThan(Int)
    }
}

extension TxnOp.Expectation {
    /// Whether a key holding `value` (nil: none) meets this expectation; nil for those about the
    /// keys below it (`.noDescendants`, `.noDescendantLongerThan`), which its value cannot answer.
    func isMet(byValue value: [UInt8]?) -> Bool? {
        switch self {
        case .exists: value != nil
        case .absent: value == nil
        case .value(let expected): value == expected
        case .noDescendants, .noDescendantLongerThan: nil
        }
    }

    /// The error of a batch whose op at `position` expected this of `key` in vain.
    func unmet(at position: Int, key: [UInt8]) -> HoltError {
        .conditionFailed(index: position, key: key, reason: "expected \(self)")
    }
}

extension TxnOp {
    /// The key of a put or a delete (the ops the write buffer and key-ordered batches hold).
    var putOrDeleteKey: [UInt8] {
        switch self {
        case .put(let key, _), .delete(let key): key
        default: preconditionFailure("not a put or a delete: \(self)")
        }
    }
}
