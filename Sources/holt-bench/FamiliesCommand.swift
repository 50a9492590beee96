import ArgumentParser
import Foundation
import HoltEngine

/// `holt-bench families`: the cost of a batch that spans column families against one that
/// stays in one family, on holt alone (its peers have no such batch to compare).
///
/// Three kinds of batch, each of `--batch-size` puts of fresh random path keys with 100-byte
/// values, `--batches` of them into a fresh database per kind and round:
/// - `default`: all puts in the default family, through `Tree.apply(_: [TxnOp])` (the path every
///   batch took before families);
/// - `one-family`: all puts in one family other than the default one (batch `i` in family
///   `i mod --families`), through `Tree.apply(_: [FamilyOp])`;
/// - `spanning`: the puts spread over `--families` families, round robin, in one batch.
/// Each kind runs `--rounds` times, in turn; the table gives the median.
struct FamiliesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "families",
        abstract: "A batch spanning column families against a single-family one (holt only).")

    @Option(help: "Batches per run.")
    var batches = 2_000

    @Option(help: "Puts per batch.")
    var batchSize = 100

    @Option(help: "Families a spanning batch spreads over (and one-family batches rotate through).")
    var families = 4

    @Option(help: "Rounds of each kind; the median is reported.")
    var rounds = 3

    @Option(help: "Sync mode: always (every batch durable before the next) or none.")
    var sync = "none"

    @Option(help: "Directory for the databases (removed before and after).")
    var dbDir = "/var/tmp/holt-bench-families"

    func validate() throws {
        guard batches > 0, batchSize > 0, families > 0, rounds > 0 else {
            throw ValidationError("--batches, --batch-size, --families and --rounds must be positive")
        }
        guard sync == "always" || sync == "none" else { throw ValidationError("--sync is always or none") }
    }

    /// The kinds of batch, in the order they run.
    enum Kind: String, CaseIterable {
        case defaultFamily = "default"
        case oneFamily = "one-family"
        case spanning = "spanning"
    }

    func run() throws {
        var seconds: [Kind: [Double]] = [:]
        for round in 0..<rounds {
            for kind in Kind.allCases {
                let elapsed = try measure(kind, seed: UInt64(round) &* 7919 &+ 1)
                seconds[kind, default: []].append(elapsed)
                FileHandle.standardError.write(Data("families: round \(round + 1) \(kind.rawValue) \(String(format: "%.3f", elapsed)) s\n".utf8))
            }
        }
        print("# median of \(rounds); \(batches) batches of \(batchSize) puts, \(families) families, sync \(sync)")
        print("kind         batches/s    puts/s   µs/batch")
        for kind in Kind.allCases {
            let median = seconds[kind]!.sorted()[rounds / 2]
            let perSecond = Double(batches) / median
            let name = kind.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
            print(name + String(format: " %10.0f %9.0f %10.1f", perSecond, perSecond * Double(batchSize), 1e6 / perSecond))
        }
    }

    /// One run of `kind` on a fresh database: the seconds its batches took (open, family
    /// creation and close not counted).
    func measure(_ kind: Kind, seed: UInt64) throws -> Double {
        let path = dbDir + "/\(kind.rawValue)"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: dbDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tree = try Tree.open(path: path, options: Options(sync: sync == "always" ? .always : .none))
        let handles = try (0..<families).map { try tree.createFamily(named: "f\($0)") }
        var random = SplitMix64(seed: seed)
        let value = [UInt8](repeating: 0x76, count: 100)
        // Keys made before the clock starts: the batches alone are timed.
        let keys: [[[UInt8]]] = (0..<batches).map { _ in
            (0..<batchSize).map { _ in Array("d\(random.below(1000))/f\(random.next())".utf8) }
        }
        let start = BenchClock.now()
        for (number, batchKeys) in keys.enumerated() {
            switch kind {
            case .defaultFamily:
                try tree.apply(batchKeys.map { .put(key: $0, value: value) })
            case .oneFamily:
                let family = handles[number % families]
                try tree.apply(batchKeys.map { FamilyOp(family, .put(key: $0, value: value)) })
            case .spanning:
                try tree.apply(batchKeys.enumerated().map { FamilyOp(handles[$0.offset % families], .put(key: $0.element, value: value)) })
            }
        }
        let elapsed = BenchClock.seconds(BenchClock.now() - start)
        try tree.close()
        return elapsed
    }
}
