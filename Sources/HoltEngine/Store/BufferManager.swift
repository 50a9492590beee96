#if canImport(Glibc)
import Glibc
#endif

/// Counters of the store.
struct StoreStatistics: Sendable, Equatable {
    /// Blobs that exist (on disk or only in the cache).
    var blobsLive = 0
    /// Blob lookups served from the cache.
    var cacheHits = 0
    /// Blob lookups that read from disk (or set up a new blob).
    var cacheMisses = 0
    /// Frames given to another blob.
    var evictions = 0
    /// Bytes read from the blob file.
    var bytesRead = 0
    /// Bytes written to the blob file.
    var bytesWritten = 0
    /// The blob file's size in bytes.
    var fileBytes = 0
    /// Frames allocated (each `blobSize` bytes).
    var frames = 0
    /// Whether the blob file is open with O_DIRECT.
    var directIO = false
    /// Whether batches go through io_uring.
    var ioUring = false
}

/// The blob cache over the blob file: the `BlobSource` the tree reads and writes blobs through.
///
/// Concepts: a *frame* is 512 KiB of aligned memory holding one blob; a *pin* keeps a frame's
/// blob in place while a closure uses its bytes; a frame is *dirty* when its bytes differ from
/// the blob's slot on disk. A *checkpoint* writes every dirty blob to a slot the previous
/// checkpoint does not use (shadow paging), fsyncs, writes the blob map `MAP.<generation>`, then
/// the manifest: a crash at any moment leaves the previous checkpoint whole.
///
/// The cache holds at most `cacheBytes / blobSize` frames (at least 4). On a miss the CLOCK hand
/// picks a clean unpinned frame; when every unpinned frame is dirty, one is written to a fresh
/// slot first (allowed by shadow paging: the durable checkpoint is untouched), so a database
/// much larger than the cache works between checkpoints too. Only when every frame is pinned or
/// busy does the cache grow past its budget (bounded by the number of concurrent pins).
///
/// Invariants:
/// 1. `table[b] == f` ⇔ `frames[f].blob == b`.
/// 2. A frame is dirty only while its blob's bytes are not yet in `map`'s slot for it.
/// 3. The durable checkpoint's slots are never written (see `BlobMap`).
/// 4. After `failed` is set no byte is written to any file again.
///
/// `@unchecked Sendable`: every mutable field lives in `state`, read and written only under
/// `monitor`; frame memory is immutable in address, its bytes are guarded by the pin protocol
/// (`Frame`); `file` and `manifest` are used by the checkpointing thread (`manifest` only by it)
/// and `BlobFile` itself is thread-safe. What it relies on from the caller (the `BlobSource`
/// contract): `write`, `allocate`, `free` and `checkpoint` come from one thread at a time and
/// never beside a `read`.
final class BufferManager: BlobSource, @unchecked Sendable {
    /// The database directory.
    let directory: String
    /// The frame budget (`cacheBytes / blobSize`, at least 4).
    let capacity: Int
    private let file: BlobFile
    private let manifest: Manifest
    private let monitor = Monitor()
    /// Guarded by `monitor`.
    private var state: State

    /// Everything mutable, guarded by `monitor`.
    private struct State {
        var frames: [Frame] = []
        var table: [BlobID: FrameIndex] = [:]
        var hand = 0
        var map: BlobMap
        var anchor: Anchor
        var dirtyCount = 0
        /// Blob writes under way outside the lock (a checkpoint waits for them).
        var writesInFlight = 0
        var failed = false
        var closed = false
        var statistics = StoreStatistics()
    }

    private init(directory: String, capacity: Int, file: BlobFile, manifest: Manifest, map: BlobMap) {
        self.directory = directory
        self.capacity = capacity
        self.file = file
        self.manifest = manifest
        self.state = State(map: map, anchor: manifest.current)
    }

    // MARK: Opening and closing

