/// Applies the ops of one batch that spans column families, one `BatchApplier` per family
/// touched, and undoes them all when a condition fails or the log refuses the record.
///
/// Ops of different families commute (each family is its own keyspace), so undoing each
/// family's applier on its own, newest family first, restores the state before the batch.
struct FamilyBatchApplier {
    /// The default family's tree.
    let defaultIndex: ARTIndex<BufferManager>
    /// Where the default family's before-images go for lock-free readers (`BatchApplier.visibility`);
    /// other families are read under the tree's shared lock and record none.
    var defaultVisibility: InstallingBatch?
    /// One applier per family touched.
    private var appliers: [FamilyID: BatchApplier<ARTIndex<BufferManager>>] = [:]
    /// The families in the order the batch first touched them.
    private var order: [FamilyID] = []

    init(defaultIndex: ARTIndex<BufferManager>, defaultVisibility: InstallingBatch? = nil) {
        self.defaultIndex = defaultIndex
        self.defaultVisibility = defaultVisibility
    }

    /// Applies `op`, the `position`th op of the batch, to `family`, whose tree is `index`.
    mutating func perform(_ op: TxnOp, in family: FamilyID, index: ARTIndex<BufferManager>, at position: Int) throws(HoltError) {
        if appliers[family] == nil {
            var applier = BatchApplier(index: index)
            if family == .default { applier.visibility = defaultVisibility }
            appliers[family] = applier
            order.append(family)
        }
        try appliers[family]!.perform(op, at: position)
    }

    /// Whether any op changed a tree.
    var changedAnything: Bool { appliers.values.contains { $0.changedAnything } }

    /// Whether the batch frees space, by its net effect over all families (`BatchApplier.freesSpace`).
    var freesSpace: Bool {
        let keys = appliers.values.reduce(0) { $0 + $1.keyDelta }
        let bytes = appliers.values.reduce(0) { $0 + $1.byteDelta }
        return keys < 0 && bytes <= 0
    }

    /// Undoes every op performed so far.
    mutating func undo() throws(HoltError) {
        for family in order.reversed() { try appliers[family]!.undo() }
    }
}
