@testable import HoltEngine

/// Keeps a test that measures the process's malloc count (`WriteBuffer`'s memory estimate) from
/// running beside the tests that allocate most, for seconds, on several threads (the parallel
/// writers' stress test): those hold it shared, the measuring test exclusively. Other tests move
/// the count too, by less; the measuring test copes with them itself (the least of many rounds).
enum MallocQuiet {
    static let lock = ReadWriteLock(reentryMessage: "MallocQuiet taken twice on one thread")

    /// Runs `body` beside other allocating tests, never beside a measuring one.
    static func allocating<R>(_ body: () throws -> R) rethrows -> R {
        try lock.withReadLock(body)
    }

    /// Runs `body` beside no test that holds `allocating`.
    static func measuring<R>(_ body: () throws -> R) rethrows -> R {
        try lock.withWriteLock(body)
    }
}
