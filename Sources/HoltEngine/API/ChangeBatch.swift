/// One committed batch as the change feed delivers it: its LSN and its ops as applied.
///
/// The ops are those the batch logged, in order: every `put`, `delete`, `rename` and
/// `renamePrefix`, without the `expect` conditions (they held, and are not logged). Applying
/// them in LSN order to a copy of the tree as of the previous LSN gives the tree as of this one,
/// which is what a follower does.
public struct ChangeBatch: Sendable, Equatable {
    /// The batch's position in the log.
    public var lsn: LSN
    /// The batch's ops, in the order they were applied.
    public var ops: [TxnOp]

    /// A batch at `lsn` holding `ops`.
    public init(lsn: LSN, ops: [TxnOp]) {
        self.lsn = lsn
        self.ops = ops
    }
}
