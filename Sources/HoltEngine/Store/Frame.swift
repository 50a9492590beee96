/// The number of a frame in the buffer manager's frame array.
struct FrameIndex: RawRepresentable, Hashable, Sendable {
    var rawValue: Int
    init(rawValue: Int) { self.rawValue = rawValue }
}

/// One cache slot of the buffer manager: `blobSize` aligned bytes and what they hold.
///
/// Every field but `memory` is guarded by the buffer manager's monitor. The bytes are read by
/// whoever holds a pin, written only by the blob's one writer at a time (through `write`: the
/// serial writer, or a parallel one holding the blob's write lock) or, for the store's
/// header bytes `0..<64`, by the thread that has set `io = .writing`.
///
/// Invariants:
/// 1. `io == .loading` ⇒ exactly one pin (the loader's), and the table maps `blob` to this frame.
/// 2. `io == .writing` ⇒ `dirty`, and the writer holds one of the pins.
/// 3. A frame with `pins > 0` or `io != .idle` is never given to another blob.
/// 4. `blob == nil` ⇒ `pins == 0`, `!dirty`, `io == .idle`.
/// 5. `checkpoint != .none` ⇒ the frame is never given to another blob (its bytes as they were
///    at the checkpoint's capture are not on disk yet, and the map does not say where they go).
struct Frame {
    /// What I/O is under way on a frame.
    enum IO: Equatable {
        /// None.
        case idle
        /// Its blob is being read from disk (or zeroed, for a new blob); others wait.
        case loading
        /// Its bytes are being written to disk; others may read them meanwhile.
        case writing
    }

    /// The frame's bytes, from the buffer manager's `FrameArena` (they live as long as the
    /// buffer manager): those its latch guards now. `BufferManager.writeAside` swaps in other
    /// arena memory under the exclusive latch (`BlobLatch.replaceBytes`), so a pointer read
    /// here stays the frame's only while no `writeAside` of its blob can run: the writer's own
    /// calls, and readers that hold the blob's latch (shared readers load it after taking the
    /// latch, optimistic ones check the version).
    var bytes: UnsafeMutableRawPointer {
        guard let bytes = latch._withUnsafeGuaranteedRef({ $0.bytes }) else { preconditionFailure("a frame's latch guards no bytes") }
        return bytes
    }
    /// The blob's latch: a writer holds it exclusively for one `BufferManager.write` call,
    /// readers shared or optimistically (checking its version), all taken after the pin and let
    /// go before the unpin. It stays with the bytes when the frame takes another blob (nobody
    /// holds it then: the frame is unpinned). Unretained: the buffer manager's `latches` owns
    /// it for the manager's life, so that a frame, copied on every pin, is plain bytes (no
    /// reference counting on the lookup path).
    let latch: Unmanaged<BlobLatch>
    /// The blob it holds, or `nil` when free.
    var blob: BlobID?
    /// How many closures are using the bytes now.
    var pins = 0
    /// Changed since it was last read or written.
    var dirty = false
    /// Used since the clock hand last passed (CLOCK's second chance).
    var referenced = false
    /// The I/O under way.
    var io = IO.idle
    /// Where the frame stands in a checkpoint being written beside other writes.
    var checkpoint = CheckpointState.none

    /// What a checkpoint written beside other writes still needs of a frame.
    enum CheckpointState: Equatable {
        /// Nothing: not part of the checkpoint being written, or already written.
        case none
        /// Captured (its bytes now are the checkpoint's) and not yet copied: the next write must
        /// copy it first.
        case pending
        /// Being copied out (by the checkpoint or a writer): writes wait, reads go on.
        case copying
        /// Copied out: the copy is what the checkpoint writes; the frame may change.
        case copied
    }

    /// A free frame over the bytes `latch` guards (memory from `FrameArena.takeFrame()`); the
    /// latch is kept alive by its owner as long as the frame.
    init(latch: BlobLatch) {
        precondition(latch.bytes != nil, "a frame's latch guards no bytes")
        self.latch = Unmanaged.passUnretained(latch)
    }

    /// A free frame over the bytes (and latch) of `old`.
    init(reusing old: Frame) {
        latch = old.latch
    }
}
