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
        current.withLock { $0 = nil }
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
    func read(_ key: [UInt8], _ read: () throws(HoltError) -> [UInt8]?) throws(HoltError) -> Read {
        let before = generation.load(ordering: .acquiring)
        var batch: InstallingBatch? = nil
        if before & 1 == 1 {
            batch = installing(before)
            guard batch != nil else { return .retry }
        }
        if batch?.exclusive == true { return .useLock }
        let value = try read()
        let after = generation.load(ordering: .acquiring)
        if after != before {
            guard after == before + 1 else { return .retry }
            if batch == nil {
                // A batch began during the read: the value may be one of its changes.
                batch = installing(after)
                guard let begun = batch else { return .retry }
                if begun.exclusive { return .useLock }
            }
            // Else the batch in flight when the read began ended during it: its before-images
            // still say what the key was before it.
        }
        switch batch?.before(key) {
        case nil, .untouched: return .answer(value)
        case .value(let old): return .answer(old)
        case .unknown: return .useLock
        }
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
    private var images: [[UInt8]: Image] = [:]

    init(exclusive: Bool) { self.exclusive = exclusive }

    /// The writer is about to change `key` (call before the index changes it).
    func willChange(_ key: [UInt8]) {
        monitor.withLock {
            if images[key] == nil { images[key] = .pending }
        }
    }

    /// The writer changed `key`, which held `old` before (nil: absent).
    func didChange(_ key: [UInt8], old: [UInt8]?) {
        monitor.withLock {
            if case .pending = images[key] {
                images[key] = .value(old)
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

    /// What `key` held before the batch. Waits out a change in progress (one index operation).
    func before(_ key: [UInt8]) -> Before {
        monitor.withLock {
            while true {
                switch images[key] {
                case nil: return .untouched
                case .value(let old): return .value(old)
                case .unknown: return .unknown
                case .pending: monitor.wait()
                }
            }
        }
    }
}
