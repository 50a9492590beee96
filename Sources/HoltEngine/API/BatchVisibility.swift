import CURing
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What lock-free readers (`Tree.get`) need to see a batch whole or not at all while the writer
/// changes the index key by key: the batch being installed and, for each key it changed so far,
/// the value the key had before it (its *before-image*).
///
/// Protocol (docs/DESIGN.md, "Readers beside a batch"): the writer `begin`s a batch (the
/// generation turns odd), records each key's before-image around the change (`willChange`,
/// then `didChange` with the old value the index returned), and `end`s it (even again) once
/// the batch is logged or undone. A reader notes the generation, reads the key from the index
/// (blob latches keep every blob it reads whole), notes the generation again, and answers the
/// before-image when the batch in flight during its read changed the key: so it answers the
/// state before that batch, which committed after the reader began. More than one change of
/// generation during one read, or a batch that moves prefixes (`exclusive`: its changes cannot
/// be told key by key), sends the reader to the tree's shared lock instead.
///
/// Locking: `generation` is atomic; `current` is guarded by its `Locked`; each batch's
/// before-images by the batch's own lock.
final class BatchVisibility: Sendable {
    /// Odd while a batch is being installed.
    private let generation = Atomic<UInt64>(0)
    /// The batch being installed (nil between batches).
    private let current = Locked<InstallingBatch?>(nil)
    /// The last batches ended, kept alive here so that the writer, not a reader, frees them. A
    /// reader that read beside a batch holds it for one read; were its release the last, it
    /// would free the batch's filter and images, memory from the writer's malloc arena, and wait
    /// for that arena's lock while the writer allocates: `perf` found 17 of a reader's 21
    /// sleeps in 3 s of `read-with-writer` there. Guarded by its `Locked` (the writer's alone).
    private let retired = Locked<[InstallingBatch]>([])
    /// How many ended batches `retired` keeps (a read lasts microseconds, a batch far longer).
    static let retiredBatches = 4

    /// Starts installing `batch`: readers from now on check its before-images.
    func begin(_ batch: InstallingBatch) {
        let next = generation.load(ordering: .relaxed) + 1
        assert(next & 1 == 1, "a batch begun inside another")
        batch.generation = next
        current.withLock { $0 = batch }
        generation.store(next, ordering: .releasing)
    }

    /// Ends the batch begun last: its changes are the index's now (or were undone).
    func end() {
        let next = generation.load(ordering: .relaxed) + 1
        generation.store(next, ordering: .releasing)
        let ended = current.withLock { batch -> InstallingBatch? in
            defer { batch = nil }
            return batch
        }
        // Dropped here, by the writer, when it leaves `retired`.
        let dropped = retired.withLock { retired -> InstallingBatch? in
            if let ended { retired.append(ended) }
            return retired.count > Self.retiredBatches ? retired.removeFirst() : nil
        }
        _ = dropped
    }

    /// What a lock-free read of one key found.
    enum Read {
        /// The answer.
        case answer([UInt8]?)
        /// Try again: batches came and went during the read.
        case retry
        /// Read under the tree's shared lock: a prefix move is being installed.
        case useLock
    }

    /// Reads one key with `read` (a lookup in the index) as of a committed batch.
    @inline(__always)
    func read(_ key: [UInt8], _ read: () throws(HoltError) -> [UInt8]?) throws(HoltError) -> Read {
        switch try readBeside({ () throws(HoltError) -> [UInt8]?? in try read() }) {
        case .retry: return .retry
        case .useLock: return .useLock
        case .read(let value, let batch):
            // The batch in flight during the read (if any) answers with its before-image.
            switch batch?.before(key) {
            case nil, .untouched: return .answer(value)
            case .value(let old): return .answer(old)
            case .unknown: return .useLock
            }
        }
    }

    /// What a lock-free read of something other than one key found (`readUntouched`).
    enum Outcome<R> {
        /// The answer.
        case answer(R)
        /// Try again: a batch touched what was read, or a blob changed under the walk.
        case retry
        /// Read under the tree's shared lock: a prefix move is being installed.
        case useLock
    }

