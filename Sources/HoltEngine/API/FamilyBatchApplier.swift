/// Applies the ops of one batch that spans column families, one `BatchApplier` per family
/// touched, and undoes them all when a condition fails or the log refuses the record.
///
/// Ops of different families commute (each family is its own keyspace), so undoing each
/// family's applier on its own, the family touched last first, restores the state before the
/// batch. Families are addressed by *slot*: their position in the order the batch first touched
/// them (a batch touches few families; an array beats a dictionary lookup per op).
struct FamilyBatchApplier {
    /// Where the default family's before-images go for lock-free readers (`BatchApplier.visibility`);
    /// other families are read under the tree's shared lock and record none.
    private let defaultVisibility: InstallingBatch?
    /// The families touched, by slot.
    private(set) var families: [FamilyID] = []
    /// One applier per family touched, by slot.
    private var appliers: [BatchApplier<ARTIndex<BufferManager>>] = []

    init(defaultVisibility: InstallingBatch? = nil) {
        self.defaultVisibility = defaultVisibility
    }

    /// The slot of `family`, whose tree is `index`, adding it when the batch had not touched it.
    mutating func slot(of family: FamilyID, index: ARTIndex<BufferManager>) -> Int {
        if let slot = families.lastIndex(of: family) { return slot }
        var applier = BatchApplier(index: index)
        if family == .default { applier.visibility = defaultVisibility }
        families.append(family)
        appliers.append(applier)
        return appliers.count - 1
    }

    /// Applies `op`, the `position`th op of the batch, to the family in `slot`.
    mutating func perform(_ op: TxnOp, slot: Int, at position: Int) throws(HoltError) {
        try appliers[slot].perform(op, at: position)
    }

    /// Whether any op changed a tree.
    var changedAnything: Bool { appliers.contains { $0.changedAnything } }

    /// Whether the batch frees space, by its net effect over all families (`BatchApplier.freesSpace`).
    var freesSpace: Bool {
        let keys = appliers.reduce(0) { $0 + $1.keyDelta }
        let bytes = appliers.reduce(0) { $0 + $1.byteDelta }
        return keys < 0 && bytes <= 0
    }

    /// Undoes every op performed so far.
    mutating func undo() throws(HoltError) {
        for slot in appliers.indices.reversed() { try appliers[slot].undo() }
    }
}
