/// Inserts by several writers at once: the puts of `Tree`'s parallel batches.
///
/// An insert changes one blob unless that blob is full. So a parallel insert finds its node
/// without latches (`findInsertPoint`, optimistically), locks that blob for writers
/// (`BlobWriteLocks`), checks that the blob did not change since it was read (its latch's
/// version), and changes it under the exclusive latch as any insert does: two writers whose
/// keys land in different blobs never wait for each other, and in one blob they wait for one
/// insert. A full blob is made room in (compacted or split, `makeRoom`) under the structure
/// lock, with the blob and its parent locked, after finding them again; then the insert starts
/// over. Readers see nothing new: every blob change is the same as a single writer's.
///
/// Everything else that changes the index (removals, renames, prefix moves, merges) runs with
/// no parallel writer in flight (`WriterGate`).
extension ARTIndex {
    /// `put` beside other parallel writers (see the extension). The key and value must have been
    /// checked (`Tree.validate`). `held` is scratch room for the blobs a walk holds, kept by
    /// the caller from one put to the next (empty between calls).
    /// - Returns: The value replaced, nil when the key is new.
    func putInParallel(_ key: [UInt8], _ value: [UInt8], held: inout [HeldBlob]) throws(HoltError) -> [UInt8]? {
        try key.withUnsafeBufferPointer { (k) throws(HoltError) -> [UInt8]? in
            try value.withUnsafeBufferPointer { (v) throws(HoltError) -> [UInt8]? in
                let payload = Payload.value(UnsafeRawBufferPointer(v))
                for _ in 0..<1_000 {
                    let (point, stripe) = try lockInsertPoint(k, payload, held: &held)
                    var copied = ARTCounters()
                    let outcome: InsertOutcome
                    do throws(HoltError) {
                        outcome = try source.write(point.blob) { (raw) throws(HoltError) -> InsertOutcome in
                            try Self.insert(MutablePageView(base: raw, id: point.blob), at: point.slot, k, from: point.offset,
                                            payload, &copied)
                        }
                    } catch {
                        writeLocks.unlock(stripe)
                        throw error
                    }
                    writeLocks.unlock(stripe)
                    switch outcome {
                    case .done(let old, _):
                        if copied.bytesCopied != 0 {
                            writeLocks.structure.withLock { counters.bytesCopied += copied.bytesCopied }
                        }
                        return old
                    case .needRoom(let need):
                        try makeRoomInParallel(k, payload, need: need)
                    }
                }
                throw .corrupted(what: "\(root)", reason: "no room for an insert after repeated splits")
            }
        }
    }

    /// Where an insert of `k` goes.
    struct InsertPoint {
        /// The blob it changes, the node there, and the key offset at that node.
        let blob: BlobID
        let slot: UInt16
        let offset: Int
    }

    /// How many optimistic walks `lockInsertPoint` tries before it walks under shared latches.
    static var optimisticInsertWalks: Int { 4 }

    /// Finds where an insert of `k` goes and locks that blob for writers: the point is then
    /// exact until `unlock`. Returns the point and what `BlobWriteLocks.unlock` takes.
    private func lockInsertPoint(_ k: UnsafeBufferPointer<UInt8>, _ payload: Payload, held: inout [HeldBlob]) throws(HoltError)
        -> (InsertPoint, Int)
    {
        var attempts = 0
        while true {
            attempts += 1
            if attempts <= Self.optimisticInsertWalks {
                // Without latches; the blob's version, checked once it is locked, says nobody
                // changed it since. An error beside other writers may come from a state between
                // two of a split's blob changes: walk again (under latches, last, it is real).
                var kept: [HeldBlob]? = held
                held = []
                defer {
                    for blob in kept ?? [] { source.release(blob) }
                    held = kept ?? []
                    held.removeAll(keepingCapacity: true)
                }
                let found: (BlobID, UInt16, Int, (blob: BlobID, slot: UInt16)?)?
                do throws(HoltError) {
                    found = try findInsertPoint(k, payload, optimistic: true, keeping: &kept)
                } catch {
                    continue
                }
                guard let found, let last = kept?.last, last.id == found.0 else { continue }
                let stripe = writeLocks.lock(found.0)
                if source.isUnchanged(last) { return (InsertPoint(blob: found.0, slot: found.1, offset: found.2), stripe) }
                writeLocks.unlock(stripe)
            } else {
                // Under shared latches: the point is exact when a second walk, holding the
                // blob's lock, ends in the same blob (nobody else changes it now).
                let first = try findInsertPoint(k, payload)
                let stripe = writeLocks.lock(first.0)
                let found: (BlobID, UInt16, Int, (blob: BlobID, slot: UInt16)?)
                do throws(HoltError) { found = try findInsertPoint(k, payload) } catch {
                    writeLocks.unlock(stripe)
                    throw error
                }
                if found.0 == first.0 { return (InsertPoint(blob: found.0, slot: found.1, offset: found.2), stripe) }
                writeLocks.unlock(stripe)
            }
        }
    }

    /// `makeRoom` for a parallel insert of `k` whose blob had no room for `need` bytes: under
    /// the structure lock (one such change at a time), the blob and the parent it is reached
    /// through are found again and locked, so no other insert changes either meanwhile. The
    /// caller starts its insert over.
    private func makeRoomInParallel(_ k: UnsafeBufferPointer<UInt8>, _ payload: Payload, need: Int) throws(HoltError) {
        try writeLocks.structure.withLock { () throws(HoltError) in
            // No other change of more than one blob runs now, so the blob's parent stays its
            // parent; inserts into either wait for their locks.
            let (blob, _, _, via) = try findInsertPoint(k, payload)
            let stripes = writeLocks.lock(blob, via?.blob)
            defer { writeLocks.unlock(stripes) }
            // Another writer may have made room there since (a split moved the insert's node).
            let free = try source.read(blob) { (raw) throws(HoltError) -> Int in PageView(base: raw, id: blob).freeBytes }
            if free >= need { return }
            try makeRoom(in: blob, need: need, via: via)
        }
    }
}
