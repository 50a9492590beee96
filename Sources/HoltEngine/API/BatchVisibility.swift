import CURing
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What lock-free readers (`Tree.get`) need to see a batch whole or not at all while writers
/// change the index key by key: the batches being installed and, for each key one of them
/// changed so far, the value the key had before it (its *before-image*).
///
/// Protocol (docs/DESIGN.md, "Readers beside a batch"): a writer `begin`s a batch in a free
/// *slot* (the slot's generation turns odd), records each key's before-image around the change
/// (`willChange`, then `didChange` with the old value the index returned), and `end`s it (even
/// again) once the batch is logged or undone. A reader notes every slot's generation, reads the
/// key from the index (blob latches keep every blob it reads whole), notes them again, and
/// answers the before-image when a batch in flight during its read changed the key: so it
/// answers the state before that batch, which committed after the reader began. More than one
/// change of a slot's generation during one read, two batches that both changed the key, or a
/// batch that moves prefixes (`exclusive`: its changes cannot be told key by key) send the
/// reader to try again or to the tree's shared lock.
///
/// Several slots because batches of plain puts are installed by several writers at once
/// (`Tree`, "Writers in parallel"); those batches change disjoint keys (`KeyLocks`), so at
/// most one batch in flight has a before-image of any key, except when one ended and the next
/// began on the same key during one read (the reader then tries again). Any other batch runs
/// alone and takes a slot like them.
///
/// Locking: each slot's `generation` is atomic; its `current` is guarded by its `Locked`; the
/// free slots by `freeSlots`' monitor; each batch's before-images by the batch's own lock.
final class BatchVisibility: Sendable {
    /// How many batches may be in flight at once (writers past it wait for a slot).
    static let slotCount = 4

    /// One place a batch is installed in.
    private final class Slot: Sendable {
        /// Odd while a batch is being installed in this slot.
        let generation = Atomic<UInt64>(0)
        /// The batch being installed (nil between batches).
        let current = Locked<InstallingBatch?>(nil)
    }

    private let slots: [Slot] = (0..<BatchVisibility.slotCount).map { _ in Slot() }
    /// The slots no batch is installed in (guarded by `slotMonitor`).
    private nonisolated(unsafe) var freeSlots: [Int] = Array((0..<BatchVisibility.slotCount).reversed())
    private let slotMonitor = Monitor()
    /// The last batches ended, kept alive here so that a writer, not a reader, frees them. A
    /// reader that read beside a batch holds it for one read; were its release the last, it
    /// would free the batch's filter and images, memory from the writer's malloc arena, and wait
    /// for that arena's lock while the writer allocates: `perf` found 17 of a reader's 21
    /// sleeps in 3 s of `read-with-writer` there. Guarded by its `Locked` (writers alone).
    private let retired = Locked<[InstallingBatch]>([])
    /// How many ended batches `retired` keeps (a read lasts microseconds, a batch far longer).
    static let retiredBatches = 4 * BatchVisibility.slotCount

    /// Starts installing `batch` in a free slot (waiting for one when every slot is taken):
    /// readers from now on check its before-images. Returns the slot, for `end`.
    func begin(_ batch: InstallingBatch) -> Int {
        let slot = slotMonitor.withLock { () -> Int in
            while freeSlots.isEmpty { slotMonitor.wait() }
            return freeSlots.removeLast()
        }
        let next = slots[slot].generation.load(ordering: .relaxed) + 1
        assert(next & 1 == 1, "a batch begun inside another in one slot")
        batch.generation = next
        slots[slot].current.withLock { $0 = batch }
        slots[slot].generation.store(next, ordering: .releasing)
        return slot
    }

