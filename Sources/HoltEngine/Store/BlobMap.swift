/// The map from logical blob ids to physical slots, with the shadow-paging rules of checkpoints.
///
/// Concepts: a *logical* `BlobID` is what the tree stores and never changes; a `PhysicalSlot` is
/// where the blob's bytes are now. The *durable* slots are the ones the last durable checkpoint's
/// map refers to.
///
/// Invariants:
/// 1. A durable slot is never handed out for writing (`target(for:)`), so a crash at any moment
///    leaves the last checkpoint's blobs as they were; the log redoes the rest.
/// 2. A slot is in at most one of: an entry of `entries`, `durable`, `free` — except that a
///    durable slot may also be an entry's slot (the blob is unchanged since the checkpoint).
/// 3. Durable slots that the current map no longer uses are freed only by `checkpointed()`,
///    that is after the new manifest is durable.
/// 4. A freed logical id is handed out again only after the next checkpoint (`checkpointed()`):
///    the durable tree may still point at it.
/// 5. While a checkpoint is being written (`beginCheckpoint` to `checkpointed`/`abortCheckpoint`),
///    every slot its map will name (`checkpointing`) is protected like a durable one, so writes
///    that run beside it (eviction, `release`) never touch what it is making durable.
struct BlobMap {
    /// Where a blob is and the checksum it was written with (checked again on every read, so a
    /// slot holding an older version of the blob is caught).
    struct Entry: Equatable, Sendable {
        var slot: PhysicalSlot
        var crc: UInt32
        /// The blob's live and dead node bytes when it was written (0 and 0 when unknown:
        /// a map written before these were kept). Its `gap` is not kept.
        var usage = BlobUsage.unknown
    }

    /// The current map (durable entries plus writes since the checkpoint).
    private(set) var entries: [BlobID: Entry]
    /// The slots of the last durable checkpoint.
    private(set) var durable: Set<PhysicalSlot>
    /// Slots below `slotCount` that hold nothing anyone needs, highest first (so `popLast` hands
    /// out the lowest: blobs gather toward the front of the file and its tail can be cut off).
    private(set) var free: [PhysicalSlot]
    /// Free slots known to be holes (punched, or past the old end of the file): nothing to
    /// give back. A subset of `free`.
    private(set) var holes: Set<PhysicalSlot> = []
    /// Free slots taken out of `free` while they are punched (`slotsToPunch` to `punched`).
    private(set) var punching: Set<PhysicalSlot> = []
    /// One past the highest slot ever handed out.
    private(set) var slotCount: UInt64
    /// The next never-used logical id.
    private(set) var nextID: UInt64
    /// Logical ids free for reuse now.
    private(set) var freeIDs: [BlobID]
    /// Logical ids freed since the last checkpoint (reusable after the next one).
    private(set) var pendingIDs: [BlobID] = []
    /// The slots the checkpoint being written will name (invariant 5); empty between checkpoints.
    private(set) var checkpointing: Set<PhysicalSlot> = []

    /// What a checkpoint captured of the map when it began: the entries and `nextID` its map
    /// file starts from, and how many of `pendingIDs` it covers.
    struct CheckpointView: Sendable {
        var entries: [BlobID: Entry]
        var nextID: UInt64
        var pendingCount: Int
    }

    /// The map of a durable checkpoint: `entries` as read from its map file, `nextID` from its
    /// anchor, `fileSlots` the number of slots the blob file has. Every slot and id not in
    /// `entries` is free.
    init(durable entries: [BlobID: Entry], nextID: UInt64, fileSlots: UInt64) {
        self.entries = entries
        self.nextID = nextID
        let used = Set(entries.values.map(\.slot))
        durable = used
        slotCount = max(fileSlots, (used.map(\.rawValue).max() ?? 0) + (used.isEmpty ? 0 : 1))
        // Highest first so popLast hands out the lowest slots first.
        free = (0..<slotCount).reversed().map { PhysicalSlot($0) }.filter { !used.contains($0) }
        freeIDs = (1..<max(nextID, 1)).reversed().map { BlobID(rawValue: $0) }.filter { entries[$0] == nil }
    }

