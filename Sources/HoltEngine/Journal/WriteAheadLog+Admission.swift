#if canImport(Glibc)
import Glibc
#endif

/// Admission: a record is appended only into room its segment already has allocated on disk.
///
/// A full disk must cost the caller one `ENOSPC`, not the log: a `pwrite` that fails half-way
/// through a group of records, or a segment that cannot be created after the previous one was
/// closed, would leave acknowledged-looking records nowhere. So the room is taken before any
/// record is buffered: each segment file is preallocated (`posix_fallocate`, i.e. `fallocate`
/// mode 0) in chunks of `allocationChunk`, and `append` admits a record only while it fits in
/// `State.room`. When it does not, `makeRoom` grows the current segment, or (when the record
/// would take it past `segmentLimit`) writes and syncs the current segment and creates the next
/// one, preallocated. When the disk cannot give the room, the append throws
/// `.io(errno: ENOSPC, ...)` with nothing appended and nothing failed: the tree undoes the batch.
/// The last `spaceReserve` bytes of room are kept for batches that free space (by their net
/// effect, `BatchApplier.freesSpace`), so a full disk can still be emptied through the tree.
/// Replay reads a zero record header followed by zeros as the segment's end (the preallocated
/// room no record reached).
extension WriteAheadLog {
    /// How much a segment grows at a time: `allocationChunk`, less for tiny test segments.
    var chunkBytes: Int { min(Self.allocationChunk, max(segmentLimit, 4096)) }

    /// The room kept for space-freeing batches (less for tiny test segments).
    var reserveBytes: Int { min(Self.spaceReserve, segmentLimit) }

    /// The size a new segment is created with: a header and one chunk.
    var initialSegmentBytes: Int { LogSegment.headerSize + chunkBytes }

    /// `value` rounded up to a multiple of `unit`.
    private func roundUp(_ value: Int, _ unit: Int) -> Int { (value + unit - 1) / unit * unit }

    /// Makes `State.room` hold `size` bytes more than the records buffered need (plus the reserve
    /// unless `freesSpace`): grows the current segment's allocation, or starts the next segment.
    /// Called holding `monitor`, returns (or throws) holding it.
    /// - Throws: `.io(errno: ENOSPC or EDQUOT, ...)` when the disk cannot give the room (the log
    ///   is not failed); `.closed`, `.previousIOFailure`; `.io` for another failure (the log is
    ///   then failed).
    func makeRoom(for size: Int, freesSpace: Bool) throws(HoltError) {
        let keep = freesSpace ? 0 : reserveBytes
        while true {
            guard !state.closed else { throw .closed }
            guard !state.failed else { throw .previousIOFailure }
            if state.room - keep >= size { return }
            if state.ioBusy { monitor.wait(); continue }
            // The token is free and we hold the monitor: `io` is stable, room is exact (invariant 6).
            let end = io.size + state.pending.count
            if end + size <= segmentLimit || end == LogSegment.headerSize {
                try grow(to: roundUp(end + size + reserveBytes, chunkBytes), atLeast: end + size + keep)
                continue
            }
            // The record goes into the next segment. Invariant 3: the current one is made durable
            // in full before the next one exists.
            let bytes = max(initialSegmentBytes, roundUp(LogSegment.headerSize + size + reserveBytes, chunkBytes))
            var started = false
            try writeBuffered(sync: true) { () throws(HoltError) in
                started = try startSegment(firstLSN: io.lastLSN + 1, previousLastLSN: io.lastLSN, bytes: bytes)
            }
            state.room = io.allocated - io.size - state.pending.count
            guard started else {
                state.statistics.spaceRefusals += 1
                throw .io(errno: ENOSPC, operation: "create log segment \(io.current.number + 1)")
            }
        }
    }

    /// Grows the current segment's allocation to `target` bytes, or when the disk cannot give
    /// that much, to `minimum` (rounded up to 4 KiB). Called holding `monitor` with the I/O token
    /// free; takes the token for the `fallocate`. Returns (or throws) holding `monitor`.
    /// - Throws: `.io(ENOSPC/EDQUOT)` when not even `minimum` fits (the log goes on); another
    ///   `.io` fails the log.
    private func grow(to target: Int, atLeast minimum: Int) throws(HoltError) {
        state.ioBusy = true
        monitor.unlock()
        var failure: HoltError?
        let path = path(ofSegment: io.current.number)
        do throws(HoltError) {
            try Failpoints.hit("wal.beforeAllocate")
            do throws(HoltError) {
                try Syscall.allocate(io.file, offset: io.allocated, length: target - io.allocated, path)
                io.allocated = target
            } catch {
                // Not a whole chunk: perhaps just this record (and the reserve) still fits.
                let least = roundUp(minimum, 4096)
                guard Syscall.isOutOfSpace(error), least < target else { throw error }
                try Syscall.allocate(io.file, offset: io.allocated, length: least - io.allocated, path)
                io.allocated = least
            }
        } catch {
            failure = error
        }
        monitor.lock()
        state.ioBusy = false
        monitor.broadcast()
        state.room = io.allocated - io.size - state.pending.count
        if let failure {
            if Syscall.isOutOfSpace(failure) {
                state.statistics.spaceRefusals += 1
            } else {
                state.failed = true
            }
            throw failure
        }
    }
}
