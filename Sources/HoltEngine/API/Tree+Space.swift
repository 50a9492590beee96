extension Tree {
    /// How the database's space on disk is used now (see `SpaceStatistics`).
    ///
    /// Cheap: the live and dead bytes of each blob are kept in the blob map (counted when the
    /// blob was last written) and read from the cache for blobs changed since. Databases written
    /// by builds before these counts were kept report 0 for a blob until it is written again.
    /// - Throws: `.closed`, `.io` when a file cannot be examined.
    public func spaceStatistics() throws(HoltError) -> SpaceStatistics {
        try withoutWriters { () throws(HoltError) -> SpaceStatistics in
            var space = try store.spaceUsage()
            space.logBytes = log.allocatedBytes
            return space
        }
    }

    /// Gives the database's free space back to the file system now, while reads and writes go
    /// on (see docs/DESIGN.md, "Space"):
    /// 1. squeezes the dead bytes out of every blob where they are at least an eighth of its
    ///    node bytes (one blob at a time under the exclusive lock, microseconds each);
    /// 2. marks the blobs in the slots past where the live ones would end if packed, so that
    ///    the next checkpoint writes them into the lowest free slots (shadow paging: their old
    ///    slots stay valid until the new map is durable);
    /// 3. checkpoints (written blobs leave their empty middles as holes), cuts the free slots at
    ///    the end off the blob file and punches holes where the other free slots are.
    ///
    /// The background checkpointer does the same by itself (`Options.compactionDeadShare`,
    /// `Options.checkpointIntervalSeconds`). A crash at any point loses nothing: every step is
    /// an ordinary change of blobs made durable by an ordinary checkpoint, and only slots that
    /// no durable map names are punched or cut off.
    ///
    /// - Returns: What it did and the bytes before and after.
    /// - Throws: `.closed`, `.previousIOFailure`, `.io` (as `checkpoint()`).
    @discardableResult
    public func compact() throws(HoltError) -> CompactionReport {
        try compacting.withLock { () throws(HoltError) -> CompactionReport in
            let before = try spaceStatistics()
            let squeezed = try squeezeDeadBytes(share: 1.0 / 8)
            if squeezed > 0 {
                // Written now, they leave larger holes and free their old slots for the moves.
                try checkpoint()
                try store.reclaimFreeSlots()
            }
            var moved = 0
            for _ in 0..<Self.compactionMoveRounds {
                let ids = try withWriterLock { () throws(HoltError) -> [BlobID] in
                    guard !isClosed else { throw .closed }
                    guard !failed else { throw .previousIOFailure }
                    let ids = store.blobsAtTheEnd(limit: Self.compactionMovesPerRound)
                    try store.touch(ids)
                    return ids
                }
                if ids.isEmpty { break }
                try checkpoint()
                try store.reclaimFreeSlots()
                moved += ids.count
            }
            try store.reclaimFreeSlots()
            let after = try spaceStatistics()
            return CompactionReport(
                bytesBefore: before.databaseBytes, bytesAfter: after.databaseBytes,
                fileBytesBefore: before.fileBytes, fileBytesAfter: after.fileBytes,
                blobsCompacted: squeezed, blobsMoved: moved)
        }
    }

    /// Blobs moved per checkpoint by `compact()`, and how many such rounds one call runs at most
    /// (each round writes what it moved, 64 × 512 KiB at most, and frees their old slots for the
    /// next round to fill: a file with blobs strewn over it takes a few).
    static let compactionMovesPerRound = 64
    static let compactionMoveRounds = 16

    /// Squeezes the dead bytes out of each blob where they are at least `share` of its node
    /// bytes (and at least 4 KiB): one blob at a time, holding the writer lock and the tree's
    /// exclusive lock for that blob only. Returns how many blobs it squeezed.
    func squeezeDeadBytes(share: Double) throws(HoltError) -> Int {
        let candidates = try withoutWriters { () throws(HoltError) -> [BlobID] in
            store.blobUsages().filter { _, usage in
                usage.dead >= 4096 && Double(usage.dead) >= share * Double(usage.live + usage.dead)
            }.map(\.key)
        }
        var squeezed = 0
        for id in candidates {
            let done = try withWriterLock { () throws(HoltError) -> Bool in
                guard !isClosed else { throw .closed }
                guard !failed else { throw .previousIOFailure }
                return try lock.withWriteLock { () throws(HoltError) -> Bool in
                    do throws(HoltError) {
                        return try index.squeeze(id)
                    } catch {
                        failed = true
                        throw error
                    }
                }
            }
            if done { squeezed += 1 }
        }
        return squeezed
    }

    /// What the background checkpointer does on a quiet round after checkpointing: when dead
    /// bytes pass `Options.compactionDeadShare` of the node bytes, or free slots inside the file
    /// pass that share of its slots, a compaction; else only the free slots' blocks given back.
    func compactIfWorthIt() throws(HoltError) {
        let space = try spaceStatistics()
        let share = options.compactionDeadShare
        let nodeBytes = space.liveBytes + space.deadBytes
        let slots = space.blobs + space.freeSlots
        let movable = !store.blobsAtTheEnd(limit: 1).isEmpty
        if (space.deadBytes >= 1 << 20 && Double(space.deadBytes) >= share * Double(nodeBytes))
            || (movable && space.freeSlots >= 16 && Double(space.freeSlots) >= share * Double(slots)) {
            try compact()
        } else {
            try store.reclaimFreeSlots()
        }
    }
}
