extension BlobMap {
    /// What is wrong with the map, checked against the invariants in `BlobMap`'s doc comment
    /// plus its bookkeeping: empty when all is well. A whole walk: for tests and `checkInvariants`.
    func invariantViolations() -> [String] {
        var problems: [String] = []
        let used = entries.values.map(\.slot)
        let usedSet = Set(used)
        let freeSet = Set(free)
        if usedSet.count != used.count { problems.append("two blobs share a slot") }
        if freeSet.count != free.count { problems.append("a slot is free twice") }
        if !freeSet.isDisjoint(with: usedSet) { problems.append("a slot in use is free") }
        if !freeSet.isDisjoint(with: durable) { problems.append("a durable slot is free (invariant 1)") }
        if !freeSet.isDisjoint(with: checkpointing) { problems.append("a slot a checkpoint is writing is free (invariant 5)") }
        if let high = (usedSet.union(freeSet).union(durable)).map(\.rawValue).max(), high >= slotCount {
            problems.append("slot \(high) past slot count \(slotCount)")
        }
        let ids = Set(entries.keys)
        if ids.contains(where: { $0.rawValue == 0 || $0.rawValue >= nextID }) { problems.append("an id outside 1..<nextID") }
        if !ids.isDisjoint(with: freeIDs) { problems.append("a live id is free") }
        if !Set(freeIDs).isDisjoint(with: pendingIDs) { problems.append("a pending id is free (invariant 4)") }
        return problems
    }

    /// Traps when `invariantViolations()` finds anything; debug builds only (`assert` does not
    /// evaluate its condition in release builds).
    func checkInvariants() {
        assert(invariantViolations().isEmpty, "blob map: \(invariantViolations().joined(separator: "; "))")
    }
}
