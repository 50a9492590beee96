import CURing
#if canImport(Glibc)
import Glibc
#endif

/// Which cached frame holds each blob, readable without a lock: an optimistic reader finds a
/// cached blob here instead of under its shard's monitor (`BufferManager.holdOptimistic`), so
/// a lookup beside a writer takes no lock at all.
///
/// An entry is the address of the latch of the frame that holds the blob (the latch knows the
/// frame's bytes), or 0 when the blob is not cached or not loaded yet. Blob ids are dense (the
/// blob map reuses freed ones), so entries live in an array indexed by id, in chunks of
/// `chunkSize` made on first use and kept until the directory goes; ids past
/// `chunkSize × chunkCount` are never recorded (their readers take the shard's monitor).
///
/// Protocol (with `BlobLatch`): an entry is set, under the blob's shard monitor, once the frame
/// holds the blob's bytes, and cleared, under the same monitor, before the frame takes another
/// blob or the blob is freed, and then the latch's version is moved on
/// (`BlobLatch.invalidateOptimisticReads`). A reader loads the entry, notes the latch's
/// version, loads the entry again (the same: the frame held the blob at that version), reads,
/// and keeps what it read only if the version has not moved: so it never keeps bytes of a frame
/// that had gone to another blob.
///
/// Locking: entries and chunk pointers are atomics; chunks are made under `growth`.
final class FrameDirectory: @unchecked Sendable {
    // @unchecked Sendable: every word is read and written atomically; chunks are made under
    // `growth` and freed only in deinit.
    /// Entries per chunk: `1 << chunkShift`.
    static let chunkShift = 14
    static let chunkSize = 1 << chunkShift
    /// Chunks at most (so ids below 2^30 are recorded).
    static let chunkCount = 1 << 16

    /// `chunkCount` words: the address of each chunk, or 0.
    private let chunks: UnsafeMutablePointer<UInt64>
    /// Serializes making chunks.
    private let growth = Locked<Void>(())

    /// An empty directory.
    init() {
        chunks = .allocate(capacity: Self.chunkCount)
        chunks.initialize(repeating: 0, count: Self.chunkCount)
    }

    deinit {
        for c in 0..<Self.chunkCount where chunks[c] != 0 {
            UnsafeMutablePointer<UInt64>(bitPattern: UInt(chunks[c]))?.deallocate()
        }
        chunks.deallocate()
    }

    /// The latch of the frame that holds blob `id`, or nil.
    @inline(__always)
    func latch(of id: BlobID) -> Unmanaged<BlobLatch>? {
        guard let word = entry(id, making: false) else { return nil }
        let value = holt_atomic_load_u64(word)
        guard value != 0, let address = UnsafeRawPointer(bitPattern: UInt(value)) else { return nil }
        return Unmanaged<BlobLatch>.fromOpaque(address)
    }

    /// Records that the frame latched by `latch` holds blob `id` (its shard's monitor held).
    func set(_ id: BlobID, _ latch: Unmanaged<BlobLatch>) {
        guard let word = entry(id, making: true) else { return }
        holt_atomic_store_u64(word, UInt64(UInt(bitPattern: latch.toOpaque())))
    }

    /// Records that no frame holds blob `id` (its shard's monitor held).
    func clear(_ id: BlobID) {
        guard let word = entry(id, making: false) else { return }
        holt_atomic_store_u64(word, 0)
    }

    /// The word of blob `id`, making its chunk when `making`; nil past the directory's reach or
    /// in a chunk not made.
    @inline(__always)
    private func entry(_ id: BlobID, making: Bool) -> UnsafeMutablePointer<UInt64>? {
        guard id.rawValue < UInt64(Self.chunkSize * Self.chunkCount) else { return nil }
        let chunk = Int(truncatingIfNeeded: id.rawValue >> UInt64(Self.chunkShift))
        var address = holt_atomic_load_u64(chunks + chunk)
        if address == 0 {
            guard making else { return nil }
            address = growth.withLock { _ in
                let seen = holt_atomic_load_u64(chunks + chunk)
                if seen != 0 { return seen }
                let made = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.chunkSize)
                made.initialize(repeating: 0, count: Self.chunkSize)
                let bits = UInt64(UInt(bitPattern: made))
                holt_atomic_store_u64(chunks + chunk, bits)
                return bits
            }
        }
        let base = UnsafeMutablePointer<UInt64>(bitPattern: UInt(address))!
        return base + Int(truncatingIfNeeded: id.rawValue & UInt64(Self.chunkSize - 1))
    }
}
