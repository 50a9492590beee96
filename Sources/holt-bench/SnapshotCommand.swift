import ArgumentParser
import Foundation
import HoltEngine

/// `holt-bench snapshot`: what an open snapshot costs the writers. Loads the key set, then runs
/// timed phases of single-key `put`s (overwrites of random existing keys, one batch each, sync
/// `.none`) alternately with no snapshot open and with one (taken at the phase's start, held to
/// its end), and with a new snapshot every `--roll-every` puts (the previous one closed: how a
/// mount's long listings use them). Prints puts/s per phase and what the snapshots held
/// (`Stats.snapshotShadowBytes` at the phase's end, the peak, copies made).
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "The cost of open snapshots on put throughput and memory (holt only).")

    @Option(help: "Number of keys loaded first (at least \(Dataset.minimumKeyCount)).")
    var keys = 200_000

    @Option(help: "Seconds each phase runs.")
    var seconds = 3.0

    @Option(help: "Rounds of the phases (each round runs every mode once).")
    var rounds = 2

    @Option(help: "Puts between two snapshots in the rolling mode.")
    var rollEvery = 1_000

    @Option(name: .customLong("cache-mib"), help: "Cache budget, in MiB.")
    var cacheMiB = 256

    @Option(help: "Directory for the database (removed before and after).")
    var dbDir = "/var/tmp/holt-bench-snapshot"

    /// One way of holding snapshots during a phase.
    enum Mode: String, CaseIterable {
        case none = "no snapshot"
        case held = "one snapshot held"
        case rolling = "a new snapshot every N puts"
    }

    func run() throws {
        guard keys >= Dataset.minimumKeyCount, seconds > 0, rounds > 0, rollEvery > 0 else {
            throw ValidationError("--keys >= \(Dataset.minimumKeyCount), --seconds, --rounds and --roll-every > 0")
        }
        let machine = Machine.current()
        print("machine: \(machine.cpuModel), \(machine.cpus) CPUs, \(machine.memoryBytes >> 30) GiB, kernel \(machine.kernel)")
        print("holt-bench snapshot --keys \(keys) --seconds \(seconds) --rounds \(rounds) --roll-every \(rollEvery) --cache-mib \(cacheMiB)")
        try? FileManager.default.removeItem(atPath: dbDir)
        defer { try? FileManager.default.removeItem(atPath: dbDir) }
        let data = Dataset.generate(keyCount: keys)
        let tree = try Tree.open(path: dbDir, options: Options(cacheBytes: cacheMiB << 20, sync: .none))
        defer { try? tree.close() }
        for start in stride(from: 0, to: data.keys.count, by: 1_000) {
            let end = min(start + 1_000, data.keys.count)
            try tree.apply((start..<end).map { .put(key: data.keys[$0], value: Dataset.value(index: $0)) })
        }
        try tree.checkpoint()
        let blobs = try tree.statistics().blobs
        print("loaded \(keys) keys in \(blobs) blobs (\(blobs * 512 / 1024) MiB of tree)")
        print("")
        print("| round | mode | puts/s | shadow MiB at end | peak MiB | copies made |")
        print("|---|---|---|---|---|---|")
        var order = data.randomIndices(count: 1 << 22, seed: 7)
        var cursor = 0
        var sums: [Mode: (puts: Int, seconds: Double)] = [:]
        for round in 1...rounds {
            for mode in Mode.allCases {
                let before = try tree.statistics()
                var snapshot: Snapshot? = mode == .none ? nil : try tree.snapshot()
                var puts = 0
                let started = BenchClock.now()
                let deadline = started + UInt64(seconds * 1e9)
                var peak = 0
                while BenchClock.now() < deadline {
                    for _ in 0..<100 {
                        if cursor == order.count { order.shuffle(); cursor = 0 }
                        let index = Int(order[cursor])
                        cursor += 1
                        try tree.put(data.keys[index], Dataset.value(index: index &+ round))
                        puts += 1
                        if mode == .rolling, puts % rollEvery == 0 {
                            peak = max(peak, try tree.statistics().snapshotShadowBytes)
                            snapshot?.close()
                            snapshot = try tree.snapshot()
                        }
                    }
                }
                let elapsed = BenchClock.seconds(BenchClock.now() - started)
                let after = try tree.statistics()
                peak = max(peak, after.snapshotShadowBytes)
                snapshot?.close()
                snapshot = nil
                let rate = Double(puts) / elapsed
                sums[mode, default: (0, 0)].puts += puts
                sums[mode, default: (0, 0)].seconds += elapsed
                print("| \(round) | \(mode.rawValue.replacingOccurrences(of: "N", with: "\(rollEvery)")) | \(Int(rate)) | "
                      + "\(String(format: "%.1f", Double(after.snapshotShadowBytes) / 1_048_576)) | "
                      + "\(String(format: "%.1f", Double(peak) / 1_048_576)) | \(after.snapshotShadowsMade - before.snapshotShadowsMade) |")
            }
        }
        let base = sums[.none].map { Double($0.puts) / $0.seconds } ?? 1
        print("")
        for mode in Mode.allCases {
            guard let sum = sums[mode] else { continue }
            let rate = Double(sum.puts) / sum.seconds
            print("\(mode.rawValue.replacingOccurrences(of: "N", with: "\(rollEvery)")): \(Int(rate)) puts/s over all rounds "
                  + "(\(String(format: "%+.1f", (rate / base - 1) * 100)) % against no snapshot)")
        }
        let end = try tree.statistics()
        print("after every snapshot closed: \(end.openSnapshots) open, \(end.snapshotShadowBytes) bytes held")
    }
}
