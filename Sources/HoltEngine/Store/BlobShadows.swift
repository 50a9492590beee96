import Synchronization

/// The before-images of blobs that open snapshots still read: blob-level copy on write.
///
/// Concepts:
/// - An *epoch* numbers the snapshots: `begin()` hands out the current one, a new one whenever a
///   blob changed since the last snapshot began (snapshots begun with no change between them
///   share an epoch, and every image serves them all).
/// - A blob's *last change* is the epoch that was current when it was last changed. A snapshot
///   of epoch `e` sees a blob as it was at its first change at an epoch `>= e`.
/// - A *shadow* is a copy of a blob's bytes taken just before a change (`willChange`), kept with
///   the epochs it serves: `(after, through]`, from the blob's previous change to the change
///   that made it. A snapshot reader resolves a blob to the shadow serving its epoch, or to the
///   live blob when there is none (the blob did not change since the snapshot began).
///
/// The buffer manager calls `willChange` before every change of a blob's bytes (`write`,
/// `writeAside`) and before `free`, and `didAllocate` after `allocate`: blobs that do not change
/// cost nothing, and a change with no snapshot open costs one atomic load. With snapshots open,
/// the first change of a blob since the newest one began copies the blob (512 KiB) once,
/// whatever the number of snapshots it serves.
///
/// Invariants:
/// 1. A blob changed since a snapshot of epoch `e` began has exactly one shadow whose range
///    holds `e`, while that snapshot is open.
/// 2. Every shadow's range holds at least one open epoch, but between a writer's copy and its
///    insertion (`willChange`), where it is dropped instead when the range emptied meanwhile.
/// 3. `shadowBytes` is the sum of the kept images' sizes; nothing is kept once no snapshot is open.
///
/// Memory: images go to memory up to `memoryLimit` bytes, then to the `ShadowSpill` file (a
/// reader of a spilled image reads it back into a buffer of its own), so what open snapshots
/// hold in memory is bounded; a spill that cannot be written (a full disk) keeps the image in
/// memory rather than fail the writer.
///
/// Locking: `state` is guarded by its `Locked`; `openCount` is an atomic copy of the number of
/// open snapshots for writers' fast path (a snapshot begins holding the tree's shared lock and
/// a blob changes under its exclusive lock, so a writer never misses one). Images are immutable
/// once inserted and reference-counted: a reader keeps the one it reads alive (`HeldBlob.owner`),
/// so releasing a snapshot or closing the store never frees bytes under a reader.
final class BlobShadows: Sendable {
    /// One before-image and the epochs it serves.
    struct Shadow {
        /// The epochs served: `after < e <= through`.
        let after: UInt64
        let through: UInt64
        /// The blob's bytes before the change.
        let image: Image
    }

    /// Where a shadow's bytes are.
    enum Image {
        /// In memory.
        case memory(AlignedBuffer)
        /// In slot `Int` of the spill file.
        case spilled(Int)
    }

    /// Everything but the fast-path count, guarded by `state`'s lock.
    private struct State {
        /// The current epoch.
        var epoch: UInt64 = 0
        /// Whether a blob changed since the current epoch's first snapshot began.
        var changedSinceBegin = true
        /// Open snapshots per epoch.
        var open: [UInt64: Int] = [:]
        /// The epoch of each blob's last change, for blobs changed while snapshots were open (a
        /// blob missing changed before every open snapshot began).
        var lastChanged: [BlobID: UInt64] = [:]
        /// The kept images, per blob, oldest first.
        var shadows: [BlobID: [Shadow]] = [:]
        /// Kept images, their bytes in memory (spilled ones not counted), the spilled ones; the
        /// most bytes ever kept in memory at once.
        var shadowCount = 0, shadowBytes = 0, spilledCount = 0, peakBytes = 0
        /// Images made since the store opened.
        var shadowsMade = 0
        /// Set when the store closed: snapshots read nothing more.
        var closed = false

        func servesOpen(after: UInt64, through: UInt64) -> Bool {
            open.keys.contains { $0 > after && $0 <= through }
        }
    }

    private let state = Locked(State())
    /// The bytes of images kept in memory before new ones go to `spill`.
    let memoryLimit: Int
    /// Where images go past `memoryLimit` (nil: nowhere, all stay in memory).
    private let spill: ShadowSpill?