    /// Opens the store in `directory`: reads the manifest and the checkpoint's blob map; with
    /// `create`, makes a new empty database when there is no manifest.
    ///
    /// - Parameters:
    ///   - cacheBytes: The frame budget in bytes.
    ///   - useIOUring: `false` forces pread/pwrite (for tests and measurements).
    /// - Throws: `.notADatabase` (no manifest and not `create`), `.corrupted` (both manifest
    ///   slots bad, the map bad or missing), `.unsupportedFormat`, `.io`.
    static func open(
        directory: String, cacheBytes: Int, create: Bool, useIOUring: Bool = true
    ) throws(HoltError) -> BufferManager {
        let capacity = max(4, cacheBytes / BlobGeometry.blobSize)
        let blobsPath = directory + "/blobs"
        let manifest: Manifest
        if Syscall.exists(directory + "/MANIFEST") {
            manifest = try Manifest.open(directory: directory)
        } else {
            guard create else { throw .notADatabase(path: directory) }
            try Syscall.makeDirectory(directory)
            // A blob file without a manifest is the leftover of a creation that crashed before
            // its manifest existed (MAP.0 is written first), or something that is not ours.
            if Syscall.exists(blobsPath) {
                guard Syscall.exists(BlobMap.path(directory: directory, generation: 0)) else {
                    throw .notADatabase(path: directory)
                }
                try Syscall.unlink(blobsPath)
            }
            let empty = BlobMap(durable: [:], nextID: 1, fileSlots: 0).encode(generation: 0)
            try BlobMap.write(empty, directory: directory, generation: 0)
            try BlobFile.open(path: blobsPath, create: true, useIOUring: false).close()
            manifest = try Manifest.create(
                directory: directory,
                anchor: .empty(mapLength: UInt64(empty.count), mapCRC: CRC32C.checksum(empty)))
        }
        do throws(HoltError) {
            let anchor = manifest.current
            let entries = try BlobMap.read(directory: directory, anchor: anchor)
            guard Syscall.exists(blobsPath) else { throw .corrupted(what: "blob file", reason: "missing") }
            let file = try BlobFile.open(path: blobsPath, create: false, useIOUring: useIOUring)
            let map = BlobMap(durable: entries, nextID: anchor.nextBlobID, fileSlots: try file.slotCount())
            // Maps of a checkpoint that never became durable, or of the one before this.
            var removed = false
            for generation in [anchor.generation + 1, anchor.generation &- 1] where generation != UInt64.max {
                let stale = BlobMap.path(directory: directory, generation: generation)
                if Syscall.exists(stale) { try Syscall.unlink(stale); removed = true }
            }
            if removed { try Syscall.fsyncDirectory(directory) }
            return BufferManager(directory: directory, capacity: capacity, file: file, manifest: manifest, map: map)
        } catch {
            try? manifest.close()
            throw error
        }
    }

    deinit {
        if !state.closed {
            try? file.close()
            try? manifest.close()
        }
    }

    /// Closes the files. Dirty blobs not checkpointed are dropped (the log redoes them).
    /// Later calls throw `.closed`.
    func close() throws(HoltError) {
        let wasClosed = monitor.withLock { () -> Bool in
            defer { state.closed = true }
            while state.writesInFlight > 0 { monitor.wait() }
            return state.closed
        }
        if wasClosed { return }
        try file.close()
        try manifest.close()
    }

    // MARK: What is there

    /// The last durable checkpoint: its root, log position (`checkpointLSN`) and `user` bytes.
    var anchor: Anchor { monitor.withLock { state.anchor } }

    /// The bytes of dirty frames (what the next checkpoint will write, at least).
    var dirtyBytes: Int { monitor.withLock { state.dirtyCount * BlobGeometry.blobSize } }

    /// The store's counters now.
    var statistics: StoreStatistics {
        let fileBytes = (try? file.size()) ?? 0
        return monitor.withLock {
            var result = state.statistics
            let cachedOnly = state.table.keys.filter { state.map.entry($0) == nil }.count
            result.blobsLive = state.map.count + cachedOnly
            result.fileBytes = fileBytes
            result.frames = state.frames.count
            result.directIO = file.isDirect
            result.ioUring = file.usesIOUring
            return result
        }
    }

