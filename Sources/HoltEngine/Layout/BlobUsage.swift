/// How the bytes of one ART blob are used, as its header says: what the store needs to know to
/// leave the unused middle of a blob off the disk and to report space.
///
/// An ART blob keeps its slot table at the front and its node data at the back, growing toward
/// each other (`PageView`): the bytes between them, the *free gap*, hold nothing. `gap` is the
/// part of it that lies on whole 4 KiB blocks, which the store neither writes nor checksums but
/// punches out of the blob's slot.
struct BlobUsage: Sendable, Equatable {
    /// Bytes of live nodes.
    var live: Int = 0
    /// Bytes of freed nodes not yet compacted away.
    var dead: Int = 0
    /// The 4 KiB-aligned part of the free gap (empty when it covers no whole block).
    var gap: Range<Int> = 0..<0

    /// The usage of an unknown or non-ART blob: nothing known, no gap.
    static let unknown = BlobUsage()

    /// The usage the ART header of the blob at `blob` states, or `.unknown` when the bytes are
    /// not a sound ART blob header (the store then writes and checksums the whole blob).
    init(of blob: UnsafeRawPointer) {
        let page = PageView(base: blob, id: BlobID(rawValue: 0))
        guard (try? page.validateHeader()) != nil else { return }
        live = page.liveBytes
        dead = page.deadBytes
        let block = BlobGeometry.headerSize  // 4 KiB: the O_DIRECT and file-system block
        let start = (page.slotTableEnd + block - 1) / block * block
        // The last block always holds node data (the root): the gap ends before it.
        let end = min(page.dataLow / block * block, BlobGeometry.blobSize - block)
        if start < end { gap = start..<end }
    }

    /// A usage with the given counts and no gap (as read back from a blob map).
    init(live: Int = 0, dead: Int = 0, gap: Range<Int> = 0..<0) {
        self.live = live
        self.dead = dead
        self.gap = gap
    }
}
