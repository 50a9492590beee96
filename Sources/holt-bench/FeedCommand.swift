#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import HoltEngine

/// `holt-bench feed`: the change feed's throughput and lag while writers `put`.
///
/// `--writers` threads put batches of `--keys-per-batch` new keys for `--seconds`; one consumer
/// thread reads `Tree.changes(after:)` from the start, live, as a follower would. Every value
/// holds the monotonic time its batch's `apply` was called, so the consumer measures each
/// batch's *lag*: from that call to the moment the consumer holds the batch (so it includes the
/// batch's own commit: under `.always`, its log flush). Reported: batches committed and
/// delivered per second, lag p50/p99/max, and the writers' batch latency for comparison. After
/// the writers stop, the consumer must catch up with every committed batch (checked).
struct FeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Measure change-feed throughput (batches/s delivered to a consumer while put runs) and its lag.")

    @Option(help: "Seconds the writers run.")
    var seconds: Double = 5

    @Option(help: "Writer threads (several share a log flush under --sync always).")
    var writers: Int = 2

    @Option(help: "New keys per batch.")
    var keysPerBatch: Int = 1

    @Option(help: "Sync mode: always, periodic (10 ms) or none.")
    var sync: String = "always"

    @Option(help: "Database directory (default: a new one under /tmp, removed afterwards).")
    var path: String?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let mode: SyncMode = switch sync {
        case "always": .always
        case "periodic": .periodic(milliseconds: 10)
        case "none": .none
        default: throw ValidationError("--sync is always, periodic or none")
        }
        let directory = path ?? NSTemporaryDirectory() + "holt-bench-feed-\(getpid())"
        defer { if path == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let tree = try Tree.open(path: directory, options: Options(cacheBytes: 64 << 20, sync: mode))
        defer { try? tree.close() }
        let start = tree.lastCommittedLSN
        let feed = try tree.changes(after: start)
        let stop = Locked(false)
        let deadline = BenchClock.now() + UInt64(seconds * 1e9)

        // Writers: batches of new keys, each value the time its batch was handed to the tree.
        let writerResults = Locked<[(batches: Int, latency: LatencyRecorder)]>([])
        let writerThreads = (0..<writers).map { writer in
            BenchThread { [keysPerBatch] in
                var latency = LatencyRecorder(capacity: 2_000_000)
                var batches = 0
                while BenchClock.now() < deadline {
                    let began = BenchClock.now()
                    var stamp = began
                    let value = withUnsafeBytes(of: &stamp) { Array($0) }
                    let ops = (0..<keysPerBatch).map { index in
                        TxnOp.put(key: Array("w\(writer)/\(batches)/\(index)".utf8), value: value)
                    }
                    do { try tree.apply(ops) } catch { break }
                    latency.record(BenchClock.now() - began)
                    batches += 1
                }
                writerResults.withLock { $0.append((batches, latency)) }
            }
        }

        // The consumer: every batch, live; lag from the batch's stamp to its delivery.
        let consumed = Locked<(batches: Int, lag: LatencyRecorder, last: UInt64, lastAt: UInt64, failure: String?)>(
            (0, LatencyRecorder(capacity: 1), 0, 0, nil))
        let consumer = BenchThread {
            var lag = LatencyRecorder(capacity: 4_000_000)
            var batches = 0
            var last = start.rawValue
            var failure: String?
            var lastAt: UInt64 = 0
            while true {
                do {
                    guard let batch = try feed.next(timeout: .milliseconds(100)) else {
                        if stop.withLock({ $0 }) && last >= tree.lastCommittedLSN.rawValue { break }
                        continue
                    }
                    let now = BenchClock.now()
                    lastAt = now
                    if batch.lsn.rawValue != last + 1 { failure = "batch \(batch.lsn) after \(last)" }
                    last = batch.lsn.rawValue
                    batches += 1
                    if case .put(_, let value) = batch.ops.first, value.count == 8 {
                        let stamp = value.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                        lag.record(now > stamp ? now - stamp : 0)
                    }
                } catch {
                    failure = "\(error)"
                    break
                }
            }
            consumed.withLock { $0 = (batches, lag, last, lastAt, failure) }
        }
        let began = BenchClock.now()
        writerThreads.forEach { $0.join() }
        let wrote = BenchClock.now() - began
        stop.withLock { $0 = true }
        consumer.join()
        let (delivered, lag, last, lastAt, failure) = consumed.withLock { $0 }
        let drained = max(lastAt, began + wrote) - began
        let results = writerResults.withLock { $0 }
        let committed = results.reduce(0) { $0 + $1.batches }
        var putLatency = LatencyRecorder(capacity: 1)
        for result in results { putLatency.merge(result.latency) }
        if let failure { throw ValidationError("the feed failed: \(failure)") }
        guard delivered == committed, last == tree.lastCommittedLSN.rawValue else {
            throw ValidationError("delivered \(delivered) batches of \(committed) committed (last LSN \(last))")
        }
        let lagSummary = lag.summary(), putSummary = putLatency.summary()
        let machine = Machine.current()
        let figures: [(String, Double)] = [
            ("batches_committed", Double(committed)),
            ("put_batches_per_sec", Double(committed) / BenchClock.seconds(wrote)),
            ("feed_batches_per_sec", Double(delivered) / BenchClock.seconds(wrote)),
            ("feed_lag_p50_us", Double(lagSummary.p50) / 1000),
            ("feed_lag_p99_us", Double(lagSummary.p99) / 1000),
            ("feed_lag_max_us", Double(lagSummary.max) / 1000),
            ("put_batch_p50_us", Double(putSummary.p50) / 1000),
            ("put_batch_p99_us", Double(putSummary.p99) / 1000),
            // From the writers' end to the consumer's last batch.
            ("catch_up_after_writers_ms", Double(drained - wrote) / 1e6),
        ]
        if json {
            let fields = figures.map { "\"\($0.0)\":\(String(format: "%.1f", $0.1))" }
            print("{\"workload\":\"feed\",\"sync\":\"\(sync)\",\"writers\":\(writers),\"keys_per_batch\":\(keysPerBatch),"
                + "\"cpu\":\"\(machine.cpuModel)\",\"cpus\":\(machine.cpus)," + fields.joined(separator: ",") + "}")
        } else {
            print("feed: \(writers) writer(s), \(keysPerBatch) key(s)/batch, sync \(sync), \(String(format: "%.1f", BenchClock.seconds(wrote))) s; \(machine.cpuModel), \(machine.cpus) CPUs")
            for (name, value) in figures { print("  \(name): \(String(format: "%.1f", value))") }
        }
    }
}
