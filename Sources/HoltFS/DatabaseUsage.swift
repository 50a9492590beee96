import HoltEngine

/// What the database uses, as `statfs` reports it: its bytes on disk and the inode numbers handed
/// out, measured at most once per `lifetimeNanoseconds`.
///
/// Why a cache: the byte count is `Tree.spaceStatistics()`, O(blobs) under the tree's shared lock
/// plus a few `fstat`s, and `df`, file managers and shells call `statfs` often (some once a
/// prompt). A figure up to a second old is what `df` on any busy file system shows anyway.
///
/// Locking: `state` is a leaf lock, never held across the measurement (two callers that find it
/// stale at once both measure; the later result wins).
final class DatabaseUsage: Sendable {
    /// One measurement.
    struct Figures: Equatable, Sendable {
        /// Everything the database occupies on disk (`SpaceStatistics.databaseBytes`).
        var bytes: UInt64
        /// Inode numbers in use or used once (the root included): numbers are never reused.
        var inodes: UInt64
    }

    /// How long a measurement is reported before it is taken again.
    let lifetimeNanoseconds: UInt64
    /// The last measurement and when it was taken (`RequestStatistics.now()`); guarded by its lock.
    private let state = Locked<(figures: Figures, takenAt: UInt64)?>(nil)

    /// A cache whose figures live `lifetimeNanoseconds` (default one second).
    init(lifetimeNanoseconds: UInt64 = 1_000_000_000) {
        self.lifetimeNanoseconds = lifetimeNanoseconds
    }

    /// The figures: the cached ones while they are fresh, else `measure()`'s. When `measure`
    /// fails (it returns `nil`: the tree is closed or a file cannot be examined) the last figures
    /// stand, or `nil` when there are none.
    func figures(measure: () -> Figures?) -> Figures? {
        let now = RequestStatistics.now()
        if let cached = state.withLock({ $0 }), now &- cached.takenAt < lifetimeNanoseconds {
            return cached.figures
        }
        guard let measured = measure() else { return state.withLock { $0?.figures } }
        state.withLock { $0 = (measured, RequestStatistics.now()) }
        return measured
    }

    /// Forgets the last measurement, so the next `figures` measures (tests, and `compact`,
    /// whose effect `df` should show at once).
    func invalidate() {
        state.withLock { $0 = nil }
    }
}
