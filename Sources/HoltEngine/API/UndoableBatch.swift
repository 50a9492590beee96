/// What `Tree.install` needs of a batch's applier: whether the batch changed anything, whether
/// it frees space (the log's admission lets such batches through a full disk), and how to undo
/// it. `BatchApplier` (one index) and `FamilyBatchApplier` (several families) are the two.
protocol UndoableBatch {
    /// Whether the ops changed the index (a batch that did not logs nothing).
    var changedAnything: Bool { get }
    /// Whether the batch frees more than it takes (see `WriteAheadLog` admission).
    var freesSpace: Bool { get }
    /// Undoes every change made so far, newest first.
    mutating func undo() throws(HoltError)
}

extension BatchApplier: UndoableBatch {}
extension FamilyBatchApplier: UndoableBatch {}
