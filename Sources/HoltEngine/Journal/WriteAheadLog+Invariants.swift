/// The checks of `WriteAheadLog`'s invariants (numbered in its doc comment).
extension WriteAheadLog {
    /// Checks invariants 1 and 6 on `state`. Call holding `monitor`. Cheap asserts, so debug builds only.
    @inline(__always)
    func checkInvariants() {
        assert(state.durableLSN <= state.writtenLSN, "1: durable \(state.durableLSN) > written \(state.writtenLSN)")
        assert(state.writtenLSN < state.nextLSN, "1: written \(state.writtenLSN) >= next \(state.nextLSN)")
        assert((state.pendingRecords == 0) == state.pending.isEmpty, "1: \(state.pendingRecords) records in \(state.pending.count) bytes")
        // While a leader writes, its records are in neither `pending` nor `writtenLSN`.
        assert(state.ioBusy || state.writtenLSN + UInt64(state.pendingRecords) == state.nextLSN - 1,
               "1: written \(state.writtenLSN) + \(state.pendingRecords) buffered != last \(state.nextLSN - 1)")
        assert(state.room >= 0, "6: buffered records reach \(-state.room) bytes past the allocated room")
    }
}
