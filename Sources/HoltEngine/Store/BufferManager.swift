import Synchronization
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
    /// Dirty frames the background evictor wrote out ahead of need, and those a miss wrote out
    /// itself (it found no clean frame).
    var framesCleanedAhead = 0, framesWrittenByMisses = 0
    /// Writes (and frees) that waited because the checkpoint being written held as many copies
    /// of captured frames as it may (`BufferManager.copyBound`), and the most copies held at
    /// once since open.
    var checkpointCopyWaits = 0, checkpointCopiesPeak = 0
    /// Optimistic reads of a blob not in the cache that read it through the mapped blob file
    /// (`BufferManager`, "Mapped reads") instead of taking a frame for it.
    var mappedReads = 0
}

/// The blob cache over the blob file: the `BlobSource` the tree reads and writes blobs through.
///
/// Concepts: a *frame* is 512 KiB of aligned memory holding one blob; a *pin* keeps a frame's
/// blob in place while a closure uses its bytes; a frame is *dirty* when its bytes differ from
/// the blob's slot on disk. A *checkpoint* writes every dirty blob to a slot the previous
/// checkpoint does not use (shadow paging), fsyncs, writes the blob map `MAP.<generation>`, then
/// the manifest: a crash at any moment leaves the previous checkpoint whole.
///
/// The page table is sharded by blob id so reader threads do not meet on one lock: each shard
/// owns its share of the frame budget (`cacheBytes / blobSize` frames in all, at least 4), its
/// table and its CLOCK hand. On a miss the hand picks a clean unpinned frame; when every
/// unpinned frame of the shard is dirty, a few are written to fresh slots first (one io_uring
/// batch; allowed by shadow paging: the durable checkpoint is untouched), so a database much
/// larger than the cache works between checkpoints too. Only when every frame of a shard is
/// pinned or busy does the shard grow past its budget (bounded by the number of concurrent pins).
///
/// Invariants:
/// 1. In a shard, `table[b] == f` ⇔ `frames[f].blob == b`; blob `b` lives only in shard
///    `shardIndex(b)`.
/// 2. A frame is clean only when its blob's bytes are in the map's slot for it.
/// 3. The durable checkpoint's slots are never written (see `BlobMap`).
/// 4. After `failed` is set no byte is written to any file again.
/// 5. A full disk (`ENOSPC`/`EDQUOT` from a blob or map *write*, never from an fsync) does not
///    set `failed`: the frames stay dirty, the slots written go back to the free list (no
///    durable manifest refers to them), a partial map file is removed, and the previous
///    checkpoint stays what a reopen finds. `outOfSpace` then stops eviction from writing
///    (frames overflow the budget instead) until a checkpoint succeeds.
///
/// Lock order: a shard's monitor, then `core`; never two shard monitors at once, never a shard
/// monitor while holding `core`. No lock is held across I/O.
///
/// `@unchecked Sendable`: every mutable field lives in a shard's `state` (guarded by the shard's
/// monitor), in `core` (a `Locked`) or in an `Atomic`; frame memory is immutable in address and
/// its bytes are guarded by the pin protocol (`Frame`); `manifest` is used only by the
/// checkpointing thread, and `BlobFile` itself is thread-safe. What it relies on from the caller
/// (the `BlobSource` contract): `write`, `allocate`, `free` and `checkpoint` come from one
/// thread at a time and never beside a `read` (`checkpoint` may run beside reads).
final class BufferManager: BlobSource, @unchecked Sendable {
    /// The database directory.
    let directory: String
    /// The frame budget (`cacheBytes / blobSize`, at least 4), split among the shards.
    let capacity: Int
    private let file: BlobFile
    private let manifest: Manifest
    private let shards: [Shard]
    /// Where frames get their memory (huge-page chunks).
    private let arena = FrameArena(frameSize: BlobGeometry.blobSize)
    /// The latches of all frames made so far, which `Frame` refers to unretained: kept here for
    /// the manager's life. Guarded by its `Locked`.
    private let latches = Locked<[BlobLatch]>([])
    /// Which frame holds each cached blob, for optimistic readers (see `FrameDirectory`):
    /// entries are set and cleared under the blob's shard monitor.
    private let frameDirectory = FrameDirectory()
    /// Optimistic holds that found their blob through `directory` (no shard lock): counted with
    /// the cache hits. Per CPU: one shared atomic had concurrent readers bounce its cache line.
    private let lockFreeHits = StripedCounter()
    /// The blob map and the current anchor.
    private let core: Locked<Core>
    /// Set after a failed write or fsync: every later write is refused.
    private let failed = Atomic<Bool>(false)
    /// Set when a write found the disk full (invariant 5), cleared by a successful checkpoint:
    /// eviction writes nothing meanwhile.
    private let outOfSpace = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    /// Byte counters; relaxed: they order nothing, they are only summed for `statistics`.
    private let bytesRead = Atomic<Int>(0)
    private let bytesWritten = Atomic<Int>(0)
    /// Frames the background evictor wrote out ahead of need (`cleanAhead`), and frames a miss
    /// had to write out itself: relaxed counters for `statistics`.
    private let framesCleanedAhead = Atomic<Int>(0)
    private let framesWrittenByMisses = Atomic<Int>(0)
    /// Copies of captured frames held now, in all shards, and the most held at once: relaxed
    /// counters for `statistics` (each shard's own count is under its monitor).
    private let checkpointCopies = Atomic<Int>(0)
    private let checkpointCopiesPeak = Atomic<Int>(0)
    /// Set the first time a miss had to push a blob out of the cache: the tree is (or was) larger
    /// than the cache (`BatchApplier.inKeyOrder`, the write buffer).
    private let filledItsCache = Atomic<Bool>(false)
    var hasFilledItsCache: Bool { filledItsCache.load(ordering: .relaxed) }
    /// Whether optimistic reads of uncached blobs may read the mapped blob file (see "Mapped
    /// reads"); set at open.
    let mappedReads: Bool
    /// Mapped reads under way (from the hold to its release) and whether the file is being cut:
    /// a cut waits for the reads to end and none begins meanwhile, so no read touches a page
    /// past the file's end (SIGBUS). Sequentially consistent, a Dekker pair.
    private let mappedReadsInFlight = Atomic<Int>(0)
    private let cuttingFile = Atomic<Int>(0)

    /// Called (holding a shard's monitor) when a miss met dirty frames at the CLOCK hand: the
    /// tree wakes its `Evictor`. Set once right after open, before other threads use the store.
    nonisolated(unsafe) var wantsCleaning: (@Sendable () -> Void)?

    /// What all shards share, guarded by `core`.
    private struct Core: ~Copyable {
        var map: BlobMap
        var anchor: Anchor
        /// Slots whose bytes this process wrote or read back and checked, with the checksum they
        /// had then: a mapped read (which cannot check a whole blob's checksum) uses only
        /// these. A slot's bytes change only by our own writes, which record it again.
        var checkedSlots: [PhysicalSlot: UInt32] = [:]
    }

    /// One part of the page table: its frames, table and CLOCK hand.
    ///
    /// `@unchecked Sendable`: `state` is read and written only under `monitor`.
    private final class Shard: @unchecked Sendable {
        let monitor = Monitor()
        /// This shard's frame budget.
        let capacity: Int
        /// The most copies of captured frames the shard holds at once (a quarter of its budget,
        /// at least 2): the memory a checkpoint costs beyond the cache, whatever the writers do.
        var copyBound: Int { max(2, capacity / 4) }
        /// Guarded by `monitor`.
        var state = ShardState()
        /// Counts blobs given a frame in this shard (and blobs freed): changed under `monitor`,
        /// read without it by a mapped read's check. A blob is changed only in a frame, so a
        /// count unchanged since a mapped read began means nothing changed the blob it read.
        let loads = Atomic<UInt64>(0)

        init(capacity: Int) { self.capacity = capacity }
    }

