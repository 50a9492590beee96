import Foundation

/// A fresh directory under /tmp for one test, removed when the value goes away.
final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked Sendable: `path` is immutable.
    let path: String

    init(_ label: String = "holt") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/\(label)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside the directory.
    func appending(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Bytes of a string, for short test keys.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A small deterministic random generator (SplitMix64), seeded from `HOLT_SEED` when set.
/// The one generator of every engine test (the store's and the log's tests call it by their
/// own names, `StoreRandom` and `WALRandom`).
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    /// The seed it started from (print it on failure; `HOLT_SEED` replays it).
    let seed: UInt64
    init(seed: UInt64) { self.seed = seed; state = seed }

    /// A generator seeded from `HOLT_SEED`, else from a fixed seed.
    init() {
        self.init(seed: ProcessInfo.processInfo.environment["HOLT_SEED"].flatMap { UInt64($0) } ?? 0x5EED_0F_A11)
    }

    /// A number in `0..<bound`.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The seeds a property test runs: `HOLT_SEED` alone when set, else `count` fixed ones.
    static func seeds(_ count: Int) -> [UInt64] {
        if let raw = ProcessInfo.processInfo.environment["HOLT_SEED"], let seed = UInt64(raw) { return [seed] }
        return (1...UInt64(count)).map { $0 &* 7919 }
    }

    /// Whether the long variants were asked for (`HOLT_LONG_TESTS=1`).
    static var longTests: Bool { ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1" }
}