    /// Reads with `read` (a walk of the index; nil when a writer changed a blob under it) as of
    /// a committed batch, for reads that before-images cannot answer (`Tree.hasKeys`,
    /// `Tree.range`): the answer stands only if the batch in flight during the read, if any, had
    /// not touched what was read by the time the read ended (`touched`), so it is the state
    /// before that batch.
    @inline(__always)
    func readUntouched<R>(
        _ touched: (InstallingBatch) -> Bool, _ read: () throws(HoltError) -> R?
    ) throws(HoltError) -> Outcome<R> {
        switch try readBeside(read) {
        case .retry: return .retry
        case .useLock: return .useLock
        case .read(let value, let batch):
            if let batch, touched(batch) { return .retry }
            return .answer(value)
        }
    }

    /// What `readBeside` found.
    private enum Beside<R> {
        /// What `read` returned, and the one batch in flight at some point of the read (nil:
        /// none was).
        case read(R, InstallingBatch?)
        case retry
        case useLock
    }

    /// The protocol both reads share: notes the generation, runs `read` (nil: torn, try again),
    /// notes the generation again. More than one change (a whole batch came and went) means
    /// try again; a prefix move in flight means the lock. What `read` throws is thrown only when
    /// no batch was in flight during it: beside a batch it may come from a state between two of
    /// the batch's blob changes (try again).
    @inline(__always)
    private func readBeside<R>(_ read: () throws(HoltError) -> R?) throws(HoltError) -> Beside<R> {
        let before = generation.load(ordering: .acquiring)
        var batch: InstallingBatch? = nil
        if before & 1 == 1 {
            batch = installing(before)
            guard batch != nil else { return .retry }
        }
        if batch?.exclusive == true { return .useLock }
        let found: R?
        do throws(HoltError) {
            found = try read()
        } catch {
            // A batch changes the index one blob at a time, and between two of its changes a
            // walk that takes no lock can meet a tree no lock holder ever sees: a removal that
            // empties a subtree of a child blob frees it before the parent's Blob node goes, so
            // each blob read is whole (its version holds) and yet the walk lands on a freed
            // slot or blob and throws `.corrupted`. Such an error is only believed when no batch
            // ran during the read; else try again (the tree's lock, last, says what is true).
            if before & 1 == 1 || generation.load(ordering: .acquiring) != before { return .retry }
            throw error
        }
        guard let value = found else { return .retry }
        let after = generation.load(ordering: .acquiring)
        if after != before {
            guard after == before + 1 else { return .retry }
            if batch == nil {
                // A batch began during the read: what was read may be one of its changes.
                batch = installing(after)
                guard let begun = batch else { return .retry }
                if begun.exclusive { return .useLock }
            }
            // Else the batch in flight when the read began ended during it: its before-images
            // still say what it changed.
        }
        return .read(value, batch)
    }

    /// The batch of odd generation `number`, or nil when it is over already.
    private func installing(_ number: UInt64) -> InstallingBatch? {
        current.withLock { batch in batch?.generation == number ? batch : nil }
    }
}

/// One batch being installed, as `BatchVisibility` shows it to readers: the before-images of the
/// keys it changed so far.
final class InstallingBatch: @unchecked Sendable {
    // @unchecked Sendable: `generation` is set before the batch is published (under
    // `BatchVisibility.current`'s lock) and never after; `images` is guarded by `monitor`.

    /// What a key held before the batch: `pending` while the writer changes it (the old value
    /// comes back from the index only after the change).
    private enum Image {
        case pending
        case value([UInt8]?)
        /// The change failed half-way: only the undone tree knows.
        case unknown
    }

    /// What a key held before the batch, as `before(_:)` tells it.
    enum Before {
        /// The batch has not touched the key.
        case untouched
        /// The key held this (nil: it was absent).
        case value([UInt8]?)
        /// A change of it failed; read it under the tree's lock once the batch is undone.
        case unknown
    }

