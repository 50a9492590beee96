/// Writers in parallel: batches of only puts, from several threads, applied at once.
///
/// Such a batch cannot fail a condition, so it is logged first and then applied, with nothing
/// to undo: it holds its keys (`KeyLocks`, so batches sharing a key apply in log order), takes
/// a `BatchVisibility` slot (readers see it whole or not at all, as any batch), and puts each
/// key with `ARTIndex.putInParallel`, which waits only for an insert into the same blob or for
/// a split. It needs no writer lock: `WriterGate` keeps it apart from everything that does
/// (every other batch, a checkpoint's capture, a flush of the write buffer) and from readers
/// under the tree's shared lock; when one of those holds or waits for long, the batch is
/// applied serially instead. docs/DESIGN.md, "Writers in parallel".
extension Tree {
    /// Applies `ops` (checked already) as a parallel batch, when it is one: only puts, parallel
    /// writers on, the tree fits its cache (no write buffer: a buffered key answers gets before
    /// the index does), no snapshot open (they copy blobs before a single writer changes them),
    /// no other holder of the gate. Nil: apply it serially.
    /// - Throws: `.closed`, `.previousIOFailure`, `.io` (from the log, nothing applied; or from
    ///   the index, then the tree refuses later writes and a reopen replays the logged batch).
    func commitInParallel(_ ops: [TxnOp]) throws(HoltError) -> Commit? {
        guard options.parallelWriters, Self.onlyPuts(ops) else { return nil }
        if case .delay(let nanoseconds) = throttle.decide(dirtyBytes: store.dirtyBytes, logBytes: log.bytesSinceTrim) {
            throttle.sleep(nanoseconds)
        }
        guard gate.enterParallel() else { return nil }
        defer { gate.leaveParallel() }
        guard isOpen.load(ordering: .acquiring) else { throw .closed }
        guard !failed else { throw .previousIOFailure }
        // The tree fits its cache (and the buffer is not forced on), the buffer empty (nothing
        // enters it while this batch is in the gate), no snapshot open, the writers not at the
        // hard bound. With the buffer off, a full cache still sends batches the serial way:
        // `MappedReadTests.lookupsBesideWritesCheckpointsAndCuts` (3 MiB cache, no buffer) failed
        // its final `verify` once under ThreadSanitizer with parallel batches there, not found yet.
        let buffering = options.writeBufferLimit > 0 && options.writeBufferWhileCacheFits
        guard !buffering, !store.hasFilledItsCache, writeBuffer.isEmpty, !store.shadows.isTracking, !checkpointOverdue()
        else { return nil }
        let hashes = ops.map { KeyLocks.hash($0.putOrDeleteKey) }
        keyLocks.lock(hashes)
        defer { keyLocks.unlock(hashes) }
        let lsn = try log.append(payloadSize: BatchCodec.encodedSize(ops), freesSpace: false, writeWhenLarge: false) {
            BatchCodec.encode(ops, into: &$0)
        }
        let installing = InstallingBatch(exclusive: false, ops: ops.count)
        let slot = visibility.begin(installing)
        do throws(HoltError) {
            try ops.withUnsafeBufferPointer { (buffer) throws(HoltError) in
                var held: [HeldBlob] = []
                held.reserveCapacity(8)
                for position in buffer.indices {
                    guard case .put(let key, let value) = buffer[position] else { preconditionFailure("not a put") }
                    installing.willChange(key)
                    let old = try index.putInParallel(key, value, held: &held)
                    installing.didChange(key, old: old)
                }
            }
        } catch {
            // Logged and half applied: the tree refuses writes from now on (as after any failed
            // index change), and a reopen replays the batch whole.
            installing.abandon()
            visibility.end(slot)
            failed = true
            throw error
        }
        visibility.end(slot)
        var published = parallelAppliedLSN.load(ordering: .relaxed)
        while published < lsn {
            let (exchanged, original) = parallelAppliedLSN.compareExchange(
                expected: published, desired: lsn, ordering: .acquiringAndReleasing)
            if exchanged { break }
            published = original
        }
        // The checkpointer's round checks again whether one is wanted and due.
        if checkpointWanted() { checkpointer.request() }
        try log.writeIfLarge()
        return Commit(lsn: lsn)
    }

    /// Whether `ops` holds puts and nothing else (and at least one).
    static func onlyPuts(_ ops: [TxnOp]) -> Bool {
        guard !ops.isEmpty else { return false }
        return ops.withUnsafeBufferPointer { buffer in
            for position in buffer.indices {
                guard case .put = buffer[position] else { return false }
            }
            return true
        }
    }

    /// Runs `body` holding `writer`, once no parallel batch is in flight (and none starts
    /// until it is done).
    @inline(__always)
    func withWriterLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try gate.asOther { () throws(E) -> R in try writer.withLock(body) }
    }

    /// Runs `body` holding `lock` shared, once no parallel batch is in flight (and none starts
    /// until it is done): what readers that read more than one key at once hold.
    @inline(__always)
    func withSharedLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try gate.asOther { () throws(E) -> R in try lock.withReadLock(body) }
    }
}