    // MARK: BlobSource

    /// Calls `body` with the bytes of blob `id` (pinned for the call).
    /// - Throws: `.corrupted(what: "blob N", ...)` when it cannot be read back as written,
    ///   `.io`, `.closed`, or what `body` throws.
    func read<R>(_ id: BlobID, _ body: (UnsafeRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let (frame, bytes) = try pin(id, writing: false, fresh: false)
        defer { unpin(frame) }
        return try body(UnsafeRawPointer(bytes))
    }

    /// Calls `body` with the bytes of blob `id` to change them; the blob becomes dirty.
    /// - Throws: `.previousIOFailure` after a failed write, and what `read` throws.
    func write<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let (frame, bytes) = try pin(id, writing: true, fresh: false)
        defer { unpin(frame) }
        return try body(bytes)
    }

    /// A new blob, all zero bytes, dirty.
    /// - Throws: `.previousIOFailure`, `.closed`, `.io` when a frame had to be written to make room.
    func allocate() throws(HoltError) -> BlobID {
        let id = try monitor.withLock { () throws(HoltError) -> BlobID in
            try checkWritable()
            return state.map.newID()
        }
        let (frame, _) = try pin(id, writing: true, fresh: true)
        unpin(frame)
        return id
    }

    /// Gives blob `id` back: dropped from the cache and the map; its id is reused after the
    /// next checkpoint, its slot once no durable checkpoint uses it.
    func free(_ id: BlobID) throws(HoltError) {
        try monitor.withLock { () throws(HoltError) in
            try checkWritable()
            if let f = state.table.removeValue(forKey: id) {
                precondition(state.frames[f.rawValue].pins == 0, "free of pinned \(id)")
                if state.frames[f.rawValue].dirty { state.dirtyCount -= 1 }
                state.frames[f.rawValue].blob = nil
                state.frames[f.rawValue].dirty = false
                state.frames[f.rawValue].referenced = false
            }
            state.map.release(id)
        }
    }

    // MARK: Pinning

    /// What the locked part of `pin` decided.
    private enum Step {
        /// The blob is in frame `FrameIndex`, pinned.
        case hit(FrameIndex, UnsafeMutableRawPointer)
        /// The frame is reserved for the blob (loading, pinned once): fill it from `entry`'s slot,
        /// or with zeros when `entry` is nil.
        case load(FrameIndex, UnsafeMutableRawPointer, BlobMap.Entry?)
        /// These frames (marked writing, pinned) must be written out before they can be reused.
        case flush([WriteItem])
    }

    /// Pins blob `id` in a frame, loading it on a miss, and returns the frame and its bytes.
    /// `fresh`: a new blob, zero-filled instead of read.
    private func pin(_ id: BlobID, writing: Bool, fresh: Bool) throws(HoltError) -> (FrameIndex, UnsafeMutableRawPointer) {
        while true {
            let step = try monitor.withLock { () throws(HoltError) -> Step in
                if writing { try checkWritable() } else if state.closed { throw .closed }
                return try nextStep(id, writing: writing, fresh: fresh)
            }
            switch step {
            case .hit(let frame, let bytes):
                return (frame, bytes)
            case .load(let frame, let bytes, let entry):
                do throws(HoltError) {
                    try fill(bytes, id: id, from: entry)
                } catch {
                    monitor.withLock {
                        state.table[id] = nil
                        state.frames[frame.rawValue] = Frame(reusing: state.frames[frame.rawValue].memory)
                        monitor.broadcast()
                    }
                    throw error
                }
                monitor.withLock {
                    state.frames[frame.rawValue].io = .idle
                    if writing || fresh { markDirty(frame) }
                    monitor.broadcast()
                }
                return (frame, bytes)
            case .flush(let items):
                try writeOut(items)
            }
        }
    }

