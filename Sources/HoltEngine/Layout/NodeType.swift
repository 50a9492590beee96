/// The kind of an ART node, as stored in the top byte of its slot-table entry.
///
/// See docs/FORMAT.md, "ART blob layout", for the bytes of each kind.
enum NodeType: UInt8, Sendable {
    /// A free slot (its entry links the free-slot list).
    case invalid = 0
    /// The end of one key: the rest of the key (suffix) and the value.
    case leaf = 1
    /// A compressed path of 1...`ARTLayout.prefixCapacity` bytes and one child.
    case prefix = 2
    /// A reference to a child blob; the child blob's root node stands at this position.
    case blob = 3
    /// Up to 4 children, keys sorted.
    case node4 = 4
    /// Up to 16 children, keys sorted.
    case node16 = 5
    /// Up to 48 children through a 256-byte index.
    case node48 = 6
    /// A child per byte value.
    case node256 = 7
    /// The root of an empty tree.
    case emptyRoot = 8

    /// Whether the node has children addressed by a key byte.
    var isInner: Bool { rawValue >= NodeType.node4.rawValue && rawValue <= NodeType.node256.rawValue }
}

/// Byte layout constants of the ART part of a blob (see docs/FORMAT.md).
enum ARTLayout {
    /// "HART", little-endian: marks a formatted ART blob.
    static let magic: UInt32 = 0x5452_4148
    /// The version of the ART blob format.
    static let formatVersion: UInt32 = 1
    /// Where the ART header starts.
    static let header = BlobGeometry.artHeaderOffset
    /// Where the slot table starts (entry `i` at `slotTable + 4 * i`).
    static let slotTable = BlobGeometry.headerSize
    /// The most slots a blob can have (slot numbers are 16-bit; slot 0 means "none").
    static let maxSlots = 65_535
    /// The bits of a Blob node that hold the child blob id (the top 16 hold the root slot).
    static let blobIDMask: UInt64 = (1 << 48) - 1
    /// The most path bytes one Prefix node holds; longer paths are chains.
    static let prefixCapacity = 124

    // Header field offsets, relative to `header`.
    static let magicField = 0
    static let versionField = 4
    static let rootField = 8
    static let slotCountField = 10
    static let freeSlotHeadField = 12
    static let freeSlotCountField = 14
    static let dataLowField = 16
    static let dataEndField = 20
    static let deadBytesField = 24

    // Fixed node sizes (all nodes are 8-byte aligned).
    static let blobNodeSize = 8
    static let emptyRootSize = 8
    static let node4Size = 16
    static let node16Size = 56
    static let node48Size = 360
    static let node256Size = 520

    /// Rounds `n` up to a multiple of 8.
    @inline(__always) static func align8(_ n: Int) -> Int { (n + 7) & ~7 }
    /// The size of a leaf with a suffix of `suffix` bytes and a value of `value` bytes.
    @inline(__always) static func leafSize(suffix: Int, value: Int) -> Int { align8(4 + suffix + value) }
    /// The size of a Prefix node holding `length` bytes.
    @inline(__always) static func prefixSize(_ length: Int) -> Int { align8(4 + length) }
    /// The bytes (with slots) a chain of Prefix nodes for `length` path bytes needs.
    static func chainCost(_ length: Int) -> Int {
        let nodes = (length + prefixCapacity - 1) / prefixCapacity
        return nodes * (prefixSize(prefixCapacity) + 4)
    }
}

/// A node as found through the slot table: its kind, where its bytes start, and its slot.
struct NodeRef {
    /// The node's kind.
    var type: NodeType
    /// The offset of its first byte in the blob.
    var offset: Int
    /// Its slot.
    var slot: UInt16
}
