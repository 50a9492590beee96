import Synchronization

/// Puts and deletes of the default family (of batches whose only other ops are conditions on
/// single keys, checked before they enter) held in memory across batches, once the tree is
/// larger than its cache, and applied to the index in key order when they pass a bound (a
/// *flush*): a blob is then read and written once per flush instead of once per batch.
/// docs/DESIGN.md, "A database larger than its cache", says why and what it gained.
///
/// Every buffered op is logged before it enters (the batch's record, as for any batch), so a
/// crash loses nothing the log does not lose; reopening replays it into the index.
///
/// Readers (`Tree.get`) look here first, under one shard's mutex (a dictionary lookup): a
/// buffered put or delete (a *tombstone*) is the answer; a key not here is read from the index.
/// A tree whose buffer is empty (every tree that fits its cache) pays one atomic load.
///
/// Invariants:
/// 1. Every entry's ops are in the log, in batches from its `lsn` on; the index holds every op
///    of its key before that. `Tree.bufferStartLSN` is the least `lsn` (`oldestLSN`).
/// 2. Entries change only holding the tree's `writer` and `lock` exclusively (`insert`,
///    `remove`, `removeAll`); readers only look.
/// 3. At most one batch is unpublished: entries whose `sequence` is past `published` belong to
///    the batch being buffered, and readers answer their `prior` instead (what the key held
///    before that batch: a buffered value, or the index when `prior` is nil). So a reader sees a
///    buffered batch whole or not at all.
/// 4. An entry leaves only after the index holds its op (`Tree.flushWriteBuffer`), so a reader
///    that does not find a key here finds it in the index.
/// 5. `count` is the number of entries and `bytes` their estimated memory (`entryBytes`).
/// 6. Every entry's key is filed in `ranges` (which may also hold keys that left, and a key
///    twice), changed only under the tree's `writer`.
final class WriteBuffer: Sendable {
    /// One buffered key.
    struct Entry {
        /// What the key holds once the entry's batch is published (nil: deleted).
        var value: [UInt8]?
        /// The batch that set it (`WriteBuffer.begin`'s number).
        var sequence: UInt64
        /// What readers see until `sequence` is published: `.none`, the index; `.some(v)`, the
        /// value an earlier buffered batch set (`.some(nil)`: it deleted the key).
        var prior: [UInt8]??
        /// The log record of the batch that made the entry: the first of its key's ops the
        /// index does not hold (earlier ones were applied when an earlier entry left).
        var lsn: UInt64
    }

    /// A reader's answer from the buffer.
    enum Lookup {
        /// The key is buffered: its value (nil: deleted).
        case value([UInt8]?)
        /// Not buffered (or only by the batch not yet published, over the index): read the index.
        case absent
    }

    /// One slice of the keys, by hash. `Locked` (a pthread mutex), not `Mutex`: ThreadSanitizer
    /// does not see the futex `Mutex` waits in, and reported every lookup beside an insert.
    private final class Shard: Sendable {
        let entries = Locked<[BufferKey: Entry]>([:])
    }

    /// A power of two: readers of different keys rarely meet the writer on one mutex.
    static let shardCount = 64
    /// Estimated memory of an entry besides its key and value bytes: two array headers (32
    /// bytes each, rounded up by malloc), the dictionary slot (key, value, sequence, prior) and
    /// its spare capacity. Measured with malloc's own count (`WriteBufferTests`): 20,000 path
    /// keys of ~30 bytes with 64-byte values hold ~249 bytes an entry, ~155 over their bytes;
    /// 192 leaves a margin.
    static let entryOverhead = 192

    private let shards: [Shard] = (0..<WriteBuffer.shardCount).map { _ in Shard() }
    /// The same keys filed by the current sweep's key ranges, for flush steps (invariant 6).
    /// Only the writer uses it.
    private let ranges = Locked(SweepRanges())
    /// How many keys lie below each directory prefix, once asked (`holdsKeys(below:)`).
    private let prefixCounts = BufferPrefixCounts()
    /// The last batch readers see (invariant 3). Stored with `.releasing` after every entry of
    /// the batch is in; loaded with `.acquiring` after an entry was read.
    private let published = Atomic<UInt64>(0)
    /// The number of entries (invariant 5). Acquiring/releasing: a reader that sees 0 reads
    /// the index, which holds every op removed (invariant 4).
    private let entryCount = Atomic<Int>(0)
    /// Estimated bytes of the entries (relaxed: only the writer acts on it, and `statistics`).
    private let byteCount = Atomic<Int>(0)
    /// Ops buffered, flushes, and nanoseconds spent in flushes since open (relaxed counters).
    let bufferedOps = Atomic<Int>(0)
    let flushes = Atomic<Int>(0)
    let flushNanoseconds = Atomic<UInt64>(0)
    /// The longest flush since open, in nanoseconds (the writer that ran it waited that long).
    let longestFlushNanoseconds = Atomic<UInt64>(0)