    /// The locked part of `pin`: a hit, or a frame to load into, or a frame to write out first.
    private func nextStep(_ id: BlobID, writing: Bool, fresh: Bool) throws(HoltError) -> Step {
        while let f = state.table[id] {
            if state.frames[f.rawValue].io == .loading {
                monitor.wait()
                continue
            }
            state.frames[f.rawValue].pins += 1
            state.frames[f.rawValue].referenced = true
            state.statistics.cacheHits += 1
            if writing { markDirty(f) }
            return .hit(f, state.frames[f.rawValue].memory.pointer)
        }
        var entry: BlobMap.Entry?
        if !fresh {
            guard let found = state.map.entry(id) else { throw .corrupted(what: "\(id)", reason: "not in the blob map") }
            entry = found
        }
        switch victim() {
        case .reuse(let f):
            if let old = state.frames[f.rawValue].blob {
                state.table[old] = nil
                state.statistics.evictions += 1
            }
            state.frames[f.rawValue].blob = id
            state.frames[f.rawValue].pins = 1
            state.frames[f.rawValue].io = .loading
            state.frames[f.rawValue].referenced = true
            state.table[id] = f
            state.statistics.cacheMisses += 1
            return .load(f, state.frames[f.rawValue].memory.pointer, entry)
        case .writeOut(let frames):
            var items: [WriteItem] = []
            for f in frames {
                guard let blob = state.frames[f.rawValue].blob else { preconditionFailure("dirty frame without blob") }
                state.frames[f.rawValue].io = .writing
                state.frames[f.rawValue].pins += 1
                items.append((f, blob, state.map.target(for: blob), state.frames[f.rawValue].memory.pointer))
            }
            state.writesInFlight += items.count
            return .flush(items)
        }
    }

    /// What `victim` found.
    private enum Victim {
        /// A frame that may take another blob now.
        case reuse(FrameIndex)
        /// Dirty frames to write out first (several at once: one io_uring batch).
        case writeOut([FrameIndex])
    }

    /// Picks the frame for a miss (CLOCK with second chance): a new frame while under budget, a
    /// clean unpinned one, else up to 16 (an eighth of the budget) dirty unpinned ones to write out, else (all
    /// pinned or busy, or writes refused after a failure) a new frame past the budget.
    private func victim() -> Victim {
        if state.frames.count < capacity {
            state.frames.append(Frame())
            return .reuse(FrameIndex(rawValue: state.frames.count - 1))
        }
        var dirtyCandidates: [FrameIndex] = []
        let batch = min(16, max(1, capacity / 8))
        let count = state.frames.count
        for _ in 0..<(2 * count) {
            let f = state.hand
            state.hand = (state.hand + 1) % count
            let frame = state.frames[f]
            guard frame.pins == 0, frame.io == .idle else { continue }
            if frame.blob == nil { return .reuse(FrameIndex(rawValue: f)) }
            if frame.referenced {
                state.frames[f].referenced = false
                continue
            }
            if !frame.dirty { return .reuse(FrameIndex(rawValue: f)) }
            if dirtyCandidates.count < batch && !dirtyCandidates.contains(FrameIndex(rawValue: f)) {
                dirtyCandidates.append(FrameIndex(rawValue: f))
            }
        }
        if !dirtyCandidates.isEmpty, !state.failed { return .writeOut(dirtyCandidates) }
        state.frames.append(Frame())
        return .reuse(FrameIndex(rawValue: state.frames.count - 1))
    }

    /// Fills a reserved frame: zeros for a new blob, else the blob's slot, checked.
    private func fill(_ bytes: UnsafeMutableRawPointer, id: BlobID, from entry: BlobMap.Entry?) throws(HoltError) {
        guard let entry else {
            bytes.initializeMemory(as: UInt8.self, repeating: 0, count: BlobGeometry.blobSize)
            return
        }
        guard try file.read(entry.slot, into: bytes) else {
            throw .corrupted(what: "\(id)", reason: "\(entry.slot) is past the end of the blob file")
        }
        monitor.withLock { state.statistics.bytesRead += BlobGeometry.blobSize }
        if let problem = BlobHeader.problem(bytes, id: id, expected: entry.crc) {
            throw .corrupted(what: "\(id)", reason: "\(entry.slot): \(problem)")
        }
    }

