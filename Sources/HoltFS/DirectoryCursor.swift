import HoltEngine
import Synchronization

/// The resume state of one open directory: which engine position each readdir offset stands for.
///
/// Offsets 1 and 2 are `.` and `..`; every later entry gets the next number of a per-handle
/// counter, and the cursor remembers the engine position (key or common prefix, without the
/// directory's own path and `/`, so a listing survives a rename of the directory or an ancestor
/// between two replies) of the entries of
/// the last two replies only. The kernel continues after any entry of the last reply, so a listing
/// of any size resumes from the engine in constant memory; entries added or removed meanwhile never
/// make a surviving entry repeat or vanish, because a resume starts strictly after a key.
///
/// A listing longer than one reply reads one `Snapshot` from the end of its first reply on
/// (`snapshot`), so renames between replies cannot make an entry show twice or not at all.
final class DirectoryCursor: Sendable {
    /// The directory being listed.
    let node: NodeID

    private struct State {
        var nextOffset: UInt64 = 3
        var current: [UInt64: [UInt8]] = [:]
        var previous: [UInt64: [UInt8]] = [:]
        /// The snapshot the rest of the listing reads, and the directory's key in it (see
        /// `Filesystem.readdir`): taken when a reply fills before the listing's end, closed at
        /// `releasedir` or when the listing starts again.
        var snapshot: (snapshot: Snapshot, key: [UInt8])?
        /// The offset of the last entry of a listing that read a snapshot to its end: the
        /// kernel's call for what follows it is answered with nothing, from no snapshot.
        var endOffset: UInt64?
    }

    private let state = Locked(State())

    init(node: NodeID) {
        self.node = node
    }

    /// Where a listing continues after `offset`: `.start` after `..`, `.after(position)`, or nil
    /// for an offset this cursor never handed out (or forgot).
    enum Resume: Equatable {
        case dot, dotDot, start
        case after([UInt8])
    }

    /// The resume point for the kernel's `offset`.
    func resume(at offset: UInt64) -> Resume? {
        switch offset {
        case 0: return .dot
        case 1: return .dotDot
        case 2: return .start
        default:
            return state.withLock { state -> Resume? in
                if let position = state.current[offset] ?? state.previous[offset] { return .after(position) }
                return nil
            }
        }
    }

    /// The offsets of one reply's entries: ask `offset()` for each entry, then `commit` the reply.
    func reserveOffsets(count: Int) -> UInt64 {
        state.withLock { state in
            let first = state.nextOffset
            state.nextOffset += UInt64(count)
            return first
        }
    }

    /// The snapshot the listing goes on reading, and the directory's key in it; nil before a
    /// reply filled up.
    var snapshot: (snapshot: Snapshot, key: [UInt8])? { state.withLock { $0.snapshot } }

    /// Keeps `snapshot` for the rest of the listing (closing any earlier one).
    func keep(_ snapshot: Snapshot, key: [UInt8]) {
        let old = state.withLock { state in
            defer { state.snapshot = (snapshot, key) }
            return state.snapshot
        }
        old?.snapshot.close()
    }

    /// Closes the listing's snapshot, if any (`releasedir`, or a listing started again): what
    /// it held is freed now, not when the last reference to the cursor goes.
    func releaseSnapshot() {
        let old = state.withLock { state in
            defer { state.snapshot = nil; state.endOffset = nil }
            return state.snapshot
        }
        old?.snapshot.close()
    }

    /// Ends a listing that read its snapshot to the end: the snapshot is closed now, not at
    /// `releasedir` (a process that keeps a directory open must not keep the blob copies it
    /// holds), and a call for what follows the last entry handed out answers nothing
    /// (`isEnd(at:)`) instead of reading the live tree after it.
    func finishSnapshot() {
        let old = state.withLock { state in
            defer { state.snapshot = nil; state.endOffset = state.nextOffset - 1 }
            return state.snapshot
        }
        old?.snapshot.close()
    }

    /// Whether `offset` is the end of a listing `finishSnapshot()` closed.
    func isEnd(at offset: UInt64) -> Bool {
        state.withLock { $0.endOffset == offset }
    }

    /// Remembers the positions of the entries of one reply, keyed by their offsets.
    func remember(_ positions: [(UInt64, [UInt8])]) {
        guard !positions.isEmpty else { return }
        state.withLock { state in
            state.previous = state.current
            state.current = Dictionary(positions, uniquingKeysWith: { _, last in last })
        }
    }
}