    /// The number of blobs that have a slot.
    var count: Int { entries.count }

    /// Where blob `id` is, or `nil` when it was never written (or does not exist).
    func entry(_ id: BlobID) -> Entry? { entries[id] }

    /// A logical id for a new blob.
    mutating func newID() -> BlobID {
        if let id = freeIDs.popLast() { return id }
        defer { nextID += 1 }
        return BlobID(rawValue: nextID)
    }

    /// Where to write blob `id` now: the lowest free slot when it lies before the blob's own;
    /// else its own slot when the durable checkpoint does not use it (overwriting it is
    /// crash-safe), else a free slot (shadow copy). Call `record` after the
    /// write succeeded.
    mutating func target(for id: BlobID) -> PhysicalSlot {
        // A free slot nearer the front wins over the blob's own: blobs drift toward the front.
        if let current = entries[id], !isProtected(current.slot), !(free.last.map { $0 < current.slot } ?? false) {
            return current.slot
        }
        if let slot = free.popLast() {
            holes.remove(slot)
            return slot
        }
        defer { slotCount += 1 }
        return PhysicalSlot(slotCount)
    }

    /// Blob `id` now sits in `slot`, written with checksum `crc`. Its previous slot is freed
    /// unless the durable checkpoint uses it.
    mutating func record(_ id: BlobID, slot: PhysicalSlot, crc: UInt32, usage: BlobUsage = .unknown) {
        if let old = entries[id], old.slot != slot, !isProtected(old.slot) { addFree(old.slot) }
        entries[id] = Entry(slot: slot, crc: crc, usage: BlobUsage(live: usage.live, dead: usage.dead))
    }

    /// A write of blob `id` to `slot` (from `target(for:)`) failed part-way: the slot goes back
    /// to the free list. When it was the blob's own (non-durable) slot, its bytes may now be half
    /// old, half new, so the entry goes too: the blob lives only in its dirty frame, like a new
    /// blob, until a write succeeds (`record`).
    mutating func giveBack(_ slot: PhysicalSlot, of id: BlobID) {
        guard !isProtected(slot), !free.contains(slot) else { return }
        if entries[id]?.slot == slot { entries[id] = nil }
        addFree(slot)
    }

    /// Blob `id` is gone: its slot is freed now unless durable, its id after the next checkpoint.
    mutating func release(_ id: BlobID) {
        if let old = entries.removeValue(forKey: id), !isProtected(old.slot) { addFree(old.slot) }
        pendingIDs.append(id)
    }

    /// The current map became durable (its manifest is on disk): frees the slots only the
    /// previous checkpoint used and the ids freed since.
    mutating func checkpointed() {
        let view = beginCheckpoint()
        checkpointed(view, written: [:])
    }

    /// Whether the last durable checkpoint uses `slot` (for tests and invariants).
    func isDurable(_ slot: PhysicalSlot) -> Bool { durable.contains(slot) }

    /// Whether no write may go to `slot`: the durable checkpoint or the one being written uses it.
    func isProtected(_ slot: PhysicalSlot) -> Bool { durable.contains(slot) || checkpointing.contains(slot) }

    /// Puts `slot` on the free list in its place (highest first).
    private mutating func addFree(_ slot: PhysicalSlot) {
        var low = 0, high = free.count
        while low < high {
            let mid = (low + high) / 2
            if free[mid] > slot { low = mid + 1 } else { high = mid }
        }
        free.insert(slot, at: low)
    }

    // MARK: Giving space back