    /// Ends the batch begun in `slot`: its changes are the index's now (or were undone).
    func end(_ slot: Int) {
        let next = slots[slot].generation.load(ordering: .relaxed) + 1
        slots[slot].generation.store(next, ordering: .releasing)
        let ended = slots[slot].current.withLock { batch -> InstallingBatch? in
            defer { batch = nil }
            return batch
        }
        // Dropped here, by a writer, when it leaves `retired`.
        let dropped = retired.withLock { retired -> InstallingBatch? in
            if let ended { retired.append(ended) }
            return retired.count > Self.retiredBatches ? retired.removeFirst() : nil
        }
        _ = dropped
        slotMonitor.withLock {
            freeSlots.append(slot)
            slotMonitor.broadcast()
        }
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
        case .read(let value, let batches):
            // The batch in flight during the read that changed the key answers with its
            // before-image; two such batches (one ended, the next began on the key): try again.
            var answer: [UInt8]?? = nil
            for position in 0..<Self.slotCount {
                guard let batch = batches[position] else { continue }
                switch batch.before(key) {
                case .untouched: continue
                case .value(let old):
                    if answer != nil { return .retry }
                    answer = .some(old)
                case .unknown: return .useLock
                }
            }
            return .answer(answer ?? value)
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
    /// `Tree.range`): the answer stands only if no batch in flight during the read had touched
    /// what was read by the time the read ended (`touched`), so it is the state before them.
    @inline(__always)
    func readUntouched<R>(
        _ touched: (InstallingBatch) -> Bool, _ read: () throws(HoltError) -> R?
    ) throws(HoltError) -> Outcome<R> {
        switch try readBeside(read) {
        case .retry: return .retry
        case .useLock: return .useLock
        case .read(let value, let batches):
            for position in 0..<Self.slotCount {
                if let batch = batches[position], touched(batch) { return .retry }
            }
            return .answer(value)
        }
    }

    /// The batches in flight at some point of a read, by slot (nil: none was in that slot).
    /// A fixed-size value, so a read beside no batch allocates nothing.
    struct InFlight {
        private var batches: (InstallingBatch?, InstallingBatch?, InstallingBatch?, InstallingBatch?) = (nil, nil, nil, nil)

        subscript(position: Int) -> InstallingBatch? {
            get {
                switch position {
                case 0: batches.0
                case 1: batches.1
                case 2: batches.2
                default: batches.3
                }
            }
            set {
                switch position {
                case 0: batches.0 = newValue
                case 1: batches.1 = newValue
                case 2: batches.2 = newValue
                default: batches.3 = newValue
                }
            }
        }
    }

    /// The generations of every slot at one moment.
    private typealias Generations = (UInt64, UInt64, UInt64, UInt64)

    @inline(__always)
    private func generations() -> Generations {
        (slots[0].generation.load(ordering: .acquiring), slots[1].generation.load(ordering: .acquiring),
         slots[2].generation.load(ordering: .acquiring), slots[3].generation.load(ordering: .acquiring))
    }

    @inline(__always)
    private static func at(_ g: Generations, _ position: Int) -> UInt64 {
        switch position {
        case 0: g.0
        case 1: g.1
        case 2: g.2
        default: g.3
        }
    }

    /// What `readBeside` found.
    private enum Beside<R> {
        /// What `read` returned, and the batches in flight at some point of the read.
        case read(R, InFlight)
        case retry
        case useLock
    }

    /// The protocol both reads share: notes every slot's generation, runs `read` (nil: torn,
    /// try again), notes them again. More than one change of a slot (a whole batch came and
    /// went) means try again; a prefix move in flight means the lock. What `read` throws is
    /// thrown only when no batch was in flight during it: beside a batch it may come from a
    /// state between two of the batch's blob changes (try again).
    @inline(__always)
    private func readBeside<R>(_ read: () throws(HoltError) -> R?) throws(HoltError) -> Beside<R> {
        assert(Self.slotCount == 4, "InFlight and Generations hold four slots")
        let before = generations()
        var batches = InFlight()
        var anyBefore = false
        for position in 0..<Self.slotCount {
            let generation = Self.at(before, position)
            guard generation & 1 == 1 else { continue }
            anyBefore = true
            guard let batch = installing(position, generation) else { return .retry }
            if batch.exclusive { return .useLock }
            batches[position] = batch
        }
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
            if anyBefore || generations() != before { return .retry }
            throw error
        }
        guard let value = found else { return .retry }
        let after = generations()
        if after != before {
            for position in 0..<Self.slotCount {
                let was = Self.at(before, position), now = Self.at(after, position)
                guard now != was else { continue }
                guard now == was + 1 else { return .retry }
                if batches[position] == nil {
                    // A batch began during the read: what was read may be one of its changes.
                    guard let begun = installing(position, now) else { return .retry }
                    if begun.exclusive { return .useLock }
                    batches[position] = begun
                }
                // Else the batch in flight when the read began ended during it: its
                // before-images still say what it changed.
            }
        }
        return .read(value, batches)
    }

    /// The batch of odd generation `number` in `slot`, or nil when it is over already.
    private func installing(_ slot: Int, _ number: UInt64) -> InstallingBatch? {
        slots[slot].current.withLock { batch in batch?.generation == number ? batch : nil }
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
    private var images: [BufferKey: Image] = [:]
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
        let hashed = BufferKey(key)
        let (a, b) = bits(hashed.hash)
        holt_atomic_or_u64(filter + a.0, a.1)
        holt_atomic_or_u64(filter + b.0, b.1)
        monitor.withLock {
            if images[hashed] == nil { images[hashed] = .pending }
        }
    }

    /// The writer changed `key`, which held `old` before (nil: absent).
    func didChange(_ key: [UInt8], old: [UInt8]?) {
        let hashed = BufferKey(key)
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
        let hashed = BufferKey(key)
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
