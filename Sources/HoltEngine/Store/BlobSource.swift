/// The number of a blob: a logical id, stable for the blob's life. The store maps it to a place
/// in the blob file; nodes refer to child blobs by it.
struct BlobID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    var rawValue: UInt64
    init(rawValue: UInt64) { self.rawValue = rawValue }
    static func < (a: BlobID, b: BlobID) -> Bool { a.rawValue < b.rawValue }
    var description: String { "blob \(rawValue)" }
}

/// The fixed geometry of a blob.
///
/// ```
/// 0       64                                4096                          512 KiB
/// | store | ART header (root, free lists…)  | slot table, then node data…  |
/// ```
/// The store owns bytes 0..<64 of every blob (magic, format version, blob id, checksum) and
/// fills them when the blob goes to disk; the ART owns everything from `artHeaderOffset` on.
enum BlobGeometry {
    /// The size of every blob, in bytes.
    static let blobSize = 512 * 1024
    /// The size of the blob header (store part + ART part).
    static let headerSize = 4096
    /// Where the ART's part of the header starts.
    static let artHeaderOffset = 64
}

/// Where the ART gets its blobs: a cache of blob frames over the blob file, or memory in tests.
///
/// Pointers handed to a closure are valid only inside it (the frame is pinned for its duration).
/// Reads may run on several threads at once. `write` of one blob is called by one writer at a
/// time (the tree's serial writer, or parallel writers each holding the blob's write lock,
/// `BlobWriteLocks`); `writeAside`, `allocate` and `free` by one writer at a time (the serial
/// writer, or a parallel one under the ART's structure lock; `free` only by the serial writer).
protocol BlobSource: AnyObject {
    /// Calls `body` with the `blobSize` bytes of blob `id`, for reading.
    func read<R>(_ id: BlobID, _ body: (UnsafeRawPointer) throws(HoltError) -> R) throws(HoltError) -> R
    /// Calls `body` with the bytes of blob `id` for changing them; the blob becomes dirty.
    func write<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R
    /// `write`, for a long change (a compaction, a split): `body` changes a copy of the bytes
    /// while readers go on reading the blob, and the copy replaces them at the end, so readers
    /// are held only for that copy. `body` must not write blob `id` itself through the source.
    func writeAside<R>(_ id: BlobID, _ body: (UnsafeMutableRawPointer) throws(HoltError) -> R) throws(HoltError) -> R
    /// A new blob, all zero bytes, dirty.
    func allocate() throws(HoltError) -> BlobID
    /// Gives blob `id` back; its id may be handed out again after the next checkpoint.
    func free(_ id: BlobID) throws(HoltError)
    /// Whether blob `id` exists (allocated and not freed).
    func contains(_ id: BlobID) -> Bool
    /// Pins blob `id` for reading until `release(_:)`: what `read` does around its closure, for
    /// a walk that takes the next blob before it lets go of this one (lock coupling).
    func holdShared(_ id: BlobID) throws(HoltError) -> HeldBlob
    /// Pins blob `id` for an optimistic read until `release(_:)`: no latch, only its version
    /// noted (`BlobLatch`). Nil when a writer kept changing it for a while: read it held shared.
    func holdOptimistic(_ id: BlobID) throws(HoltError) -> HeldBlob?
    /// Whether no writer changed `blob` since it was held (always true for a shared hold).
    func isUnchanged(_ blob: HeldBlob) -> Bool
    /// Lets go of a blob from `holdShared` or `holdOptimistic`.
    func release(_ blob: HeldBlob)
}

/// A blob held for reading by `BlobSource.holdShared`: its bytes, valid until `release`.
struct HeldBlob {
    /// The blob.
    let id: BlobID
    /// Its bytes.
    let bytes: UnsafeRawPointer
    /// The source's own handle (a shard and frame of the buffer manager).
    let shard: Int
    let frame: Int
    /// The blob's latch (nil in sources without latches), unretained: the source keeps it alive
    /// while the blob is held, and a plain `HeldBlob` costs no reference counting.
    let latch: Unmanaged<BlobLatch>?
    /// For an optimistic hold, the latch's version when it was taken; nil for a shared hold.
    var version: UInt64? = nil
    /// What keeps `bytes` alive when the source does not own them otherwise (a snapshot's blob
    /// image, `SnapshotBlobSource`, retained by the hold and released by `release`); nil for a
    /// cached frame. Unmanaged, so that a `HeldBlob` stays plain bytes on the lookup path.
    var owner: Unmanaged<AlignedBuffer>? = nil
    /// A blob read through the mapped blob file (`BufferManager`, "Mapped reads"): `bytes` are
    /// its slot's mapped pages, `shard` its shard, `version` the shard's load count when held;
    /// no frame, no latch.
    var mapped = false
}