    /// The batches buffered since open (the last one's `insert` number): readers compare two
    /// readings to see whether a batch came between them.
    var batchesBuffered: UInt64 { published.load(ordering: .acquiring) }
    /// Whether no key is buffered.
    var isEmpty: Bool { entryCount.load(ordering: .acquiring) == 0 }
    /// The number of buffered keys.
    var count: Int { entryCount.load(ordering: .acquiring) }
    /// The estimated memory of the buffered keys.
    var bytes: Int { byteCount.load(ordering: .relaxed) }

    /// The estimated memory of one entry.
    @inline(__always)
    static func entryBytes(_ key: [UInt8], _ value: [UInt8]?) -> Int {
        key.count + (value?.count ?? 0) + entryOverhead
    }

    /// The shard of `key`: the top bits of its hash.
    @inline(__always)
    private func shard(_ key: BufferKey) -> Shard {
        shards[Int(truncatingIfNeeded: key.hash >> 58) & (Self.shardCount - 1)]
    }

    /// What a reader sees of `key` here. Takes the key's shard mutex when the buffer is not empty.
    func lookup(_ key: [UInt8]) -> Lookup {
        guard entryCount.load(ordering: .acquiring) > 0 else { return .absent }
        let key = BufferKey(key)
        guard let entry = shard(key).entries.withLock({ $0[key] }) else { return .absent }
        if entry.sequence <= published.load(ordering: .acquiring) { return .value(entry.value) }
        if let prior = entry.prior { return .value(prior) }
        return .absent
    }

    /// Buffers the puts and deletes `ops` (nothing else) of log record `lsn` as one batch,
    /// published to readers at the end. Call holding the tree's `writer` and `lock`
    /// exclusively, after the batch is logged.
    func insert(_ ops: UnsafeBufferPointer<TxnOp>, lsn: UInt64) {
        let sequence = published.load(ordering: .relaxed) + 1
        var added = 0, addedBytes = 0
        var newKeys: [[UInt8]] = []
        for op in ops {
            let key: BufferKey, value: [UInt8]?
            switch op {
            case .put(let k, let v): key = BufferKey(k); value = v
            case .delete(let k): key = BufferKey(k); value = nil
            default: preconditionFailure("only puts and deletes are buffered")
            }
            shard(key).entries.withLock { entries in
                if var entry = entries[key] {
                    addedBytes += (value?.count ?? 0) - (entry.value?.count ?? 0)
                    // An earlier op of this batch on the key leaves the prior as it was.
                    if entry.sequence != sequence { entry.prior = .some(entry.value) }
                    entry.value = value
                    entry.sequence = sequence
                    entries[key] = entry
                } else {
                    entries[key] = Entry(value: value, sequence: sequence, prior: nil, lsn: lsn)
                    added += 1
                    addedBytes += Self.entryBytes(key.bytes, value)
                    newKeys.append(key.bytes)
                }
            }
        }
        ranges.withLock { ranges in for key in newKeys { ranges.add(key) } }
        prefixCounts.add(newKeys)
        byteCount.wrappingAdd(addedBytes, ordering: .relaxed)
        entryCount.wrappingAdd(added, ordering: .releasing)
        bufferedOps.wrappingAdd(ops.count, ordering: .relaxed)
        published.store(sequence, ordering: .releasing)
    }

    /// Every entry as a put or a delete, in no particular order (all published: invariant 3).
    /// Call holding the tree's `writer`.
    func ops() -> [TxnOp] {
        entries().map(Self.op)
    }

    /// The op that sets `key` as an entry's `value` does: a put, or a delete for nil.
    private static func op(_ key: [UInt8], _ value: [UInt8]?) -> TxnOp {
        value.map { .put(key: key, value: $0) } ?? .delete(key: key)
    }