    /// Releases one pin.
    private func unpin(_ frame: FrameIndex) {
        monitor.withLock { state.frames[frame.rawValue].pins -= 1 }
    }

    /// Marks a frame dirty (locked).
    private func markDirty(_ frame: FrameIndex) {
        if !state.frames[frame.rawValue].dirty {
            state.frames[frame.rawValue].dirty = true
            state.dirtyCount += 1
        }
    }

    /// Throws when writes are refused (locked).
    private func checkWritable() throws(HoltError) {
        if state.closed { throw .closed }
        if state.failed { throw .previousIOFailure }
    }

    // MARK: Writing blobs out

    /// A frame on its way to disk: which blob, to which slot, from which bytes.
    private typealias WriteItem = (frame: FrameIndex, blob: BlobID, slot: PhysicalSlot, bytes: UnsafeMutableRawPointer)

    /// Writes frames (each marked writing and pinned once by the caller, counted in
    /// `writesInFlight`) to their target slots: seals each header, writes them all (a batch
    /// through io_uring when there are several), records the new slots and marks them clean.
    /// On failure the store refuses every later write.
    private func writeOut(_ items: [WriteItem]) throws(HoltError) {
        if items.isEmpty { return }
        var crcs: [UInt32] = []
        crcs.reserveCapacity(items.count)
        for item in items { crcs.append(BlobHeader.seal(item.bytes, id: item.blob)) }
        do throws(HoltError) {
            try Failpoints.hit("store.beforeBlobWrite")
            if items.count == 1 {
                try file.write(items[0].slot, from: items[0].bytes)
            } else {
                try file.write(batch: items.map { ($0.slot, $0.bytes) })
            }
            try Failpoints.hit("store.afterBlobWrite")
        } catch {
            monitor.withLock {
                state.failed = true
                for item in items {
                    state.frames[item.frame.rawValue].io = .idle
                    state.frames[item.frame.rawValue].pins -= 1
                }
                state.writesInFlight -= items.count
                monitor.broadcast()
            }
            throw error
        }
        monitor.withLock {
            for (item, crc) in zip(items, crcs) {
                state.map.record(item.blob, slot: item.slot, crc: crc)
                state.frames[item.frame.rawValue].io = .idle
                state.frames[item.frame.rawValue].pins -= 1
                state.frames[item.frame.rawValue].dirty = false
                state.dirtyCount -= 1
            }
            state.writesInFlight -= items.count
            state.statistics.bytesWritten += items.count * BlobGeometry.blobSize
            monitor.broadcast()
        }
    }

    // MARK: Checkpoint