    /// Shadows kept in memory up to `memoryLimit` bytes, then in a spill file in `directory`
    /// (nil: memory only).
    init(directory: String? = nil, memoryLimit: Int = .max) {
        self.memoryLimit = memoryLimit
        spill = directory.map { ShadowSpill(directory: $0) }
    }
    /// Freed images kept for the next copies (at most `spareLimit`): a fresh 512 KiB buffer is
    /// mapped and faulted in page by page, a reused one is not. Guarded by its lock.
    private let spare = Locked<[AlignedBuffer]>([])
    /// How many freed images `spare` keeps (8 MiB).
    static let spareLimit = 16
    /// The number of open snapshots (the writers' fast path; see the type's comment).
    private let openCount = Atomic<Int>(0)

    /// Whether any snapshot is open (a writer then calls `willChange`).
    @inline(__always)
    var isTracking: Bool { openCount.load(ordering: .acquiring) > 0 }

    // MARK: Snapshots

    /// Opens a snapshot and returns its epoch. Call where no blob changes meanwhile (the tree's
    /// shared lock). Throws `.closed` after `close()`.
    func begin() throws(HoltError) -> UInt64 {
        try state.withLock { (s) throws(HoltError) -> UInt64 in
            guard !s.closed else { throw .closed }
            if s.changedSinceBegin || s.open[s.epoch] == nil {
                s.epoch += 1
                s.changedSinceBegin = false
            }
            s.open[s.epoch, default: 0] += 1
            openCount.wrappingAdd(1, ordering: .releasing)
            return s.epoch
        }
    }

    /// Closes a snapshot of `epoch`: the images only it needed are freed (all of them when it was
    /// the last one open).
    func end(_ epoch: UInt64) {
        var (freed, images) = state.withLock { (s) -> ([Shadow], [AlignedBuffer]) in
            guard let count = s.open[epoch] else { return ([], []) }
            s.open[epoch] = count > 1 ? count - 1 : nil
            openCount.wrappingSubtract(1, ordering: .releasing)
            guard count == 1 else { return ([], []) }
            var freed: [Shadow] = []
            if s.open.isEmpty {
                freed = s.shadows.values.flatMap { $0 }
                s.shadows = [:]
                s.lastChanged = [:]
            } else {
                for (id, list) in s.shadows {
                    let kept = list.filter { s.servesOpen(after: $0.after, through: $0.through) }
                    if kept.count == list.count { continue }
                    freed += list.filter { !s.servesOpen(after: $0.after, through: $0.through) }
                    s.shadows[id] = kept.isEmpty ? nil : kept
                }
            }
            return (freed, Self.forget(freed, in: &s))
        }
        releaseSlots(freed)
        freed = []
        recycle(&images)
    }

    /// Takes `freed` out of the counts (state locked); returns their memory images.
    private static func forget(_ freed: [Shadow], in s: inout State) -> [AlignedBuffer] {
        var images: [AlignedBuffer] = []
        for shadow in freed {
            s.shadowCount -= 1
            switch shadow.image {
            case .memory(let image):
                s.shadowBytes -= image.count
                images.append(image)
            case .spilled:
                s.spilledCount -= 1
            }
        }
        return images
    }

    /// Gives the spill slots of `freed` back.
    private func releaseSlots(_ freed: [Shadow]) {
        for case .spilled(let slot) in freed.map(\.image) { spill?.release(slot) }
    }

    /// Keeps up to `spareLimit` of `freed`'s images that no reader holds for the next copies;
    /// the rest are freed here, outside the state's lock (or by the last reader holding one).
    private func recycle(_ freed: inout [AlignedBuffer]) {
        guard !freed.isEmpty else { return }
        var kept: [AlignedBuffer] = []
        while var image = freed.popLast() {
            if kept.count < Self.spareLimit, isKnownUniquelyReferenced(&image) { kept.append(image) }
        }
        guard !kept.isEmpty else { return }
        spare.withLock { spare in
            let room = max(0, Self.spareLimit - spare.count)
            spare += kept.prefix(room)
        }
    }

    /// Closes every snapshot: later reads of them throw `.closed` (the store is closing).
    func close() {
        let freed = state.withLock { (s) -> [Shadow] in
            s.closed = true
            let freed = s.shadows.values.flatMap { $0 }
            s.shadows = [:]
            s.lastChanged = [:]
            _ = Self.forget(freed, in: &s)
            return freed
        }
        releaseSlots(freed)
        spare.withLock { $0 = [] }
    }

    /// Whether `close()` ran.
    var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: Writers' hooks