    /// Whether the batch moves prefixes: readers take the tree's lock instead.
    let exclusive: Bool
    /// The generation it was installed under (set by `BatchVisibility.begin`).
    fileprivate(set) var generation: UInt64 = 0
    private let monitor = Monitor()
    /// Guarded by `monitor`.
    private var images: [Key: Image] = [:]
    /// A Bloom filter of the keys the batch changes (two bits per key, set before the key's
    /// image is recorded; read without a lock): most reads beside a batch find their key's bits
    /// clear and skip `monitor`. About 256 bits per op of the batch (a power of two, 4 Ki to
    /// 8 Mi bits): a false positive costs a reader the monitor, which the writer takes twice per
    /// key, so it must stay well under the 1/1000 of reads a p99.9 is made of (≈ 0.004 % here;
    /// with a fixed 4 Ki bits a batch of 100 gave 0.23 %).
    private let filter: UnsafeMutablePointer<UInt64>
    /// The mask of a bit number in the filter.
    private let bitMask: UInt64

    /// A batch of `ops` ops (sizes the filter).
    init(exclusive: Bool, ops: Int = 16) {
        self.exclusive = exclusive
        var words = 64
        while words < ops * 4 && words < 1 << 17 { words <<= 1 }
        bitMask = UInt64(words * 64 - 1)
        filter = .allocate(capacity: words)
        filter.initialize(repeating: 0, count: words)
    }

    deinit { filter.deallocate() }

    /// The two filter bits of a key hash: (word, bit) pairs.
    @inline(__always)
    private func bits(_ hash: UInt64) -> ((Int, UInt64), (Int, UInt64)) {
        let a = Int(truncatingIfNeeded: hash & bitMask), b = Int(truncatingIfNeeded: (hash >> 32) & bitMask)
        return ((a >> 6, 1 << UInt64(a & 63)), (b >> 6, 1 << UInt64(b & 63)))
    }

    /// Whether the filter says the batch may have changed the key with this hash.
    @inline(__always)
    private func mayContain(_ hash: UInt64) -> Bool {
        let (a, b) = bits(hash)
        return holt_atomic_load_u64(filter + a.0) & a.1 != 0 && holt_atomic_load_u64(filter + b.0) & b.1 != 0
    }

    /// The writer is about to change `key` (call before the index changes it).
    func willChange(_ key: [UInt8]) {
        let hashed = Key(key)
        let (a, b) = bits(hashed.hash)
        holt_atomic_or_u64(filter + a.0, a.1)
        holt_atomic_or_u64(filter + b.0, b.1)
        monitor.withLock {
            if images[hashed] == nil { images[hashed] = .pending }
        }
    }

    /// The writer changed `key`, which held `old` before (nil: absent).
    func didChange(_ key: [UInt8], old: [UInt8]?) {
        let hashed = Key(key)
        monitor.withLock {
            if case .pending = images[hashed] {
                images[hashed] = .value(old)
                monitor.broadcast()
            }
        }
    }

    /// A change failed (the batch is about to be undone): changes in progress become unknown.
    func abandon() {
        monitor.withLock {
            for (key, image) in images {
                if case .pending = image { images[key] = .unknown }
            }
            monitor.broadcast()
        }
    }

    /// Whether the batch has touched (or is touching) a key that starts with `prefix`.
    func touches(prefix: [UInt8]) -> Bool {
        monitor.withLock { images.keys.contains { $0.bytes.starts(with: prefix) } }
    }

    /// What `key` held before the batch. Waits out a change in progress (one index operation).
    func before(_ key: [UInt8]) -> Before {
        let hashed = Key(key)
        guard mayContain(hashed.hash) else { return .untouched }
        return monitor.withLock {
            while true {
                switch images[hashed] {
                case nil: return .untouched
                case .value(let old): return .value(old)
                case .unknown: return .unknown
                case .pending: monitor.wait()
                }
            }
        }
    }
}

/// A key with its hash computed once, over its bytes at a time (not `Hasher` byte by byte).
private struct Key: Hashable {
    let bytes: [UInt8]
    let hash: UInt64

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        // FNV-1a, then a final mix so both filter bits use well-spread bits.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        hash = h
    }

    static func == (a: Key, b: Key) -> Bool { a.hash == b.hash && a.bytes == b.bytes }
    func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}