    /// The mutable part of a shard, guarded by its monitor.
    private struct ShardState {
        var frames: [Frame] = []
        var table: [BlobID: FrameIndex] = [:]
        var hand = 0
        var dirtyCount = 0
        /// Blob writes of this shard's frames under way outside the lock (a checkpoint waits).
        var writesInFlight = 0
        /// Copies of captured frames made for the checkpoint being written, by the writer that
        /// was about to change the frame (or free its blob); the checkpoint takes them. At most
        /// `copyBound` of them: a writer that would make one more waits for the checkpoint to
        /// write one (it writes copied blobs first).
        var copies: [BlobID: AlignedBuffer] = [:]
        /// Writes and frees that waited for `copies` to shrink.
        var copyWaits = 0
        var hits = 0
        var misses = 0
        var evictions = 0
        /// Misses that waited for a frame the checkpoint or a write-out was about to release.
        var waitsForFrames = 0
        /// Optimistic reads served from the mapped file (see "Mapped reads").
        var mappedReads = 0
    }

    private init(
        directory: String, capacity: Int, shards: Int, file: BlobFile, manifest: Manifest, map: BlobMap, shadows: BlobShadows,
        mappedReads: Bool
    ) {
        self.directory = directory
        self.mappedReads = mappedReads && file.mapping != nil
        self.shadows = shadows
        self.capacity = capacity
        self.file = file
        self.manifest = manifest
        self.shards = (0..<shards).map { i in Shard(capacity: capacity / shards + (i < capacity % shards ? 1 : 0)) }
        self.core = Locked(Core(map: map, anchor: manifest.current))
    }

    // MARK: Opening and closing