    /// Takes the free slots that may still hold blocks off the free list (so no write is sent
    /// there) for the caller to punch, but the lowest `keeping` of them (the next writes take
    /// the lowest free slots: punching those would only make the file system allocate their
    /// blocks again); pair with `punched(_:)`.
    mutating func slotsToPunch(keeping: Int = 0) -> [PhysicalSlot] {
        // `free` is sorted highest first (the lowest is handed out next, from its end).
        var kept = 0
        var punch = Set<PhysicalSlot>()
        for slot in free.reversed() where !holes.contains(slot) {
            kept += 1
            if kept > keeping { punch.insert(slot) }
        }
        guard !punch.isEmpty else { return [] }
        let taken = free.filter { punch.contains($0) }
        free.removeAll { punch.contains($0) }
        punching.formUnion(taken)
        return taken
    }

    /// The slots from `slotsToPunch` are holes now (or could not be punched: `isHole` false);
    /// they go back to the free list.
    mutating func punched(_ slots: [PhysicalSlot], isHole: Bool) {
        for slot in slots {
            punching.remove(slot)
            addFree(slot)
            if isHole { holes.insert(slot) }
        }
    }

    /// Drops the free slots at the end of the file from the map; returns the new slot count when
    /// it shrank (the caller cuts the file there, before anything else may hand a slot out).
    mutating func cutFreeTail() -> UInt64? {
        let before = slotCount
        while slotCount > 0, let highest = free.first, highest.rawValue == slotCount - 1 {
            free.removeFirst()
            holes.remove(highest)
            slotCount -= 1
        }
        return slotCount < before ? slotCount : nil
    }

    /// The blobs in slots at or past the number of blobs, highest first, at most `limit`: the
    /// blobs to move so that the file could end right after the last of them (written again,
    /// each goes to the lowest free slot, which lies below: there are as many free slots below
    /// that line as blobs above it).
    func blobsAtTheEnd(limit: Int) -> [BlobID] {
        let live = UInt64(entries.count)
        guard !free.isEmpty, slotCount > live else { return [] }
        return entries.filter { $0.value.slot.rawValue >= live }.sorted { $0.value.slot > $1.value.slot }.prefix(limit).map(\.key)
    }

    // MARK: A checkpoint written beside other writes

    /// Starts a checkpoint of the map as it is now: protects every slot it names (invariant 5)
    /// and returns what its map file will start from. Pair with `checkpointed` or `abortCheckpoint`.
    mutating func beginCheckpoint() -> CheckpointView {
        precondition(checkpointing.isEmpty, "a checkpoint is already being written")
        checkpointing = Set(entries.values.map(\.slot))
        return CheckpointView(entries: entries, nextID: nextID, pendingCount: pendingIDs.count)
    }

    /// The slot the checkpoint being written puts blob `id` in (a new one, or its own when no
    /// checkpoint uses that), protected until the checkpoint ends.
    mutating func checkpointTarget(for id: BlobID) -> PhysicalSlot {
        let slot = target(for: id)
        checkpointing.insert(slot)
        return slot
    }

    /// The checkpoint begun as `view`, with the blobs it wrote at `written`, became durable: its
    /// slots are now the durable ones; the slots only the previous checkpoint or this one's view
    /// used, and no entry uses now, are free; so are the ids freed before it began.
    mutating func checkpointed(_ view: CheckpointView, written: [BlobID: Entry]) {
        var named = view.entries
        for (id, entry) in written { named[id] = entry }
        let now = Set(named.values.map(\.slot))
        let live = Set(entries.values.map(\.slot))
        for slot in durable.union(checkpointing) where !now.contains(slot) && !live.contains(slot) { addFree(slot) }
        durable = now
        checkpointing = []
        freeIDs += pendingIDs.prefix(view.pendingCount)
        pendingIDs.removeFirst(view.pendingCount)
    }