    /// The ops of the next flush step (`Tree.flushWriteBufferStep`), in key order, and where
    /// the next step starts (nil: past the last key, so the next step starts a new sweep).
    /// `cursor` is where the last step ended: the range from it (`SweepRanges`); nil, or a key
    /// that is no bound of the current sweep, starts a new one, cut into ranges of about `count`
    /// keys from a sample. An empty range is passed over; at least one entry comes back when
    /// any is buffered. Successive steps sweep the key space, each a key range (its blobs get
    /// many keys at once) that has gathered keys for a whole sweep. (Picking each step's range
    /// by walking every entry twice, a sample and then the range, and sorting it took as much
    /// of a large load's CPU as applying it.) Call holding the tree's `writer`.
    func stepOps(count: Int, from cursor: [UInt8]?) -> (ops: [TxnOp], next: [UInt8]?) {
        var range = 0, restarted = false
        if let cursor, let next = ranges.withLock({ $0.range(startingAt: cursor) }) {
            range = next
        } else {
            startSweep(share: count)
            restarted = true
        }
        while true {
            let (keys, lower, next, last) = ranges.withLock { ranges in
                (ranges.take(range), range > 0 ? ranges.bounds[range - 1] : nil,
                 range < ranges.bounds.count ? ranges.bounds[range] : nil, ranges.count - 1)
            }
            let ops = self.ops(of: keys, from: lower, below: next)
            if !ops.isEmpty { return (ops, next) }
            if range < last {
                range += 1
            } else if !restarted, !isEmpty {
                // Nothing from the cursor to the last key: a new sweep from the smallest.
                startSweep(share: count)
                range = 0
                restarted = true
            } else {
                return ([], nil)
            }
        }
    }

    /// Starts a sweep: cuts the key space into ranges of about `share` keys each at keys of an
    /// evenly spread sample (the shards hold keys in hash order), and files every key.
    private func startSweep(share: Int) {
        let keys = self.keys()
        let pieces = keys.count / Swift.max(1, share)
        var bounds: [[UInt8]] = []
        if pieces > 1 {
            let stride = Swift.max(1, keys.count / Self.sweepSampleSize)
            let sample = Swift.stride(from: 0, to: keys.count, by: stride).map { keys[$0] }.sorted(by: KeyOrder.precedes)
            var last = 0
            for piece in 1..<pieces {
                let rank = sample.count * piece / pieces
                if rank > last, rank < sample.count {
                    bounds.append(sample[rank])
                    last = rank
                }
            }
        }
        ranges.withLock { $0.startSweep(bounds: bounds, keys: keys) }
    }

    /// Puts and deletes for the buffered ones of `keys` (which lie from `lower` up to `upper`),
    /// in key order, each once.
    ///
    /// Sorted by the eight bytes that follow what the bounds have in common (which every key
    /// between them has too), the whole keys compared only when those are equal: sorting the
    /// keys themselves retained and released two arrays per comparison, a sixth of a large
    /// load's CPU.
    private func ops(of keys: [[UInt8]], from lower: [UInt8]?, below upper: [UInt8]?) -> [TxnOp] {
        let skip = lower.flatMap { lower in upper.map { Self.commonPrefixLength(lower, $0) } } ?? 0
        var order = keys.indices.map { SortItem(word: Self.word(of: keys[$0], at: skip), index: Int32($0)) }
        keys.withUnsafeBufferPointer { keys in
            order.sort { a, b in
                a.word != b.word ? a.word < b.word : KeyOrder.precedes(keys[Int(a.index)], keys[Int(b.index)])
            }
        }
        var ops: [TxnOp] = []
        ops.reserveCapacity(keys.count)
        for (position, item) in order.enumerated() {
            let key = keys[Int(item.index)]
            if position > 0, order[position - 1].word == item.word, keys[Int(order[position - 1].index)] == key { continue }
            let bufferKey = BufferKey(key)
            if let entry = shard(bufferKey).entries.withLock({ $0[bufferKey] }) {
                ops.append(Self.op(key, entry.value))
            }
        }
        return ops
    }

    /// A key's place in a sort: eight of its bytes as a big-endian word, and its position.
    private struct SortItem {
        var word: UInt64
        var index: Int32
    }

    /// Bytes `skip..<skip + 8` of `key`, big-endian, zeros past its end (keys hold no zero
    /// byte, so the words order as the keys do where they differ).
    private static func word(of key: [UInt8], at skip: Int) -> UInt64 {
        var word: UInt64 = 0
        for offset in skip..<skip + 8 {
            word = word << 8 | UInt64(offset < key.count ? key[offset] : 0)
        }
        return word
    }

    /// How many leading bytes `a` and `b` share.
    private static func commonPrefixLength(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var length = 0
        while length < a.count, length < b.count, a[length] == b[length] { length += 1 }
        return length
    }

    /// Keys sampled to cut a sweep into ranges.
    static let sweepSampleSize = 512

