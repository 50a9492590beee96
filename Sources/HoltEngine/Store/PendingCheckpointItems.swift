/// The captured blobs a checkpoint has still to write, and the order it takes them in: those a
/// writer copied out first (`preferring`), then the rest in capture order.
///
/// Writing the copied ones first frees their copies, memory beyond the cache, as soon as
/// possible, and lets a writer waiting for room for one more copy go on (`BufferManager`,
/// `Shard.copyBound`).
///
/// Invariant: `remaining` holds every item not yet removed, each once; none of them comes
/// before `order[next]`.
struct PendingCheckpointItems {
    typealias Item = BufferManager.CheckpointCapture.Item

    /// The items in capture order.
    private let order: [Item]
    /// Where the next in-order item is looked for.
    private var next = 0
    /// The items not yet written, by blob.
    private var remaining: [BlobID: Item]

    init(_ items: [Item]) {
        order = items
        remaining = Dictionary(items.map { ($0.blob, $0) }, uniquingKeysWith: { first, _ in first })
        assert(remaining.count == items.count, "a blob captured twice")
    }

    /// Whether every item was written.
    var isEmpty: Bool { remaining.isEmpty }

    /// The items not yet written, in capture order.
    var items: [Item] { order.filter { remaining[$0.blob] != nil } }

    /// Up to `count` items not yet written: those whose blob is in `preferring` first, then the
    /// next ones in capture order. They stay pending until `remove(_:)`.
    func take(_ count: Int, preferring: Set<BlobID>) -> [Item] {
        var chunk: [Item] = []
        var chosen = Set<BlobID>()
        for blob in preferring where chunk.count < count {
            if let item = remaining[blob] {
                chunk.append(item)
                chosen.insert(blob)
            }
        }
        var position = next
        while chunk.count < count, position < order.count {
            let item = order[position]
            position += 1
            if remaining[item.blob] != nil, !chosen.contains(item.blob) { chunk.append(item) }
        }
        return chunk
    }

    /// Marks `written` as written.
    mutating func remove(_ written: [Item]) {
        for item in written { remaining[item.blob] = nil }
        while next < order.count, remaining[order[next].blob] == nil { next += 1 }
    }
}