    /// The checkpoint being written failed (a full disk): its slots are protected no more; those
    /// no entry and no durable checkpoint use go back to the free list.
    mutating func abortCheckpoint() {
        let live = Set(entries.values.map(\.slot))
        let protectedBefore = checkpointing
        checkpointing = []
        for slot in protectedBefore where !durable.contains(slot) && !live.contains(slot) && !free.contains(slot) {
            addFree(slot)
        }
    }

    /// Blob `id`'s write to `slot` for the checkpoint being written failed part-way: like
    /// `giveBack`, once the slot is no longer protected.
    mutating func giveBackCheckpointTarget(_ slot: PhysicalSlot, of id: BlobID) {
        checkpointing.remove(slot)
        giveBack(slot, of: id)
    }

    // MARK: The map file

    /// "HMAP" read as a little-endian UInt32.
    static let magic: UInt32 = 0x5041_4D48
    /// The format version of `MAP.<g>` files (1; it was the manifest's version until the
    /// manifest went to 2 with column families, and stays 1: the map did not change).
    static let formatVersion: UInt32 = 1
    /// The size of the map file's header.
    static let headerSize = 32
    /// The size of one entry.
    static let entrySize = 24

    /// The bytes of the map file of checkpoint `generation` (entries sorted by id).
    ///
    /// ```
    /// 0      4         8            16      24         32                       end-4  end
    /// | HMAP | version | generation | count | reserved | count × (id, slot, crc, usage) | crc |
    /// ```
    /// `usage` is the blob's live node bytes ÷ 8 in its low 16 bits and its dead node bytes ÷ 8
    /// in its high 16 bits (both fit: a blob's data area is under 512 KiB); 0 in maps of
    /// earlier builds, read as "unknown".
    func encode(generation: UInt64) -> [UInt8] {
        Self.encode(entries, generation: generation)
    }

    /// The bytes of a map file of checkpoint `generation` holding `entries` (see `encode(generation:)`).
    static func encode(_ entries: [BlobID: Entry], generation: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.append(Self.magic)
        w.append(Self.formatVersion)
        w.append(generation)
        w.append(UInt64(entries.count))
        w.append(UInt64(0))
        for (id, entry) in entries.sorted(by: { $0.key < $1.key }) {
            w.append(id.rawValue)
            w.append(entry.slot.rawValue)
            w.append(entry.crc)
            w.append(UInt32(entry.usage.live / 8) | UInt32(entry.usage.dead / 8) << 16)
        }
        let crc = CRC32C.checksum(w.bytes)
        w.append(crc)
        return w.bytes
    }

    /// The entries of a map file's bytes.
    /// - Throws: `.corrupted(what: "map ...")` when anything does not add up.
    static func decode(_ bytes: [UInt8], generation: UInt64, what: String) throws(HoltError) -> [BlobID: Entry] {
        let r = ByteReader(bytes: bytes)
        guard bytes.count >= headerSize + 4 else { throw .corrupted(what: what, reason: "truncated") }
        let body = Array(bytes[0..<(bytes.count - 4)])
        guard r.load(UInt32.self, at: bytes.count - 4) == CRC32C.checksum(body) else {
            throw .corrupted(what: what, reason: "bad checksum")
        }
        guard r.load(UInt32.self, at: 0) == magic else { throw .corrupted(what: what, reason: "bad magic") }
        if let version = r.load(UInt32.self, at: 4), version != Self.formatVersion {
            throw .unsupportedFormat(version: version)
        }
        guard r.load(UInt64.self, at: 8) == generation else {
            throw .corrupted(what: what, reason: "generation \(r.load(UInt64.self, at: 8) ?? 0), expected \(generation)")
        }
        guard let count = r.load(UInt64.self, at: 16), count <= UInt64(bytes.count / entrySize),
            headerSize + Int(count) * entrySize + 4 == bytes.count
        else { throw .corrupted(what: what, reason: "bad entry count") }
        var entries: [BlobID: Entry] = [:]
        var slots: Set<PhysicalSlot> = []
        for i in 0..<Int(count) {
            let at = headerSize + i * entrySize
            guard let id = r.load(UInt64.self, at: at), let slot = r.load(UInt64.self, at: at + 8),
                let crc = r.load(UInt32.self, at: at + 16), let usage = r.load(UInt32.self, at: at + 20)
            else { throw .corrupted(what: what, reason: "truncated entry \(i)") }
            let blob = BlobID(rawValue: id)
            guard id != 0, entries[blob] == nil, slots.insert(PhysicalSlot(slot)).inserted else {
                throw .corrupted(what: what, reason: "duplicate blob or slot in entry \(i)")
            }
            entries[blob] = Entry(
                slot: PhysicalSlot(slot), crc: crc, usage: BlobUsage(live: Int(usage & 0xFFFF) * 8, dead: Int(usage >> 16) * 8))
        }
        return entries
    }
}

