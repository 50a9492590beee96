/// One committed batch as the change feed delivers it: its LSN and its changes as applied.
///
/// The changes are those the batch logged, in order: every `put`, `delete`, `rename` and
/// `renamePrefix` with the column family it applies to, and the creation or drop of a family,
/// without the `expect` conditions (they held, and are not logged). Applying them in LSN order to
/// a copy of the database as of the previous LSN gives the database as of this one, which is
/// what a follower does. `ops` is the default family's share (all of it in a database without
/// families).
public struct ChangeBatch: Sendable, Equatable {
    /// One change of a batch.
    public enum Change: Sendable, Equatable {
        /// `op` applied to the family numbered `family` (0: the default family; others are
        /// named by their `createFamily`, in this batch or an earlier one).
        case op(family: UInt32, TxnOp)
        /// The family numbered `family` was created with `name`.
        case createFamily(family: UInt32, name: String)
        /// The family numbered `family` was dropped with all its keys.
        case dropFamily(family: UInt32)
    }

    /// The batch's position in the log.
    public var lsn: LSN
    /// The batch's changes, in the order they were applied.
    public var changes: [Change]

    /// The default family's ops, in order.
    public var ops: [TxnOp] {
        changes.compactMap { change in
            if case .op(0, let op) = change { return op }
            return nil
        }
    }

    /// A batch at `lsn` of `ops` on the default family.
    public init(lsn: LSN, ops: [TxnOp]) {
        self.init(lsn: lsn, changes: ops.map { .op(family: 0, $0) })
    }

    /// A batch at `lsn` holding `changes`.
    public init(lsn: LSN, changes: [Change]) {
        self.lsn = lsn
        self.changes = changes
    }

    /// The batch a logged payload holds.
    init(lsn: LSN, payload: [UInt8]) throws(HoltError) {
        let changes = try BatchCodec.decodeItems(payload).map { item -> Change in
            switch item {
            case .op(let family, let op): .op(family: family.rawValue, op)
            case .createFamily(let family, let name): .createFamily(family: family.rawValue, name: String(decoding: name, as: UTF8.self))
            case .dropFamily(let family): .dropFamily(family: family.rawValue)
            }
        }
        self.init(lsn: lsn, changes: changes)
    }
}
