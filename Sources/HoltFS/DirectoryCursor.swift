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
final class DirectoryCursor: Sendable {
    /// The directory being listed.
    let node: NodeID

    private struct State {
        var nextOffset: UInt64 = 3
        var current: [UInt64: [UInt8]] = [:]
        var previous: [UInt64: [UInt8]] = [:]
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

    /// Remembers the positions of the entries of one reply, keyed by their offsets.
    func remember(_ positions: [(UInt64, [UInt8])]) {
        guard !positions.isEmpty else { return }
        state.withLock { state in
            state.previous = state.current
            state.current = Dictionary(positions, uniquingKeysWith: { _, last in last })
        }
    }
}
