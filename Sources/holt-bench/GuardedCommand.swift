#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import HoltEngine

/// `holt-bench guarded`: guarded batches beside a buffered load, holt alone.
///
/// Loads `--keys` random path keys in batches of 100 through a cache of `--cache-mib` (small
/// enough that the tree outgrows it, so the write buffer is on), then for `--batches` batches
/// goes on with random puts, every `--every`-th batch a guarded create instead (`.expect(key,
/// .absent)` and a put of a new key: what a filesystem's create or a session store's
/// compare-and-swap sends). Reports the guarded batches' latency and the puts' rate beside them:
/// what a batch that does not go through the write buffer costs its neighbours.
struct GuardedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guarded",
        abstract: "Measure guarded batches (expect + put) beside random puts through a write buffer (holt only).")

    @Option(help: "Keys loaded before the measured batches.")
    var keys: Int = 300_000

    @Option(name: .customLong("cache-mib"), help: "Cache, in MiB (the write buffer is a quarter of it by default).")
    var cacheMiB: Int = 8

    @Option(help: "Measured batches.")
    var batches: Int = 3_000

    @Option(help: "One batch in this many is a guarded create.")
    var every: Int = 10

    @Option(help: "Database directory (default: a new one under /var/tmp, removed afterwards).")
    var path: String?

    func validate() throws {
        guard keys >= 1_000, cacheMiB >= 2, batches >= every, every >= 2 else {
            throw ValidationError("--keys at least 1000, --cache-mib at least 2, --every at least 2 and at most --batches")
        }
    }

    func run() throws {
        let directory = path ?? "/var/tmp/holt-bench-guarded-\(getpid())"
        defer { if path == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let tree = try Tree.open(path: directory, options: Options(cacheBytes: cacheMiB << 20, sync: .none))
        defer { try? tree.close() }
        var random = SystemRandomNumberGenerator()
        let value = [UInt8](repeating: 0x61, count: 64)
        func randomPuts() -> [TxnOp] {
            (0..<100).map { _ in
                let i = Int.random(in: 0..<Int.max, using: &random)
                return .put(key: Array("t\(i % 7)/bucket\(i % 13)/d\(i % 997)/file-\(i)".utf8), value: value)
            }
        }
        for _ in 0..<(keys / 100) { try tree.apply(randomPuts()) }

        var guarded = LatencyRecorder(capacity: batches / every + 1)
        var puts = 0
        let started = BenchClock.now()
        for batch in 0..<batches {
            if batch % every == every - 1 {
                let key = Array("guarded/\(batch)".utf8)
                let before = BenchClock.now()
                try tree.apply([.expect(key: key, .absent), .put(key: key, value: value)])
                guarded.record(BenchClock.now() - before)
            } else {
                try tree.apply(randomPuts())
                puts += 100
            }
        }
        let seconds = Double(BenchClock.now() - started) / 1e9
        let summary = guarded.summary()
        let stats = try tree.statistics()
        func micro(_ nanoseconds: UInt64) -> String { String(format: "%.1f", Double(nanoseconds) / 1e3) }
        print("guarded batches: \(guarded.count), p50 \(micro(summary.p50)) µs, p99 \(micro(summary.p99)) µs, max \(micro(summary.max)) µs")
        print(String(format: "puts beside them: %.0f keys/s", Double(puts) / seconds))
        print("write buffer: \(stats.writeBufferedOps) ops buffered, \(stats.writeBufferFlushes) flushes, \(stats.writeBufferKeys) keys held at the end")
    }
}
