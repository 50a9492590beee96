/// A `BlobSource` over blobs in memory: for tests, and for an index that needs no file.
///
/// Freed ids are handed out again at once. Reads may run on several threads at once (they
/// only read the table); writes, allocations and frees must not run beside them.
final class MemoryBlobSource: BlobSource, @unchecked Sendable {
    // @unchecked Sendable: mutated only by the single writer the BlobSource contract allows,
    // never beside a read.

    private var frames: [BlobID: UnsafeMutableRawPointer] = [:]
    private var freeIDs: [BlobID] = []
    private var nextID: UInt64 = 1

    /// How many `write` calls were made (a blob dirtied once per call).
    private(set) var writes = 0
    /// How many `read` calls were made (a lookup makes one per blob on its path). Counted only
    /// while `countReads` is set, as reads may run on several threads.
    private(set) var reads = 0
    /// Whether `read` counts into `reads` (single-threaded tests only).
    var countReads = false
    /// How many blobs were allocated / freed.
    private(set) var allocations = 0
    private(set) var frees = 0

    init() {}

    deinit {
        for frame in frames.values { frame.deallocate() }
    }

    /// The blobs currently allocated.
    var liveBlobs: Set<BlobID> { Set(frames.keys) }

    private func frame(_ id: BlobID) throws(HoltError) -> UnsafeMutableRawPointer {
        guard let frame = frames[id] else { throw .corrupted(what: "\(id)", reason: "no such blob") }
        return frame
    }

    func read<R>(_ id: BlobID, _ body: (UnsafeRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        if countReads { reads += 1 }
        return try body(UnsafeRawPointer(try frame(id)))
    }

    func write<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        writes += 1
        return try body(try frame(id))
    }

    func allocate() throws(HoltError) -> BlobID {
        let id: BlobID
        if let reused = freeIDs.popLast() {
            id = reused
        } else {
            id = BlobID(rawValue: nextID)
            nextID += 1
        }
        let frame = UnsafeMutableRawPointer.allocate(byteCount: BlobGeometry.blobSize, alignment: 4096)
        frame.initializeMemory(as: UInt8.self, repeating: 0, count: BlobGeometry.blobSize)
        frames[id] = frame
        allocations += 1
        return id
    }

    func contains(_ id: BlobID) -> Bool { frames[id] != nil }

    func holdShared(_ id: BlobID) throws(HoltError) -> HeldBlob {
        guard let frame = frames[id] else { throw .corrupted(what: "\(id)", reason: "no such blob") }
        return HeldBlob(id: id, bytes: UnsafeRawPointer(frame), shard: 0, frame: 0, latch: nil)
    }

    /// Memory blobs are read and written by one thread at a time: a plain write.
    func writeAside<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        try write(id, body)
    }

    /// Memory blobs are read and written by one thread at a time: a plain hold.
    func holdOptimistic(_ id: BlobID) throws(HoltError) -> HeldBlob? { try holdShared(id) }

    func isUnchanged(_ blob: HeldBlob) -> Bool { true }

    func release(_ blob: HeldBlob) {}

    func free(_ id: BlobID) throws(HoltError) {
        guard let frame = frames.removeValue(forKey: id) else { throw .corrupted(what: "\(id)", reason: "freed twice") }
        frame.deallocate()
        freeIDs.append(id)
        frees += 1
    }

    /// Changes one byte of a blob (corruption tests).
    func flip(_ id: BlobID, at offset: Int, xor mask: UInt8) {
        guard let frame = frames[id], offset >= 0, offset < BlobGeometry.blobSize else { return }
        let p = frame.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
        p.pointee ^= mask
    }

    /// Resets the counters.
    func resetCounters() {
        writes = 0
        allocations = 0
        frees = 0
    }
}