    /// Blob `id`, whose bytes are at `bytes`, is about to change (or be freed): copies it aside
    /// when an open snapshot began since its last change. Call only from the tree's one writer
    /// (no batch is applied in parallel while a snapshot is open),
    /// before the change, while no one else can change the bytes (the frame pinned for writing).
    func willChange(_ id: BlobID, bytes: UnsafeRawPointer) {
        guard isTracking else { return }
        let range = state.withLock { (s) -> (UInt64, UInt64, spilling: Bool)? in
            s.changedSinceBegin = true
            let last = s.lastChanged[id] ?? 0
            let now = s.epoch
            guard last < now else { return nil }
            s.lastChanged[id] = now
            guard s.servesOpen(after: last, through: now) else { return nil }
            return (last, now, s.shadowBytes + BlobGeometry.blobSize > memoryLimit)
        }
        guard let (after, through, spilling) = range else { return }
        // Copied holding no lock: readers resolving `id` meanwhile find no shadow and read the
        // live blob, which is still unchanged (the writer changes it only after this returns).
        let image: Image
        if spilling, let spill, let slot = try? spill.write(bytes) {
            image = .spilled(slot)
        } else if let reused = spare.withLock({ $0.popLast() }) {
            reused.copy(from: bytes)
            image = .memory(reused)
        } else {
            image = .memory(AlignedBuffer(copying: bytes, count: BlobGeometry.blobSize))
        }
        let kept = state.withLock { s -> Bool in
            guard !s.closed, s.servesOpen(after: after, through: through) else { return false }
            s.shadows[id, default: []].append(Shadow(after: after, through: through, image: image))
            s.shadowCount += 1
            switch image {
            case .memory(let buffer): s.shadowBytes += buffer.count
            case .spilled: s.spilledCount += 1
            }
            s.peakBytes = max(s.peakBytes, s.shadowBytes)
            s.shadowsMade += 1
            return true
        }
        if !kept, case .spilled(let slot) = image { spill?.release(slot) }
    }

    /// Blob `id` was just allocated: no open snapshot can reach it, so its changes need no image
    /// until a snapshot begins.
    func didAllocate(_ id: BlobID) {
        guard isTracking else { return }
        state.withLock { s in
            s.changedSinceBegin = true
            s.lastChanged[id] = s.epoch
        }
    }

    // MARK: Readers

    /// The image of blob `id` a snapshot of `epoch` reads, or nil when the blob has not changed
    /// since it began (read the live blob, holding its latch shared, and ask again). A spilled
    /// image is read back into a buffer of the caller's (its slot stays while the snapshot of
    /// `epoch` is open, which the caller's read keeps).
    /// - Throws: `.closed` after `close()`; `.io` when a spilled image cannot be read back.
    func image(of id: BlobID, at epoch: UInt64) throws(HoltError) -> AlignedBuffer? {
        // Closed is checked under the same lock as the lookup: `close()` empties the shadows, and
        // a lookup after it would send the reader to the live blob.
        let found = try state.withLock { (s) throws(HoltError) -> Image? in
            guard !s.closed else { throw .closed }
            return s.shadows[id]?.first { $0.after < epoch && epoch <= $0.through }?.image
        }
        switch found {
        case nil: return nil
        case .memory(let image): return image
        case .spilled(let slot):
            guard let spill else { preconditionFailure("a spilled image without a spill") }
            return try spill.read(slot)
        }
    }

    /// Whether a snapshot of `epoch` reads blob `id` from an image.
    func hasImage(of id: BlobID, at epoch: UInt64) -> Bool {
        state.withLock { s in s.shadows[id]?.contains { $0.after < epoch && epoch <= $0.through } ?? false }
    }

    // MARK: Statistics

    /// What the open snapshots hold now.
    struct Statistics: Equatable {
        /// Open snapshots.
        var open = 0
        /// Blob images kept for them, their bytes in memory, and how many of them are in the
        /// spill file instead.
        var shadows = 0, bytes = 0, spilled = 0
        /// The most image bytes kept at once since the store opened.
        var peakBytes = 0
        /// Images made since the store opened.
        var made = 0
    }

    /// The counts now.
    var statistics: Statistics {
        state.withLock { s in
            Statistics(open: s.open.values.reduce(0, +), shadows: s.shadowCount, bytes: s.shadowBytes,
                       spilled: s.spilledCount, peakBytes: s.peakBytes, made: s.shadowsMade)
        }
    }
}