    /// The entries `footprint` covers, as puts and deletes, and the least `lsn` among them (nil
    /// when there are none): what a batch or a read that does not go through the buffer needs
    /// in the index (`Tree.flushWriteBuffer(under:)`). Exact keys are looked up; prefixes walk
    /// every entry. Call holding the tree's `writer`.
    func ops(under footprint: BufferFootprint) -> (ops: [TxnOp], oldestLSN: UInt64?) {
        var found: [TxnOp] = []
        var oldest: UInt64? = nil
        let exact = Set(footprint.keys)
        if footprint.prefixes.isEmpty {
            for key in exact {
                let key = BufferKey(key)
                guard let entry = shard(key).entries.withLock({ $0[key] }) else { continue }
                found.append(Self.op(key.bytes, entry.value))
                if entry.lsn < oldest ?? .max { oldest = entry.lsn }
            }
            return (found, oldest)
        }
        for shard in shards {
            shard.entries.withLock { entries in
                for (key, entry) in entries where footprint.covers(key.bytes, exact: exact) {
                    found.append(Self.op(key.bytes, entry.value))
                    if entry.lsn < oldest ?? .max { oldest = entry.lsn }
                }
            }
        }
        return (found, oldest)
    }

    /// Whether an entry lies under `prefix`: a reader's check, without the tree's locks, before
    /// it asks for a flush (`Tree.flushIfBuffered(under:)`). One lookup in the prefix counts for
    /// a `dir/` prefix once they are kept (they count a batch's keys before it is published and
    /// uncount them after they left, so a published key is never missed); else a walk of the
    /// entries until one is under it.
    func holdsKeys(withPrefix prefix: [UInt8]) -> Bool {
        guard !isEmpty else { return false }
        if prefix.isEmpty { return true }
        if prefix.last == BufferPrefixCounts.slash, let holds = prefixCounts.holds(prefix: prefix) { return holds }
        for shard in shards {
            let found = shard.entries.withLock { entries in
                entries.keys.contains { KeyOrder.begins($0.bytes, with: prefix) }
            }
            if found { return true }
        }
        return false
    }

    /// Every entry, with its value.
    private func entries() -> [([UInt8], [UInt8]?)] {
        var found: [([UInt8], [UInt8]?)] = []
        for shard in shards {
            shard.entries.withLock { entries in
                for (key, entry) in entries { found.append((key.bytes, entry.value)) }
            }
        }
        return found
    }

    /// Every entry's key.
    private func keys() -> [[UInt8]] {
        var found: [[UInt8]] = []
        found.reserveCapacity(count)
        for shard in shards {
            shard.entries.withLock { entries in
                for key in entries.keys { found.append(key.bytes) }
            }
        }
        return found
    }

    /// Whether an entry lies below `key/`: one lookup in the prefix counts, which the first
    /// call starts keeping (a walk of every entry, once). Call holding the tree's `writer` and
    /// `lock` exclusively.
    func holdsKeys(below key: [UInt8]) -> Bool {
        guard !isEmpty else { return false }
        if !prefixCounts.isActive { prefixCounts.activate(keys: keys()) }
        return prefixCounts.holds(prefix: key + [BufferPrefixCounts.slash]) ?? true
    }

    /// The LSN of the oldest batch with an op only here (the least `Entry.lsn`), nil when empty.
    /// Call holding the tree's `writer`.
    func oldestLSN() -> UInt64? {
        var oldest: UInt64? = nil
        for shard in shards {
            shard.entries.withLock { entries in
                for entry in entries.values where entry.lsn < oldest ?? .max { oldest = entry.lsn }
            }
        }
        return oldest
    }

    /// Drops the entries of `ops` (what `stepOps` returned), once the index holds them
    /// (invariant 4). Call holding the tree's `writer` and `lock` exclusively, with no batch
    /// buffered since `ops` were taken.
    func remove(_ ops: [TxnOp]) {
        var removed = 0, removedBytes = 0
        var removedKeys: [[UInt8]] = []
        let counting = prefixCounts.isActive
        for op in ops {
            let key = BufferKey(op.putOrDeleteKey)
            shard(key).entries.withLock { entries in
                guard let entry = entries.removeValue(forKey: key) else { return }
                removed += 1
                removedBytes += Self.entryBytes(key.bytes, entry.value)
                if counting { removedKeys.append(key.bytes) }
            }
        }
        prefixCounts.subtract(removedKeys)
        byteCount.wrappingAdd(-removedBytes, ordering: .relaxed)
        entryCount.wrappingAdd(-removed, ordering: .releasing)
    }

    /// Drops every entry, once the index holds them (invariant 4). Call holding the tree's
    /// `writer` and `lock` exclusively.
    func removeAll() {
        for shard in shards {
            // Keeps the dictionaries' capacity: the next flush's worth of keys goes in again.
            shard.entries.withLock { $0.removeAll(keepingCapacity: true) }
        }
        ranges.withLock { $0.removeAll() }
        prefixCounts.reset()
        byteCount.store(0, ordering: .relaxed)
        entryCount.store(0, ordering: .releasing)
    }
}