// MARK: Map files

#if canImport(Glibc)
import Glibc
#endif

extension BlobMap {
    /// The path of the map file of checkpoint `generation`.
    static func path(directory: String, generation: UInt64) -> String { "\(directory)/MAP.\(generation)" }

    /// Writes `bytes` as the map file of checkpoint `generation` and makes it durable (the file
    /// and its directory entry), before any manifest refers to it.
    static func write(_ bytes: [UInt8], directory: String, generation: UInt64) throws(HoltError) {
        try sync(try writeUnsynced(bytes, directory: directory, generation: generation), directory: directory)
    }

    /// An open map file whose bytes are written but not yet durable.
    struct UnsyncedFile {
        /// Its descriptor (closed by `sync`).
        var fd: Int32
        /// Its path.
        var path: String
    }

    /// Creates the map file of checkpoint `generation` and writes `bytes` into it, not synced.
    /// On failure (a full disk, say) the partial file is removed again: nothing refers to it.
    static func writeUnsynced(_ bytes: [UInt8], directory: String, generation: UInt64) throws(HoltError) -> UnsyncedFile {
        let path = path(directory: directory, generation: generation)
        let fd = try Syscall.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do throws(HoltError) {
            try Syscall.pwrite(fd, bytes: bytes, offset: 0, path)
        } catch {
            try? Syscall.close(fd)
            try? Syscall.unlink(path)
            throw error
        }
        return UnsyncedFile(fd: fd, path: path)
    }

    /// Makes a map file from `writeUnsynced` durable (the file and its directory entry), before
    /// any manifest refers to it, and closes it. A failure here is an fsync's: never retried.
    static func sync(_ file: UnsyncedFile, directory: String) throws(HoltError) {
        defer { try? Syscall.close(file.fd) }
        try Syscall.fdatasync(file.fd, file.path)
        try Syscall.fsyncDirectory(directory)
    }

    /// Reads and checks the map file `anchor` refers to.
    /// - Throws: `.corrupted` when it is missing, has another length or checksum than the anchor
    ///   says, or does not decode.
    static func read(directory: String, anchor: Anchor) throws(HoltError) -> [BlobID: Entry] {
        let path = path(directory: directory, generation: anchor.generation)
        let what = "map MAP.\(anchor.generation)"
        guard Syscall.exists(path) else { throw .corrupted(what: what, reason: "missing") }
        let fd = try Syscall.open(path, flags: O_RDONLY)
        defer { try? Syscall.close(fd) }
        let bytes = try Syscall.readAll(fd, path)
        guard UInt64(bytes.count) == anchor.mapLength, CRC32C.checksum(bytes) == anchor.mapCRC else {
            throw .corrupted(what: what, reason: "length or checksum differs from the manifest's")
        }
        let entries = try decode(bytes, generation: anchor.generation, what: what)
        for id in entries.keys where id.rawValue >= anchor.nextBlobID {
            throw .corrupted(what: what, reason: "\(id) is not below the next id \(anchor.nextBlobID)")
        }
        return entries
    }
}
