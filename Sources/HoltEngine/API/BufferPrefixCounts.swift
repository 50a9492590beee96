import Synchronization

/// How many of the write buffer's keys begin with each *directory prefix* (a key's bytes
/// through one of its `/`), by a 64-bit hash of the prefix: whether the buffer holds a key
/// below `dir/` in one lookup instead of a walk of every entry. A create's `.noDescendants`
/// condition asks it for every create, and readers ask it before a listing.
///
/// A collision of two hashes can only answer "yes" wrongly (the caller then flushes or applies
/// instead of buffering, which is correct, only slower), never "no". Kept only once asked
/// (`activate`): a load of plain puts never pays for it.
///
/// Thread safety: the counts live under one pthread mutex (`Locked`); the buffer changes them
/// holding the tree's `writer` (`add` before a batch is published, `subtract` after its keys
/// left); readers only look.
final class BufferPrefixCounts: Sendable {
    private let counts = Locked<[UInt64: Int]?>(nil)
    /// Whether the counts are kept (set once, by `activate`).
    private let active = Atomic<Bool>(false)

    /// Whether the counts are kept.
    var isActive: Bool { active.load(ordering: .acquiring) }

    /// Starts keeping the counts, from `keys` (every buffered key). Call holding the tree's
    /// `writer` and `lock` exclusively (the buffer does not change meanwhile).
    func activate(keys: [[UInt8]]) {
        var fresh: [UInt64: Int] = [:]
        for key in keys { Self.forEachPrefixHash(of: key) { fresh[$0, default: 0] += 1 } }
        counts.withLock { $0 = fresh }
        active.store(true, ordering: .releasing)
    }

    /// Counts `keys` (keys new to the buffer). Does nothing while inactive.
    func add(_ keys: [[UInt8]]) {
        guard isActive, !keys.isEmpty else { return }
        counts.withLock { counts in
            for key in keys { Self.forEachPrefixHash(of: key) { counts?[$0, default: 0] += 1 } }
        }
    }

    /// Uncounts `keys` (keys that left the buffer). Does nothing while inactive.
    func subtract(_ keys: [[UInt8]]) {
        guard isActive, !keys.isEmpty else { return }
        counts.withLock { counts in
            for key in keys {
                Self.forEachPrefixHash(of: key) { hash in
                    guard let count = counts?[hash] else { return }
                    counts?[hash] = count > 1 ? count - 1 : nil
                }
            }
        }
    }

    /// Forgets every key (the buffer emptied).
    func reset() {
        guard isActive else { return }
        counts.withLock { $0 = [:] }
    }

    /// Whether a counted key begins with `prefix`, which must end in `/`; nil while inactive.
    func holds(prefix: [UInt8]) -> Bool? {
        precondition(prefix.last == Self.slash, "not a directory prefix")
        guard isActive else { return nil }
        let hash = Self.hash(prefix)
        return counts.withLock { $0?[hash] != nil }
    }

    static let slash = UInt8(ascii: "/")

    /// Calls `body` with the hash of each of `key`'s directory prefixes (FNV-1a, one pass).
    @inline(__always)
    static func forEachPrefixHash(of key: [UInt8], _ body: (UInt64) -> Void) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            if byte == slash { body(hash) }
        }
    }

    /// The hash `forEachPrefixHash` gives `prefix` (which ends in `/`).
    static func hash(_ prefix: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in prefix { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