    /// Makes the current state of every blob durable as checkpoint `lsn` with root `root`.
    ///
    /// Writes every dirty blob to a slot the previous checkpoint does not use (one io_uring
    /// batch), fsyncs the blob file, writes and fsyncs `MAP.<generation>`, writes and fsyncs the
    /// manifest; only then frees the slots and the map file only the previous checkpoint used.
    /// The caller guarantees no concurrent `write`/`allocate`/`free` (reads may run).
    ///
    /// - Parameters:
    ///   - user: Up to 64 bytes for the tree, returned by `anchor` after a reopen.
    /// - Throws: `.previousIOFailure`, `.closed`, `.io`; after any failure the store refuses
    ///   every later write, and the previous checkpoint is what a reopen finds.
    func checkpoint(root: BlobID?, lsn: UInt64, user: [UInt8]) throws(HoltError) {
        precondition(user.count <= Anchor.userSize, "user area is \(Anchor.userSize) bytes")
        let items = try monitor.withLock { () throws(HoltError) -> [WriteItem] in
            try checkWritable()
            while state.writesInFlight > 0 { monitor.wait() }
            var items: [WriteItem] = []
            for f in state.frames.indices where state.frames[f].dirty {
                guard let blob = state.frames[f].blob, state.frames[f].io == .idle else {
                    preconditionFailure("dirty frame \(f) busy or without blob at checkpoint")
                }
                state.frames[f].io = .writing
                state.frames[f].pins += 1
                items.append((FrameIndex(rawValue: f), blob, state.map.target(for: blob), state.frames[f].memory.pointer))
            }
            state.writesInFlight += items.count
            return items
        }
        try writeOut(items)
        do throws(HoltError) {
            try file.sync()
            let (anchor, mapBytes) = monitor.withLock { () -> (Anchor, [UInt8]) in
                let generation = state.anchor.generation + 1
                let bytes = state.map.encode(generation: generation)
                let anchor = Anchor(
                    generation: generation, checkpointLSN: lsn, root: root, nextBlobID: state.map.nextID,
                    mapLength: UInt64(bytes.count), mapCRC: CRC32C.checksum(bytes),
                    user: user + [UInt8](repeating: 0, count: Anchor.userSize - user.count))
                return (anchor, bytes)
            }
            try Failpoints.hit("checkpoint.beforeMapWrite")
            try BlobMap.write(mapBytes, directory: directory, generation: anchor.generation)
            try Failpoints.hit("checkpoint.beforeManifestWrite")
            try manifest.write(anchor)
            monitor.withLock { state.anchor = anchor }
            try Failpoints.hit("checkpoint.afterManifestWrite")
            // The previous map must be gone for good before its slots are reused: a manifest
            // slot that rots later must not lead back to a checkpoint whose slots were rewritten.
            try Syscall.unlink(BlobMap.path(directory: directory, generation: anchor.generation - 1))
            try Syscall.fsyncDirectory(directory)
        } catch {
            monitor.withLock { state.failed = true }
            throw error
        }
        monitor.withLock {
            state.map.checkpointed()
            state.map.checkInvariants()
        }
    }

    // MARK: Verification

    /// What is wrong with the cache's bookkeeping (invariants 1, 2 and the frames'): empty when
    /// all is well. Call when no read or write is under way (tests do, after each phase).
    func invariantViolations() -> [String] {
        monitor.withLock {
            var problems = state.map.invariantViolations().map { "map: \($0)" }
            var dirty = 0
            for (f, frame) in state.frames.enumerated() {
                if frame.dirty { dirty += 1 }
                if frame.pins != 0 || frame.io != .idle { problems.append("frame \(f) pinned or busy at rest") }
                guard let blob = frame.blob else {
                    if frame.dirty { problems.append("free frame \(f) is dirty") }
                    continue
                }
                if state.table[blob]?.rawValue != f { problems.append("frame \(f) holds \(blob) but the table disagrees") }
                if !frame.dirty && state.map.entry(blob) == nil {
                    problems.append("clean frame \(f) holds \(blob), which has no slot (invariant 2)")
                }
            }
            for (blob, f) in state.table where state.frames[f.rawValue].blob != blob {
                problems.append("table maps \(blob) to frame \(f.rawValue), which holds another")
            }
            if dirty != state.dirtyCount { problems.append("dirty count \(state.dirtyCount), \(dirty) dirty frames") }
            if state.writesInFlight != 0 { problems.append("\(state.writesInFlight) writes in flight at rest") }
            return problems
        }
    }

    /// Reads every blob the map has a slot for and checks its header and checksum.
    /// - Returns: One line per problem (empty when all is well).
    func verifyBlobs() -> [String] {
        let entries = monitor.withLock { state.map.entries }
        let scratch = AlignedBuffer(count: BlobGeometry.blobSize)
        var problems: [String] = []
        for (id, entry) in entries.sorted(by: { $0.key < $1.key }) {
            var problem: String?
            do throws(HoltError) {
                if try !file.read(entry.slot, into: scratch.pointer) {
                    problem = "\(entry.slot) is past the end of the blob file"
                } else {
                    problem = BlobHeader.problem(scratch.pointer, id: id, expected: entry.crc)
                }
            } catch {
                problem = error.description
            }
            guard let problem else { continue }
            // A reader may have written the blob out again meanwhile: only the current entry counts.
            if monitor.withLock({ state.map.entry(id) }) != entry { continue }
            problems.append("\(id) (\(entry.slot)): \(problem)")
        }
        return problems
    }
}