    /// Opens the store in `directory`: reads the manifest and the checkpoint's blob map; with
    /// `create`, makes a new empty database when there is no manifest.
    ///
    /// - Parameters:
    ///   - cacheBytes: The frame budget in bytes.
    ///   - useIOUring: `false` forces pread/pwrite (for tests and measurements).
    ///   - shards: How many shards the page table has (default: one per 32 frames, 1...16).
    /// - Throws: `.notADatabase` (no manifest and not `create`), `.corrupted` (both manifest
    ///   slots bad, the map bad or missing), `.unsupportedFormat`, `.io`.
    static func open(
        directory: String, cacheBytes: Int, create: Bool, useIOUring: Bool = true, shards: Int? = nil,
        snapshotMemoryBytes: Int = .max, mappedReads: Bool = true
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
            do throws(HoltError) {
                let map = BlobMap(durable: entries, nextID: anchor.nextBlobID, fileSlots: try file.slotCount())
                // Maps of a checkpoint that never became durable, or of the one before this.
                var removed = false
                for generation in [anchor.generation + 1, anchor.generation &- 1] where generation != UInt64.max {
                    let stale = BlobMap.path(directory: directory, generation: generation)
                    if Syscall.exists(stale) { try Syscall.unlink(stale); removed = true }
                }
                if removed { try Syscall.fsyncDirectory(directory) }
                let shardCount = max(1, min(shards ?? min(16, capacity / 32), capacity / 2))
                return BufferManager(
                    directory: directory, capacity: capacity, shards: shardCount, file: file, manifest: manifest, map: map,
                    shadows: BlobShadows(directory: directory, memoryLimit: snapshotMemoryBytes), mappedReads: mappedReads)
            } catch {
                try? file.close()
                throw error
            }
        } catch {
            try? manifest.close()
            throw error
        }
    }

    deinit {
        if !closed.load(ordering: .sequentiallyConsistent) {
            try? file.close()
            try? manifest.close()
        }
    }

    /// Closes the files. Dirty blobs not checkpointed are dropped (the log redoes them).
    /// Later calls throw `.closed`.
    func close() throws(HoltError) {
        if closed.exchange(true, ordering: .sequentiallyConsistent) { return }
        shadows.close()
        for shard in shards {
            shard.monitor.withLock { while shard.state.writesInFlight > 0 { shard.monitor.wait() } }
        }
        try file.close()
        try manifest.close()
    }

    // MARK: What is there

    /// The last durable checkpoint: its root, log position (`checkpointLSN`) and `user` bytes.
    var anchor: Anchor { core.withLock { $0.anchor } }

    /// The bytes of dirty frames (what the next checkpoint will write, at least).
    var dirtyBytes: Int { dirtyFrames.load(ordering: .relaxed) * BlobGeometry.blobSize }
    /// The shards' `dirtyCount`s summed, changed beside each (under its shard's monitor): what
    /// every batch reads (`dirtyBytes`, for the throttle and the checkpoint's trigger) without
    /// taking every shard's monitor.
    private let dirtyFrames = Atomic<Int>(0)

    /// The store's counters now.
    var statistics: StoreStatistics {
        var result = StoreStatistics()
        var cachedOnly = 0
        for shard in shards {
            shard.monitor.withLock {
                result.cacheHits += shard.state.hits
                result.cacheMisses += shard.state.misses
                result.evictions += shard.state.evictions
                result.frames += shard.state.frames.count
                result.mappedReads += shard.state.mappedReads
                let blobs = Array(shard.state.table.keys)
                cachedOnly += core.withLock { core in blobs.filter { core.map.entry($0) == nil }.count }
            }
        }
        result.blobsLive = core.withLock { $0.map.count } + cachedOnly
        result.cacheHits += lockFreeHits.value
        result.bytesRead = bytesRead.load(ordering: .relaxed)
        result.bytesWritten = bytesWritten.load(ordering: .relaxed)
        result.fileBytes = (try? file.size()) ?? 0
        result.directIO = file.isDirect
        result.ioUring = file.usesIOUring
        result.framesCleanedAhead = framesCleanedAhead.load(ordering: .relaxed)
        result.framesWrittenByMisses = framesWrittenByMisses.load(ordering: .relaxed)
        result.checkpointCopiesPeak = checkpointCopiesPeak.load(ordering: .relaxed)
        for shard in shards { result.checkpointCopyWaits += shard.monitor.withLock { shard.state.copyWaits } }
        return result
    }

    /// The number of page-table shards.
    var shardCount: Int { shards.count }

    // MARK: BlobSource

    /// Calls `body` with the bytes of blob `id` (pinned for the call).
    /// - Throws: `.corrupted(what: "blob N", ...)` when it cannot be read back as written,
    ///   `.io`, `.closed`, or what `body` throws.
    func read<R>(_ id: BlobID, _ body: (UnsafeRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let (shard, frame, _, latch) = try pin(id, writing: false, fresh: false)
        defer { unpin(shard, frame) }
        let guarded = latch.takeUnretainedValue()
        // The bytes are read under the latch: a `writeAside` may have swapped them since the pin.
        return try guarded.withShared { () throws(HoltError) -> R in try body(UnsafeRawPointer(guarded.bytes!)) }
    }

    /// Pins blob `id` and takes its latch shared until `release(_:)` (see `BlobSource`). The
    /// kept blob (`keepPinned`) skips the pin: one latch, no shard lock.
    func holdShared(_ id: BlobID) throws(HoltError) -> HeldBlob {
        if let kept, kept.id == id {
            let bytes = kept.latch._withUnsafeGuaranteedRef { latch in
                latch.lockShared()
                return latch.bytes!
            }
            return HeldBlob(id: id, bytes: UnsafeRawPointer(bytes), shard: -1, frame: -1, latch: kept.latch)
        }
        let (shard, frame, _, latch) = try pin(id, writing: false, fresh: false)
        // The bytes are read under the latch: a `writeAside` may have swapped them since the pin.
        let bytes = latch._withUnsafeGuaranteedRef { latch in
            latch.lockShared()
            return latch.bytes!
        }
        return HeldBlob(id: id, bytes: UnsafeRawPointer(bytes), shard: shard, frame: frame.rawValue, latch: latch)
    }

    /// Holds blob `id` for an optimistic read (see `BlobSource`). The kept blob, and a cached
    /// blob found in the `FrameDirectory`, are held without a pin or a lock; others are pinned.
    @inline(__always)
    func holdOptimistic(_ id: BlobID) throws(HoltError) -> HeldBlob? {
        if let kept, kept.id == id {
            // The bytes after the version: a `writeAside` that swaps them moves the version.
            guard let (version, bytes) = kept.latch._withUnsafeGuaranteedRef({ latch -> (UInt64, UnsafeMutableRawPointer)? in
                guard let version = latch.optimisticVersion() else { return nil }
                return (version, latch.bytes!)
            }) else { return nil }
            return HeldBlob(id: id, bytes: UnsafeRawPointer(bytes), shard: -1, frame: -1, latch: kept.latch, version: version)
        }
        if let found = frameDirectory.latch(of: id) {
            let held = found._withUnsafeGuaranteedRef { latch -> HeldBlob?? in
                guard let version = latch.optimisticVersion() else { return .some(nil) }
                // Still the blob's frame after the version was noted: it held the blob at that
                // version (see `FrameDirectory`).
                guard frameDirectory.latch(of: id)?.toOpaque() == found.toOpaque(), let bytes = latch.bytes else { return nil }
                latch.touch()
                return HeldBlob(id: id, bytes: UnsafeRawPointer(bytes), shard: -1, frame: -1, latch: found, version: version)
            }
            if let held {
                if held != nil { lockFreeHits.increment() }
                return held
            }
        }
        return try holdOptimisticPinned(id)
    }

    /// `holdOptimistic` for a blob not in the directory: read through the mapped file when it
    /// may be, else pinned under its shard's monitor.
    private func holdOptimisticPinned(_ id: BlobID) throws(HoltError) -> HeldBlob? {
        if mappedReads, let held = holdMapped(id) { return held }
        let (shard, frame, _, latch) = try pin(id, writing: false, fresh: false)
        guard let (version, bytes) = latch._withUnsafeGuaranteedRef({ latch -> (UInt64, UnsafeMutableRawPointer)? in
            guard let version = latch.optimisticVersion() else { return nil }
            return (version, latch.bytes!)
        }) else {
            unpin(shard, frame)
            return nil
        }
        return HeldBlob(id: id, bytes: UnsafeRawPointer(bytes), shard: shard, frame: frame.rawValue, latch: latch, version: version)
    }

    // MARK: Mapped reads
    //
    // Once a shard is full, an optimistic read (`get`, `hasKeys`, `range`) of a blob it does not cache
    // reads the blob's slot through the mapped blob file instead of taking a frame: the kernel's
    // page cache then holds the 4 KiB pages walks touch (a blob's header, slot-table pages and
    // upper nodes stay hot), where a frame costs a 512 KiB read and the eviction of another
    // blob. Only slots whose checksum this process checked or wrote (`checkedSlots`) are read so:
    // the first read of any other slot takes a frame and checks it. The read is valid while no
    // frame was given to a blob of its shard (`Shard.loads`): a blob changes only in a frame,
    // and the slot a map entry names keeps its bytes until the blob is written elsewhere, which
    // needs a frame first. The hold itself is checked as an optimistic one (`isUnchanged`).

    /// A mapped hold of blob `id`, or nil when it must be pinned instead (its shard has room or
    /// caches it, its slot is unchecked, the file is being cut).
    private func holdMapped(_ id: BlobID) -> HeldBlob? {
        mappedReadsInFlight.add(1, ordering: .sequentiallyConsistent)
        let s = shardIndex(id)
        let shard = shards[s]
        let held: HeldBlob? =
            if cuttingFile.load(ordering: .sequentiallyConsistent) > 0 { nil } else {
                shard.monitor.withLock { () -> HeldBlob? in
                    guard shard.state.frames.count >= shard.capacity, shard.state.table[id] == nil else { return nil }
                    guard let slot = core.withLock({ core -> PhysicalSlot? in
                        guard let entry = core.map.entry(id), core.checkedSlots[entry.slot] == entry.crc else { return nil }
                        return entry.slot
                    }), let bytes = file.mapped(slot) else { return nil }
                    shard.state.mappedReads += 1
                    return HeldBlob(
                        id: id, bytes: bytes, shard: s, frame: -1, latch: nil,
                        version: shard.loads.load(ordering: .sequentiallyConsistent), mapped: true)
                }
            }
        if held == nil { mappedReadsInFlight.subtract(1, ordering: .sequentiallyConsistent) }
        return held
    }

    /// Runs `body` (which may cut the blob file) with no mapped read under way: new ones pin
    /// instead meanwhile. Waits outside every lock: a mapped hold takes shard and core locks.
    private func withoutMappedReads<R>(_ body: () throws(HoltError) -> R) throws(HoltError) -> R {
        cuttingFile.add(1, ordering: .sequentiallyConsistent)
        defer { cuttingFile.subtract(1, ordering: .sequentiallyConsistent) }
        while mappedReadsInFlight.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
        return try body()
    }

    /// Whether no writer changed `blob` since it was held.
    func isUnchanged(_ blob: HeldBlob) -> Bool {
        if blob.mapped { return shards[blob.shard].loads.load(ordering: .sequentiallyConsistent) == blob.version }
        guard let version = blob.version, let latch = blob.latch else { return true }
        return latch._withUnsafeGuaranteedRef { $0.isUnchanged(since: version) }
    }

    /// Lets go of a blob from `holdShared` or `holdOptimistic`.
    func release(_ blob: HeldBlob) {
        if blob.mapped {
            mappedReadsInFlight.subtract(1, ordering: .sequentiallyConsistent)
            return
        }
        if blob.version == nil { blob.latch?._withUnsafeGuaranteedRef { $0.unlockShared() } }
        if blob.shard >= 0 { unpin(blob.shard, FrameIndex(rawValue: blob.frame)) }
    }

    /// A blob pinned for the store's life (the tree's root, which every walk starts from): its
    /// frame is never evicted, and reads of it skip the shard lock.
    private struct Kept {
        let id: BlobID
        /// Its latch, which knows its bytes (`writeAside` swaps them).
        let latch: Unmanaged<BlobLatch>
    }

    /// Set once by `keepPinned`, before any reader runs; read without a lock after.
    private nonisolated(unsafe) var kept: Kept?

    /// Pins blob `id` for the store's life (call once, right after open, before other threads
    /// use the store).
    func keepPinned(_ id: BlobID) throws(HoltError) {
        precondition(kept == nil, "a blob is kept pinned already")
        let (_, _, _, latch) = try pin(id, writing: false, fresh: false)
        kept = Kept(id: id, latch: latch)
    }

    /// Calls `body` with the bytes of blob `id` to change them; the blob becomes dirty.
    /// - Throws: `.previousIOFailure` after a failed write, and what `read` throws.
    func write<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let (shard, frame, bytes, latch) = try pin(id, writing: true, fresh: false)
        defer { unpin(shard, frame) }
        shadows.willChange(id, bytes: UnsafeRawPointer(bytes))
        return try latch.takeUnretainedValue().withExclusive { () throws(HoltError) -> R in try body(bytes) }
    }

    /// `write` through a copy (see `BlobSource`): the frame is pinned for writing (dirty, copied
    /// out first for a checkpoint that captured it), copied into a spare frame's memory, `body`
    /// runs on the copy with no latch held (nobody else changes the blob meanwhile: the tree's
    /// one serial writer, or a parallel writer holding the ART's structure lock and the blob's
    /// write lock, `BlobWriteLocks`; readers read it), and the copy becomes the frame's
    /// bytes under the exclusive latch (`BlobLatch.replaceBytes`: a pointer swap, not a 512 KiB
    /// copy back, so readers wait for nothing). The frame's old bytes become the spare. On a
    /// throw the frame is left as it was.
    ///
    /// Who else sees the frame's bytes, and why the swap is safe for each: an optimistic reader
    /// that read the old address fails its version check (the swap moves the version) and the
    /// old bytes stay mapped (arena memory, kept as the spare); a shared holder reads the
    /// address after taking the latch (`read`, `holdShared`), so none reads the old bytes after
    /// the swap; a write-out or eviction never takes a pinned frame, and a checkpoint copy of
    /// the frame is finished before a writing pin is given (`nextStep`); snapshots copied the
    /// before-image above; everything else reads `Frame.bytes` (the latch's address) under the
    /// shard's monitor while no `writeAside` runs (the writer's own calls, or under the tree's
    /// shared lock).
    func writeAside<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R {
        let (shard, frame, bytes, latch) = try pin(id, writing: true, fresh: false)
        defer { unpin(shard, frame) }
        shadows.willChange(id, bytes: UnsafeRawPointer(bytes))
        let spare = asideSpare.withLock { taken -> UnsafeMutableRawPointer? in defer { taken = nil }; return taken } ?? arena.takeFrame()
        _ = memcpy(spare, bytes, BlobGeometry.blobSize)
        let result: R
        do throws(HoltError) { result = try body(spare) } catch {
            asideSpare.withLock { $0 = spare }
            throw error
        }
        latch._withUnsafeGuaranteedRef { latch in latch.withExclusive { latch.replaceBytes(with: spare) } }
        asideSpare.withLock { $0 = bytes }
        return result
    }

    /// The before-images open snapshots read (`Tree.snapshot()`): `write`, `writeAside` and
    /// `free` hand each blob to it before they change it. Thread-safe itself.
    let shadows: BlobShadows

    /// The spare frame memory `writeAside` changes a copy in (from `arena`, made on first use):
    /// after the swap it holds the frame's old bytes, which a lock-free reader that started
    /// before the swap may still be reading (its check then fails). One `writeAside` at a time
    /// (the serial writer, or a parallel one under the ART's structure lock).
    private let asideSpare = Locked<UnsafeMutableRawPointer?>(nil)

    /// A new blob, all zero bytes, dirty.
    /// - Throws: `.previousIOFailure`, `.closed`, `.io` when a frame had to be written to make room.
    func allocate() throws(HoltError) -> BlobID {
        try checkWritable()
        let id = core.withLock { $0.map.newID() }
        let (shard, frame, _, _) = try pin(id, writing: true, fresh: true)
        unpin(shard, frame)
        shadows.didAllocate(id)
        return id
    }

    /// Gives blob `id` back: dropped from the cache and the map; its id is reused after the
    /// next checkpoint, its slot once no durable checkpoint uses it. `id` must not be pinned.
    func free(_ id: BlobID) throws(HoltError) {
        try checkWritable()
        // Open snapshots may still read it: its image is kept for them first.
        if shadows.isTracking { try read(id) { bytes in shadows.willChange(id, bytes: bytes) } }
        let shard = shards[shardIndex(id)]
        shard.monitor.withLock {
            // A blob the checkpoint being written captured: it still needs the bytes it captured.
            while true {
                guard let f = shard.state.table[id] else { break }
                if waitedForCopyRoom(shard, f) { continue }
                if shard.state.frames[f.rawValue].checkpoint == .pending {
                    let copy = AlignedBuffer(count: BlobGeometry.blobSize)
                    copy.copy(from: shard.state.frames[f.rawValue].bytes)
                    keepCopy(copy, of: id, in: shard)
                }
                break
            }
            // A lock-free reader that entered the blob before its parent let go of it may still
            // be reading (its pin): it finishes in microseconds, and nothing leads to it any more.
            while let f = shard.state.table[id], shard.state.frames[f.rawValue].pins > 0 {
                shard.monitor.wait(until: Monitor.monotonicNanoseconds() + 50_000)
            }
            if let f = shard.state.table.removeValue(forKey: id) {
                forget(id, in: shard.state.frames[f.rawValue])
                if shard.state.frames[f.rawValue].dirty { shard.state.dirtyCount -= 1; dirtyFrames.subtract(1, ordering: .relaxed) }
                shard.state.frames[f.rawValue] = Frame(reusing: shard.state.frames[f.rawValue])
            }
            shard.loads.add(1, ordering: .sequentiallyConsistent)
            core.withLock { $0.map.release(id) }
        }
    }

    /// Whether blob `id` exists: it has a slot, or a frame (a new blob not written yet).
    func contains(_ id: BlobID) -> Bool {
        if core.withLock({ $0.map.entry(id) != nil }) { return true }
        let shard = shards[shardIndex(id)]
        return shard.monitor.withLock { shard.state.table[id] != nil }
    }

    // MARK: Pinning

    /// The shard blob `id` lives in (Fibonacci hashing, so consecutive ids spread out).
    private func shardIndex(_ id: BlobID) -> Int {
        Int(truncatingIfNeeded: (id.rawValue &* 0x9E37_79B9_7F4A_7C15) >> 33) % shards.count
    }

    /// What the locked part of `pin` decided.
    private enum Step {
        /// The blob is in frame `FrameIndex`, pinned.
        case hit(FrameIndex, UnsafeMutableRawPointer, Unmanaged<BlobLatch>)
        /// The frame is reserved for the blob (loading, pinned once): fill it from `entry`'s slot,
        /// or with zeros when `entry` is nil.
        case load(FrameIndex, UnsafeMutableRawPointer, Unmanaged<BlobLatch>, BlobMap.Entry?)
        /// These frames (marked writing, pinned) must be written out before they can be reused.
        case flush([WriteItem])
        /// The frame (pinned, marked copying) holds blob `BlobID` as the checkpoint being written
        /// captured it: copy it out for the checkpoint before it changes.
        case copyOut(FrameIndex, BlobID, UnsafeMutableRawPointer)
        /// The shard is full of frames the checkpoint or a write-out will release: waited for
        /// one; look again.
        case retry
    }

    /// Pins blob `id` in a frame of its shard, loading it on a miss; returns the shard, the
    /// frame and its bytes. `fresh`: a new blob, zero-filled instead of read.
    private func pin(
        _ id: BlobID, writing: Bool, fresh: Bool
    ) throws(HoltError) -> (Int, FrameIndex, UnsafeMutableRawPointer, Unmanaged<BlobLatch>) {
        let s = shardIndex(id)
        let shard = shards[s]
        while true {
            if writing { try checkWritable() } else if closed.load(ordering: .sequentiallyConsistent) { throw .closed }
            let step = try shard.monitor.withLock { () throws(HoltError) -> Step in
                try nextStep(id, in: s, writing: writing, fresh: fresh)
            }
            switch step {
            case .hit(let frame, let bytes, let latch):
                return (s, frame, bytes, latch)
            case .load(let frame, let bytes, let latch, let entry):
                do throws(HoltError) {
                    try fill(bytes, id: id, from: entry)
                } catch {
                    shard.monitor.withLock {
                        shard.state.table[id] = nil
                        shard.state.frames[frame.rawValue] = Frame(reusing: shard.state.frames[frame.rawValue])
                        shard.monitor.broadcast()
                    }
                    throw error
                }
                shard.monitor.withLock {
                    shard.state.frames[frame.rawValue].io = .idle
                    frameDirectory.set(id, latch)
                    if writing || fresh { markDirty(shard, frame) }
                    shard.monitor.broadcast()
                }
                return (s, frame, bytes, latch)
            case .copyOut(let frame, let blob, let bytes):
                let copy = AlignedBuffer(count: BlobGeometry.blobSize)
                copy.copy(from: bytes)
                shard.monitor.withLock {
                    keepCopy(copy, of: blob, in: shard)
                    shard.state.frames[frame.rawValue].checkpoint = .copied
                    shard.state.frames[frame.rawValue].pins -= 1
                    shard.monitor.broadcast()
                }
            case .retry:
                continue
            case .flush(let items):
                do throws(HoltError) {
                    try writeOut(items)
                } catch {
                    // A full disk: the frames stay dirty and the shard overflows its budget
                    // (`victim` writes nothing while `outOfSpace`); anything else is fatal.
                    guard Syscall.isOutOfSpace(error) else { throw error }
                }
            }
        }
    }

    /// The locked part of `pin` (shard `s` locked): a hit, or a frame to load into, or frames
    /// to write out first.
    private func nextStep(_ id: BlobID, in s: Int, writing: Bool, fresh: Bool) throws(HoltError) -> Step {
        let shard = shards[s]
        while let f = shard.state.table[id] {
            // Loading: nobody may use it yet. Being written out (by whoever needed a frame, a
            // lock-free reader too): a write must wait, or the write-out would take torn bytes
            // and then mark the changed frame clean.
            if shard.state.frames[f.rawValue].io == .loading || (writing && shard.state.frames[f.rawValue].io == .writing) {
                shard.monitor.wait()
                continue
            }
            if writing {
                // Copy on write: the checkpoint being written needs the bytes as it captured them.
                if waitedForCopyRoom(shard, f) { continue }
                if shard.state.frames[f.rawValue].checkpoint == .pending {
                    shard.state.frames[f.rawValue].checkpoint = .copying
                    shard.state.frames[f.rawValue].pins += 1
                    return .copyOut(f, id, shard.state.frames[f.rawValue].bytes)
                }
            }
            shard.state.frames[f.rawValue].pins += 1
            shard.state.frames[f.rawValue].referenced = true
            shard.state.hits += 1
            if writing { markDirty(shard, f) }
            return .hit(f, shard.state.frames[f.rawValue].bytes, shard.state.frames[f.rawValue].latch)
        }
        var entry: BlobMap.Entry?
        if !fresh {
            guard let found = core.withLock({ $0.map.entry(id) }) else {
                throw .corrupted(what: "\(id)", reason: "not in the blob map")
            }
            entry = found
        }
        switch victim(shard) {
        case .reuse(let f):
            if let old = shard.state.frames[f.rawValue].blob {
                shard.state.table[old] = nil
                forget(old, in: shard.state.frames[f.rawValue])
                shard.state.evictions += 1
            }
            shard.state.frames[f.rawValue].blob = id
            shard.state.frames[f.rawValue].pins = 1
            shard.state.frames[f.rawValue].io = .loading
            shard.state.frames[f.rawValue].referenced = true
            shard.state.table[id] = f
            shard.state.misses += 1
            shard.loads.add(1, ordering: .sequentiallyConsistent)
            return .load(f, shard.state.frames[f.rawValue].bytes, shard.state.frames[f.rawValue].latch, entry)
        case .writeOut(let frames):
            var items: [WriteItem] = []
            for f in frames {
                guard let blob = shard.state.frames[f.rawValue].blob else { preconditionFailure("dirty frame without blob") }
                shard.state.frames[f.rawValue].io = .writing
                shard.state.frames[f.rawValue].pins += 1
                let slot = core.withLock { $0.map.target(for: blob) }
                items.append((s, f, blob, slot, shard.state.frames[f.rawValue].bytes))
            }
            shard.state.writesInFlight += items.count
            return .flush(items)
        case .wait:
            shard.state.waitsForFrames += 1
            shard.monitor.wait()
            return .retry
        }
    }

    /// Whether a change of frame `f` (its shard locked) had to wait before copying the frame
    /// for the checkpoint being written: the frame is being copied, or the shard holds as many
    /// copies as it may (the checkpoint writes those first, or reaches this frame itself, and
    /// then no copy is needed). It waited once on the shard's monitor then; the caller looks again.
    private func waitedForCopyRoom(_ shard: Shard, _ f: FrameIndex) -> Bool {
        switch shard.state.frames[f.rawValue].checkpoint {
        case .copying:
            shard.monitor.wait()
            return true
        case .pending where shard.state.copies.count >= shard.copyBound:
            shard.state.copyWaits += 1
            shard.monitor.wait()
            return true
        case .pending, .none, .copied:
            return false
        }
    }

    /// What `victim` found.
    private enum Victim {
        /// A frame that may take another blob now.
        case reuse(FrameIndex)
        /// Dirty frames to write out first (several at once: one io_uring batch).
        case writeOut([FrameIndex])
        /// None now, and the shard is past its budget and slack while frames the checkpoint
        /// being written (or a write-out) will soon release are there: wait for one.
        case wait
    }

    /// Picks the frame for a miss in `shard` (locked; CLOCK with second chance): a new frame
    /// while under budget, a clean unpinned one, else up to 16 (an eighth of the budget) dirty
    /// unpinned ones to write out, else a new frame past the budget, up to a slack of an eighth
    /// of it; past that, when some frames are held only by the checkpoint being written or by a
    /// write-out (which release them without anyone's help), a wait for one. Only frames that
    /// readers and writers pin themselves (lock coupling holds two) may push a shard further:
    /// waiting for those could deadlock. So the cache stays within 1⅛ of its budget even while
    /// a checkpoint holds most of it (a database far larger than its cache under a memory
    /// limit was killed for want of memory before this bound).
    private func victim(_ shard: Shard) -> Victim {
        if shard.state.frames.count < shard.capacity {
            shard.state.frames.append(newFrame())
            return .reuse(FrameIndex(rawValue: shard.state.frames.count - 1))
        }
        var dirtyCandidates: [FrameIndex] = []
        let batch = min(16, max(1, shard.capacity / 8))
        let count = shard.state.frames.count
        var releasing = false
        for _ in 0..<(2 * count) {
            let f = shard.state.hand
            shard.state.hand = (shard.state.hand + 1) % count
            let frame = shard.state.frames[f]
            guard frame.pins == 0, frame.io == .idle, frame.checkpoint == .none else {
                if frame.io == .writing || (frame.pins == 0 && frame.checkpoint != .none) { releasing = true }
                continue
            }
            if frame.blob == nil { return .reuse(FrameIndex(rawValue: f)) }
            let touched = frame.latch._withUnsafeGuaranteedRef { $0.takeTouch() }
            if frame.referenced || touched {
                shard.state.frames[f].referenced = false
                continue
            }
            if !frame.dirty {
                if !dirtyCandidates.isEmpty { wantsCleaning?() }
                noteFilled()
                return .reuse(FrameIndex(rawValue: f))
            }
            if dirtyCandidates.count < batch && !dirtyCandidates.contains(FrameIndex(rawValue: f)) {
                dirtyCandidates.append(FrameIndex(rawValue: f))
            }
        }
        if !dirtyCandidates.isEmpty { wantsCleaning?() }
        if !dirtyCandidates.isEmpty, !failed.load(ordering: .sequentiallyConsistent),
           !outOfSpace.load(ordering: .sequentiallyConsistent) {
            framesWrittenByMisses.add(dirtyCandidates.count, ordering: .relaxed)
            noteFilled()
            return .writeOut(dirtyCandidates)
        }
        if releasing, count >= shard.capacity + max(2, shard.capacity / 8) { return .wait }
        // Not `noteFilled()`: frames a checkpoint holds push a shard past its budget for a while
        // in a tree that fits.
        shard.state.frames.append(newFrame())
        return .reuse(FrameIndex(rawValue: shard.state.frames.count - 1))
    }

    /// Notes that a miss had to push a blob out of the cache (`hasFilledItsCache`). Not when a
    /// shard merely reached its budget: frames of freed blobs (splits, compactions) count toward
    /// it, so a shard of a tree far smaller than the cache reaches it too.
    @inline(__always)
    private func noteFilled() {
        if !filledItsCache.load(ordering: .relaxed) { filledItsCache.store(true, ordering: .relaxed) }
    }

    /// A free frame with fresh memory and a latch of its own.
    private func newFrame() -> Frame {
        let latch = BlobLatch(guarding: arena.takeFrame())
        latches.withLock { $0.append(latch) }
        return Frame(latch: latch)
    }

    /// Writes dirty frames out ahead of need (the background evictor's round): in each shard at
    /// its budget whose clean unpinned frames are fewer than an eighth of it, the unreferenced
    /// dirty unpinned frames CLOCK meets next, up to 16 at a time, until the shard has its
    /// eighth clean or nothing more to write. Writes nothing after a failure or on a full disk.
    /// - Returns: How many frames it wrote out.
    /// - Throws: `.io` from a write (the store then refuses writes, as after any failed write).
    @discardableResult
    func cleanAhead() throws(HoltError) -> Int {
        var written = 0
        for (s, shard) in shards.enumerated() {
            while true {
                if closed.load(ordering: .sequentiallyConsistent) { return written }
                let items = shard.monitor.withLock { () -> [WriteItem] in
                    guard shard.state.frames.count >= shard.capacity, !failed.load(ordering: .sequentiallyConsistent),
                          !outOfSpace.load(ordering: .sequentiallyConsistent) else { return [] }
                    let reserve = max(1, shard.capacity / 8)
                    var clean = 0
                    var candidates: [FrameIndex] = []
                    let count = shard.state.frames.count
                    for step in 0..<count {
                        let f = (shard.state.hand + step) % count
                        let frame = shard.state.frames[f]
                        guard frame.pins == 0, frame.io == .idle, frame.checkpoint == .none else { continue }
                        if frame.blob == nil || !frame.dirty {
                            clean += 1
                        } else if !frame.referenced {
                            candidates.append(FrameIndex(rawValue: f))
                        }
                    }
                    guard clean < reserve else { return [] }
                    var items: [WriteItem] = []
                    for f in candidates.prefix(min(16, reserve - clean)) {
                        guard let blob = shard.state.frames[f.rawValue].blob else { continue }
                        shard.state.frames[f.rawValue].io = .writing
                        shard.state.frames[f.rawValue].pins += 1
                        let slot = core.withLock { $0.map.target(for: blob) }
                        items.append((s, f, blob, slot, shard.state.frames[f.rawValue].bytes))
                    }
                    shard.state.writesInFlight += items.count
                    return items
                }
                if items.isEmpty { break }
                do throws(HoltError) { try writeOut(items) } catch {
                    guard Syscall.isOutOfSpace(error) else { throw error }
                    return written
                }
                written += items.count
                framesCleanedAhead.add(items.count, ordering: .relaxed)
            }
        }
        return written
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
        bytesRead.add(BlobGeometry.blobSize, ordering: .relaxed)
        if let problem = BlobHeader.problem(bytes, id: id, expected: entry.crc) {
            throw .corrupted(what: "\(id)", reason: "\(entry.slot): \(problem)")
        }
        core.withLock { $0.checkedSlots[entry.slot] = entry.crc }
    }

    /// Releases one pin.
    private func unpin(_ s: Int, _ frame: FrameIndex) {
        let shard = shards[s]
        shard.monitor.withLock { shard.state.frames[frame.rawValue].pins -= 1 }
    }

    /// Before `frame` stops holding `blob` (shard locked, frame unpinned): the directory loses
    /// it and optimistic readers that found it there fail their check (see `FrameDirectory`).
    private func forget(_ blob: BlobID, in frame: Frame) {
        frameDirectory.clear(blob)
        frame.latch._withUnsafeGuaranteedRef { $0.invalidateOptimisticReads() }
    }

    /// Marks a frame dirty (shard locked).
    private func markDirty(_ shard: Shard, _ frame: FrameIndex) {
        if !shard.state.frames[frame.rawValue].dirty {
            shard.state.frames[frame.rawValue].dirty = true
            shard.state.dirtyCount += 1; dirtyFrames.add(1, ordering: .relaxed)
        }
    }

    /// Throws when writes are refused.
    private func checkWritable() throws(HoltError) {
        if closed.load(ordering: .sequentiallyConsistent) { throw .closed }
        if failed.load(ordering: .sequentiallyConsistent) { throw .previousIOFailure }
    }

    // MARK: Writing blobs out

    /// A frame on its way to disk: its shard and frame, which blob, to which slot, from which bytes.
    private typealias WriteItem = (shard: Int, frame: FrameIndex, blob: BlobID, slot: PhysicalSlot, bytes: UnsafeMutableRawPointer)

    /// Writes frames (each marked writing and pinned once by the caller, counted in its shard's
    /// `writesInFlight`) to their target slots: seals each header, writes them all (a batch
    /// through io_uring when there are several), records the new slots and marks them clean.
    /// On a full disk the frames stay dirty and the slots go back to the free list (invariant 5);
    /// on any other failure the store refuses every later write.
    private func writeOut(_ items: [WriteItem]) throws(HoltError) {
        if items.isEmpty { return }
        let sealed = items.map { BlobHeader.seal($0.bytes, id: $0.blob) }
        var failure: HoltError?
        do throws(HoltError) {
            try Failpoints.hit("store.beforeBlobWrite")
            try file.write(batch: zip(items, sealed).map { BlobWrite(slot: $0.slot, buffer: $0.bytes, gap: $1.usage.gap) })
            try Failpoints.hit("store.afterBlobWrite")
        } catch {
            if Syscall.isOutOfSpace(error) {
                outOfSpace.store(true, ordering: .sequentiallyConsistent)
                // The slots hold nothing anyone may read: back to the free list (a blob whose
                // own slot it was loses its entry; its frame stays dirty and holds it).
                core.withLock { core in
                    for item in items { core.map.giveBack(item.slot, of: item.blob) }
                }
            } else {
                failed.store(true, ordering: .sequentiallyConsistent)
            }
            failure = error
        }
        if failure == nil {
            // Recorded before the frames turn clean (invariant 2).
            core.withLock { core in
                for (item, seal) in zip(items, sealed) {
                    core.map.record(item.blob, slot: item.slot, crc: seal.crc, usage: seal.usage)
                    core.checkedSlots[item.slot] = seal.crc
                }
            }
            bytesWritten.add(sealed.reduce(0) { $0 + BlobGeometry.blobSize - $1.usage.gap.count }, ordering: .relaxed)
        }
        for (s, shard) in shards.enumerated() {
            let mine = items.filter { $0.shard == s }
            if mine.isEmpty { continue }
            shard.monitor.withLock {
                for item in mine {
                    shard.state.frames[item.frame.rawValue].io = .idle
                    shard.state.frames[item.frame.rawValue].pins -= 1
                    if failure == nil {
                        shard.state.frames[item.frame.rawValue].dirty = false
                        shard.state.dirtyCount -= 1; dirtyFrames.subtract(1, ordering: .relaxed)
                    }
                }
                shard.state.writesInFlight -= mine.count
                shard.monitor.broadcast()
            }
        }
        if let failure { throw failure }
    }

    // MARK: Checkpoint

    /// Makes the current state of every blob durable as checkpoint `lsn` with root `root`: a
    /// capture and its write in a row (see `captureCheckpoint` and `writeCheckpoint`). The caller
    /// guarantees no concurrent `write`/`allocate`/`free` (reads may run).
    func checkpoint(root: BlobID?, lsn: UInt64, user: [UInt8], catalog: BlobID? = nil) throws(HoltError) {
        try writeCheckpoint(captureCheckpoint(root: root, lsn: lsn, user: user, catalog: catalog))
    }

    /// A checkpoint between its capture and its end.
    struct CheckpointCapture {
        /// The anchor's fields.
        let root: BlobID?
        let lsn: UInt64
        let user: [UInt8]
        /// The column-family catalog's root blob (`Anchor.catalog`).
        var catalog: BlobID? = nil
        /// The map as it was at the capture.
        let view: BlobMap.CheckpointView
        /// The captured (dirty) frames: where each is, which blob, and the slot it goes to.
        let items: [Item]

        /// One captured frame.
        typealias Item = (shard: Int, frame: FrameIndex, blob: BlobID, slot: PhysicalSlot)
    }

    /// Captures checkpoint `lsn`: the state of every blob now. The dirty frames become
    /// *captured* (`Frame.checkpoint`: clean, kept in the cache, copied out before their next
    /// change) and the map's slots are protected; no byte is written. Cheap: flags and a copy of
    /// the map's entries. The caller guarantees no concurrent `write`/`allocate`/`free` during
    /// the capture and no other checkpoint until `writeCheckpoint` returns.
    ///
    /// - Parameters:
    ///   - user: Up to 64 bytes for the tree, returned by `anchor` after a reopen.
    /// - Throws: `.previousIOFailure`, `.closed`.
    ///   - catalog: The column-family catalog's root blob, returned by `anchor` after a reopen.
    func captureCheckpoint(root: BlobID?, lsn: UInt64, user: [UInt8], catalog: BlobID? = nil) throws(HoltError) -> CheckpointCapture {
        precondition(user.count <= Anchor.userSize, "user area is \(Anchor.userSize) bytes")
        try checkWritable()
        var captured: [(shard: Int, frame: FrameIndex, blob: BlobID)] = []
        for (s, shard) in shards.enumerated() {
            shard.monitor.withLock {
                // A reader's write-out under way must land in this checkpoint's map.
                while shard.state.writesInFlight > 0 { shard.monitor.wait() }
                precondition(shard.state.copies.isEmpty, "copies left by an earlier checkpoint")
                for f in shard.state.frames.indices where shard.state.frames[f].dirty {
                    guard let blob = shard.state.frames[f].blob, shard.state.frames[f].io == .idle,
                        shard.state.frames[f].checkpoint == .none
                    else { preconditionFailure("dirty frame \(f) busy or without blob at checkpoint") }
                    shard.state.frames[f].dirty = false
                    shard.state.dirtyCount -= 1; dirtyFrames.subtract(1, ordering: .relaxed)
                    shard.state.frames[f].checkpoint = .pending
                    captured.append((s, FrameIndex(rawValue: f), blob))
                }
            }
        }
        // No dirty frame is left and no writer runs: no write-out can change the map now.
        return core.withLock { core in
            let view = core.map.beginCheckpoint()
            let items = captured.map { item in (item.shard, item.frame, item.blob, core.map.checkpointTarget(for: item.blob)) }
            return CheckpointCapture(root: root, lsn: lsn, user: user, catalog: catalog, view: view, items: items)
        }
    }

    /// Writes a captured checkpoint; writes, allocations and frees may run meanwhile (a write to
    /// a captured frame copies it out first).
    ///
    /// Writes every captured blob to its slot (a few io_uring batches of copies), fsyncs the blob
    /// file, writes and fsyncs `MAP.<generation>`, writes and fsyncs the manifest; only then
    /// frees the slots and the map file only the previous checkpoint used.
    ///
    /// - Throws: `.previousIOFailure`, `.closed`, `.io`; the previous checkpoint is what a reopen
    ///   finds. After a full disk on a blob or map write (`Syscall.isOutOfSpace`) the store goes
    ///   on (the captured frames are dirty again) and a later checkpoint may succeed (invariant
    ///   5); after any other failure it refuses every later write.
    func writeCheckpoint(_ capture: CheckpointCapture) throws(HoltError) {
        var written: [BlobID: BlobMap.Entry] = [:]
        var pending = PendingCheckpointItems(capture.items)
        do throws(HoltError) {
            let batch = 16
            var scratch: [AlignedBuffer] = []
            while !pending.isEmpty {
                // Blobs writers copied out first: their copies are memory beyond the cache, and
                // a writer may be waiting for room for one more (`Shard.copyBound`).
                let chunk = pending.take(batch, preferring: copiedBlobs())
                var copies: [AlignedBuffer] = []
                for item in chunk {
                    if scratch.count <= copies.count { scratch.append(AlignedBuffer(count: BlobGeometry.blobSize)) }
                    copies.append(copyOut(item, into: scratch[copies.count]))
                }
                let sealed = zip(chunk, copies).map { BlobHeader.seal($1.pointer, id: $0.blob) }
                try Failpoints.hit("store.beforeBlobWrite")
                try file.write(batch: zip(zip(chunk, copies), sealed).map {
                    BlobWrite(slot: $0.0.slot, buffer: $0.1.pointer, gap: $1.usage.gap)
                })
                try Failpoints.hit("store.afterBlobWrite")
                bytesWritten.add(sealed.reduce(0) { $0 + BlobGeometry.blobSize - $1.usage.gap.count }, ordering: .relaxed)
                for (item, seal) in zip(chunk, sealed) {
                    let entry = BlobMap.Entry(slot: item.slot, crc: seal.crc, usage: BlobUsage(live: seal.usage.live, dead: seal.usage.dead))
                    written[item.blob] = entry
                    finish(item, entry: entry)
                }
                pending.remove(chunk)
            }
        } catch {
            abandon(pending.items, error)
            throw error
        }
        var mapWriting = false
        do throws(HoltError) {
            try file.sync()
            let generation = core.withLock { $0.anchor.generation } + 1
            var named = capture.view.entries
            for (id, entry) in written { named[id] = entry }
            let mapBytes = BlobMap.encode(named, generation: generation)
            let anchor = Anchor(
                generation: generation, checkpointLSN: capture.lsn, root: capture.root, nextBlobID: capture.view.nextID,
                mapLength: UInt64(mapBytes.count), mapCRC: CRC32C.checksum(mapBytes),
                user: capture.user + [UInt8](repeating: 0, count: Anchor.userSize - capture.user.count),
                catalog: capture.catalog)
            mapWriting = true
            try Failpoints.hit("checkpoint.beforeMapWrite")
            let map = try BlobMap.writeUnsynced(mapBytes, directory: directory, generation: anchor.generation)
            mapWriting = false
            try BlobMap.sync(map, directory: directory)
            try Failpoints.hit("checkpoint.beforeManifestWrite")
            try manifest.write(anchor)
            core.withLock { $0.anchor = anchor }
            try Failpoints.hit("checkpoint.afterManifestWrite")
            // The previous map must be gone for good before its slots are reused: a manifest
            // slot that rots later must not lead back to a checkpoint whose slots were rewritten.
            try Syscall.unlink(BlobMap.path(directory: directory, generation: anchor.generation - 1))
            try Syscall.fsyncDirectory(directory)
        } catch {
            if mapWriting && Syscall.isOutOfSpace(error) {
                // The map file was removed again; the blobs written stay recorded (not durable).
                outOfSpace.store(true, ordering: .sequentiallyConsistent)
                core.withLock { $0.map.abortCheckpoint() }
            } else {
                failed.store(true, ordering: .sequentiallyConsistent)
            }
            throw error
        }
        outOfSpace.store(false, ordering: .sequentiallyConsistent)
        core.withLock { core in
            core.map.checkpointed(capture.view, written: written)
            core.map.checkInvariants()
        }
    }

    /// The bytes captured for `item`: the copy a writer made before changing the frame (or
    /// freeing the blob), else a copy of the frame made now into `scratch` (reads go on; a
    /// writer waits for the copy).
    private func copyOut(_ item: CheckpointCapture.Item, into scratch: AlignedBuffer) -> AlignedBuffer {
        let shard = shards[item.shard]
        let source = shard.monitor.withLock { () -> CopySource in
            while true {
                if let made = shard.state.copies[item.blob] { return .copy(made) }
                let frame = shard.state.frames[item.frame.rawValue]
                precondition(frame.blob == item.blob, "captured \(item.blob) left its frame without a copy")
                switch frame.checkpoint {
                case .copying:
                    shard.monitor.wait()  // a writer is copying it out: its copy will be in `copies`
                case .pending:
                    shard.state.frames[item.frame.rawValue].checkpoint = .copying
                    return .frame(frame.bytes)
                case .none, .copied:
                    preconditionFailure("captured \(item.blob) is \(frame.checkpoint) without a copy")
                }
            }
        }
        switch source {
        case .copy(let made):
            return made
        case .frame(let bytes):
            scratch.copy(from: bytes)
            shard.monitor.withLock {
                shard.state.frames[item.frame.rawValue].checkpoint = .copied
                shard.monitor.broadcast()
            }
            return scratch
        }
    }

    /// Keeps `copy` of captured blob `id` for the checkpoint (shard locked), counted.
    private func keepCopy(_ copy: AlignedBuffer, of id: BlobID, in shard: Shard) {
        shard.state.copies[id] = copy
        let now = checkpointCopies.add(1, ordering: .relaxed).newValue
        checkpointCopiesPeak.max(now, ordering: .relaxed)
    }

    /// Drops the copy of `id` the checkpoint no longer needs, if any (shard locked); a writer
    /// waiting for room for a copy tries again.
    private func dropCopy(of id: BlobID, in shard: Shard) {
        guard shard.state.copies.removeValue(forKey: id) != nil else { return }
        checkpointCopies.subtract(1, ordering: .relaxed)
    }

    /// Where `copyOut` gets a captured blob's bytes.
    private enum CopySource {
        /// The copy a writer made.
        case copy(AlignedBuffer)
        /// The frame itself, marked copying (writers wait; reads go on).
        case frame(UnsafeMutableRawPointer)
    }

    /// `item` is on disk as `entry` says: its frame is an ordinary one again and, unless it
    /// changed since the capture, clean with the new slot in the map (invariant 2).
    private func finish(_ item: CheckpointCapture.Item, entry: BlobMap.Entry) {
        let shard = shards[item.shard]
        shard.monitor.withLock {
            dropCopy(of: item.blob, in: shard)
            let f = item.frame.rawValue
            guard shard.state.frames[f].blob == item.blob, shard.state.table[item.blob] == item.frame else { return }
            shard.state.frames[f].checkpoint = .none
            if !shard.state.frames[f].dirty {
                core.withLock { core in
                    core.map.record(item.blob, slot: item.slot, crc: entry.crc, usage: entry.usage)
                    core.checkedSlots[item.slot] = entry.crc
                }
            }
            shard.monitor.broadcast()
        }
    }

    /// The blobs of which some shard holds a writer's copy now.
    private func copiedBlobs() -> Set<BlobID> {
        var blobs = Set<BlobID>()
        for shard in shards { shard.monitor.withLock { blobs.formUnion(shard.state.copies.keys) } }
        return blobs
    }

    /// A write of the captured `items` (those not yet written) failed with `error`: their frames
    /// are dirty again (their bytes are on no slot the map names), their slots are given back,
    /// and the checkpoint's protection ends. A full disk leaves the store going (invariant 5).
    private func abandon(_ items: [CheckpointCapture.Item], _ error: HoltError) {
        if Syscall.isOutOfSpace(error) {
            outOfSpace.store(true, ordering: .sequentiallyConsistent)
        } else {
            failed.store(true, ordering: .sequentiallyConsistent)
        }
        for item in items {
            let shard = shards[item.shard]
            shard.monitor.withLock {
                while shard.state.frames[item.frame.rawValue].checkpoint == .copying,
                    shard.state.frames[item.frame.rawValue].blob == item.blob { shard.monitor.wait() }
                dropCopy(of: item.blob, in: shard)
                let f = item.frame.rawValue
                if shard.state.frames[f].blob == item.blob, shard.state.table[item.blob] == item.frame {
                    shard.state.frames[f].checkpoint = .none
                    if !shard.state.frames[f].dirty {
                        shard.state.frames[f].dirty = true
                        shard.state.dirtyCount += 1; dirtyFrames.add(1, ordering: .relaxed)
                    }
                }
                core.withLock { $0.map.giveBackCheckpointTarget(item.slot, of: item.blob) }
                shard.monitor.broadcast()
            }
        }
        core.withLock { $0.map.abortCheckpoint() }
    }

    // MARK: Space

    /// The live and dead node bytes of every blob: from the map (counted when each was last
    /// written), or from its frame when it changed since. Call with no writer changing blobs
    /// (the tree's shared lock).
    func blobUsages() -> [BlobID: BlobUsage] {
        var changed: [BlobID: BlobUsage] = [:]
        for shard in shards {
            shard.monitor.withLock {
                for frame in shard.state.frames where frame.dirty || frame.checkpoint != .none {
                    if let blob = frame.blob, frame.io != .loading {
                        changed[blob] = BlobUsage(of: UnsafeRawPointer(frame.bytes))
                    }
                }
            }
        }
        return core.withLock { core in
            var usages = changed
            for (id, entry) in core.map.entries where changed[id] == nil { usages[id] = entry.usage }
            return usages
        }
    }

    /// How the database's files use the disk now (`logBytes` left 0 for the tree to fill).
    /// Call as `blobUsages()`.
    func spaceUsage() throws(HoltError) -> SpaceStatistics {
        let usages = blobUsages()
        var space = SpaceStatistics(
            fileBytes: try file.size(), allocatedBytes: try file.allocatedBytes(), logBytes: 0, metadataBytes: 0,
            blobs: usages.count, freeSlots: core.withLock { $0.map.free.count + $0.map.punching.count },
            liveBytes: 0, deadBytes: 0)
        for usage in usages.values {
            space.liveBytes += usage.live
            space.deadBytes += usage.dead
        }
        space.metadataBytes = Syscall.allocatedBytes(path: directory + "/MANIFEST")
            + Syscall.allocatedBytes(path: BlobMap.path(directory: directory, generation: anchor.generation))
        return space
    }

    /// Gives the free slots' blocks back to the file system: cuts the free slots at the end off
    /// the blob file and punches holes where the others are. Safe beside reads, writes and a
    /// checkpoint: a free slot is named by no map, durable or being written (`BlobMap`
    /// invariants 1 and 5), and the slots being punched are off the free list meanwhile.
    /// - Returns: How many slots were punched or cut off.
    @discardableResult
    /// - Parameter keeping: How many of the lowest free slots that still hold blocks to leave
    ///   alone, for the writes to come (see `BlobMap.slotsToPunch`).
    func reclaimFreeSlots(keeping: Int = 0) throws(HoltError) -> Int {
        try checkWritable()
        let slots = core.withLock { $0.map.slotsToPunch(keeping: keeping) }
        var isHole = true
        var failure: HoltError?
        for slot in slots {
            do throws(HoltError) {
                try Failpoints.hit("store.beforePunch")
                if try !file.punch(slot) {
                    isHole = false
                    break
                }
            } catch {
                failure = error
                isHole = false
                break
            }
        }
        // No mapped read may touch a slot the cut takes away (see `withoutMappedReads`).
        try withoutMappedReads { () throws(HoltError) in
            try core.withLock { (core) throws(HoltError) in
                core.map.punched(slots, isHole: isHole)
                for slot in slots { core.checkedSlots[slot] = nil }
                // Under the lock: no slot past the new end may be handed out before the file is cut.
                if let count = core.map.cutFreeTail() {
                    try Failpoints.hit("store.beforeTruncate")
                    try file.truncate(slots: count)
                }
            }
        }
        if let failure { throw failure }
        return slots.count
    }

    /// Makes blobs `ids` dirty without changing them, so that the next checkpoint writes them
    /// again (into the lowest free slots: how compaction moves blobs toward the front). Call
    /// as a writer would (`write`).
    ///
    /// Unlike `write`, it keeps no copy for open snapshots (`shadows`): a move changes no byte
    /// they read, and compaction beside a snapshot held open would otherwise copy every blob it
    /// moves.
    func touch(_ ids: [BlobID]) throws(HoltError) {
        for id in ids {
            let (shard, frame, _, latch) = try pin(id, writing: true, fresh: false)
            latch.takeUnretainedValue().withExclusive {}
            unpin(shard, frame)
        }
    }

    /// The blobs in the slots at the end of the file, past where the live ones would end if
    /// packed, at most `limit` (see `BlobMap.blobsAtTheEnd`).
    func blobsAtTheEnd(limit: Int) -> [BlobID] {
        core.withLock { $0.map.blobsAtTheEnd(limit: limit) }
    }

    // MARK: Verification

    /// What is wrong with the cache's bookkeeping (invariants 1, 2 and the frames'): empty when
    /// all is well. Call when no read or write is under way (tests do, after each phase).
    func invariantViolations() -> [String] {
        var problems = core.withLock { $0.map.invariantViolations().map { "map: \($0)" } }
        let counted = shards.reduce(0) { sum, shard in sum + shard.monitor.withLock { shard.state.dirtyCount } }
        if counted != dirtyFrames.load(ordering: .relaxed) {
            problems.append("dirty frames \(dirtyFrames.load(ordering: .relaxed)), shards count \(counted)")
        }
        for (s, shard) in shards.enumerated() {
            shard.monitor.withLock {
                var dirty = 0
                for (f, frame) in shard.state.frames.enumerated() {
                    if frame.dirty { dirty += 1 }
                    let restingPins = frame.blob != nil && frame.blob == kept?.id ? 1 : 0
                    if frame.pins != restingPins || frame.io != .idle { problems.append("shard \(s) frame \(f) pinned or busy at rest") }
                    guard let blob = frame.blob else {
                        if frame.dirty { problems.append("free frame \(f) is dirty") }
                        continue
                    }
                    if shardIndex(blob) != s { problems.append("\(blob) in shard \(s)") }
                    if shard.state.table[blob]?.rawValue != f { problems.append("frame \(f) holds \(blob) but the table disagrees") }
                    if !frame.dirty && core.withLock({ $0.map.entry(blob) }) == nil {
                        problems.append("clean frame \(f) holds \(blob), which has no slot (invariant 2)")
                    }
                }
                for (blob, f) in shard.state.table where shard.state.frames[f.rawValue].blob != blob {
                    problems.append("table maps \(blob) to frame \(f.rawValue), which holds another")
                }
                if dirty != shard.state.dirtyCount { problems.append("shard \(s): dirty count \(shard.state.dirtyCount), \(dirty) dirty frames") }
                if shard.state.writesInFlight != 0 { problems.append("shard \(s): \(shard.state.writesInFlight) writes in flight at rest") }
            }
        }
        return problems
    }

    /// Reads every blob the map has a slot for and checks its header and checksum.
    /// - Returns: One line per problem (empty when all is well).
    func verifyBlobs() -> [String] {
        let entries = core.withLock { $0.map.entries }
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
            if core.withLock({ $0.map.entry(id) }) != entry { continue }
            problems.append("\(id) (\(entry.slot)): \(problem)")
        }
        return problems
    }
}
