import HoltEngine
import Synchronization

/// What threads checking a tree beside its writers found wrong: the first few problems, kept
/// for the failure message, and how many in all (a broken build finds thousands).
final class ProblemLog: Sendable {
    private let first = Locked<[String]>([])
    private let total = Atomic<Int>(0)

    /// Records `problem` (kept only among the first five).
    func report(_ problem: String) {
        if total.add(1, ordering: .relaxed).newValue <= 5 { first.withLock { $0.append(problem) } }
    }

    /// How many problems were reported.
    var count: Int { total.load(ordering: .relaxed) }

    /// The count and the first problems, for an expectation's message.
    var summary: String { "\(count) problems: \(first.withLock { $0 })" }
}
