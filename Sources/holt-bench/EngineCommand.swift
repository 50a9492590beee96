import ArgumentParser
import Foundation

/// `holt-bench engine`: every workload on every system, in one run, on the same keys.
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run the engine workloads on holt and its peers (progress on stderr, a table on stdout).",
        discussion: "Workloads, in order: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")). "
            + "See BENCHMARKS.md for what each does and how each system is set up.")

    @Option(help: "Number of keys (at least \(Dataset.minimumKeyCount)); the directory shapes are exact at 1,000,000.")
    var keys = Dataset.defaultKeyCount

    @Option(help: "Comma-separated systems: holt, rocksdb, lmdb, sqlite.")
    var systems = "holt,rocksdb,lmdb,sqlite"

    @Option(help: "Comma-separated workloads (default all); the load always runs.")
    var workloads = Workload.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    @Option(help: "Directory for the databases (one subdirectory per system, removed before and after).")
    var dbDir = "/var/tmp/holt-bench"

    @Option(name: .customLong("cache-mib"), help: "Cache budget of every system, in MiB.")
    var cacheMiB = 1024

    @Option(name: .customLong("write-buffer-mib"), help: "holt's write buffer, in MiB, taken out of its cache (default: the engine's, a quarter of the cache within 1-32 MiB; 0: none).")
    var writeBufferMiB: Int?

    @Option(help: "Durable puts in all for durable-put.")
    var durablePuts = 8_000

    @Option(help: "Threads for durable-put.")
    var durableThreads = 4

    @Option(help: "Seconds each fixed-time workload runs (get-2-threads, read-alone, read-with-writer, put-1-thread, put-2-threads).")
    var rwSeconds = 6.0

    @Option(help: "Deletions between two compactions in read-with-compaction (default: keys ÷ 20).")
    var compactEvery = 0

    @Option(help: "Seconds the deleter of read-with-deleter and read-with-compaction spreads its deletions over (it stops at 3x).")
    var deleteSeconds = 10.0

    @Option(help: "CPU the single-threaded workloads are pinned to (thread k of a fixed-time workload: CPU cpu+k mod nproc); --cpu=-1 to not pin.")
    var cpu = 0

    @Option(help: "Seconds between two progress lines of put, get, get-miss, list and scan on stderr (0: none); bench/scale.sh reads the last one of a run it stopped.")
    var progressSeconds = 0.0

    @Option(help: "Seed of the key generator and of every random order.")
    var seed = Dataset.defaultSeed

    @Flag(help: "Keep the databases after the run.")
    var keepData = false

    @Flag(help: "Check the key generator's directory shapes and determinism, then exit.")
    var selfCheck = false

    func validate() throws {
        guard keys >= Dataset.minimumKeyCount else {
            throw ValidationError("--keys must be at least \(Dataset.minimumKeyCount)")
        }
        for name in systemNames where !Self.knownSystems.contains(name) {
            throw ValidationError("unknown system \(name); known: \(Self.knownSystems.joined(separator: ", "))")
        }
        for name in workloadNames where Workload(rawValue: name) == nil {
            throw ValidationError("unknown workload \(name)")
        }
        if let writeBufferMiB, writeBufferMiB < 0 || writeBufferMiB > cacheMiB / 2 {
            throw ValidationError("--write-buffer-mib must be between 0 and half of --cache-mib")
        }
        guard rwSeconds > 0 else {
            throw ValidationError("--rw-seconds must be positive")
        }
        guard compactEvery >= 0, deleteSeconds > 0 else {
            throw ValidationError("--compact-every must not be negative, --delete-seconds must be positive")
        }
        guard progressSeconds >= 0 else {
            throw ValidationError("--progress-seconds must not be negative")
        }
        guard durableThreads > 0, durablePuts >= durableThreads else {
            throw ValidationError("--durable-puts must be at least --durable-threads (> 0)")
        }
    }

    static let knownSystems = ["holt", "rocksdb", "lmdb", "sqlite"]

    private var systemNames: [String] { systems.split(separator: ",").map { String($0) } }
    private var workloadNames: [String] { workloads.split(separator: ",").map { String($0) } }

    func run() throws {
        let generationStart = BenchClock.now()
        let dataset = Dataset.generate(keyCount: keys, seed: seed)
        Log.progress("generated \(dataset.keys.count) keys (seed \(seed)) in \(Report.seconds(BenchClock.now() - generationStart)) s; "
            + "\(dataset.shape.thousandFileDirectories) thousand-file directories, \(dataset.shape.mixedDirectories) mixed, "
            + "\(dataset.fileDirectories.count) directories with files")
        if keys != Dataset.defaultKeyCount {
            Log.progress("note: with --keys \(keys) the fixed directories are scaled (exact shapes at \(Dataset.defaultKeyCount))")
        }

        if selfCheck {
            let problems = dataset.selfCheckProblems()
            for problem in problems { Log.progress("self-check: \(problem)") }
            guard problems.isEmpty else { throw ExitCode.failure }
            let lengths = dataset.keys.map(\.count)
            print("self-check passed: \(dataset.keys.count) keys, lengths \(lengths.min()!)...\(lengths.max()!) "
                + "(mean \(lengths.reduce(0, +) / lengths.count)), \(dataset.listedDirectories.count) directories of 1000 children, "
                + "\(dataset.shape.bigDescendants) keys below \(String(decoding: dataset.bigDirectory, as: UTF8.self)), "
                + "1 below \(String(decoding: dataset.singleDirectory, as: UTF8.self)), deterministic")
            return
        }

        let sizes = WorkloadSizes(
            durablePuts: durablePuts, durableThreads: durableThreads, timedSeconds: rwSeconds, compactEvery: compactEvery,
            deleteSeconds: deleteSeconds, progressSeconds: progressSeconds)
        let runner = WorkloadRunner(dataset: dataset, sizes: sizes, cpu: cpu >= 0 ? cpu : nil)
        let selected = Set(workloadNames.compactMap(Workload.init(rawValue:)))
        let files = FileManager.default
        try files.createDirectory(atPath: dbDir, withIntermediateDirectories: true)
        var results: [WorkloadResult] = []
        let machine = Machine.current()
        for system in systemNames {
            let path = dbDir + "/" + system
            try? files.removeItem(atPath: path)
            try files.createDirectory(atPath: path, withIntermediateDirectories: true)
            do {
                let store = try open(system, path: path)
                results += runner.run(store, workloads: selected, directory: path)
                try store.close()
            } catch {
                Log.progress("[\(system)] FAILED: \(error)")
            }
            if !keepData { try? files.removeItem(atPath: path) }
            if selected.contains(.space) {
                results += measureSpace(system, runner: runner, path: path + "-space")
            }
            // Written after every system, so a crash in a later one leaves the results so far.
            try writeJSON(results, machine: machine)
        }

        print(Report.table(results), terminator: "")
        if let json { Log.progress("wrote \(json)") }
    }

    /// The `space` row of `system`, from a fresh store in `path` (removed before and, without
    /// `--keep-data`, after); empty when it fails.
    private func measureSpace(_ system: String, runner: WorkloadRunner, path: String) -> [WorkloadResult] {
        let files = FileManager.default
        try? files.removeItem(atPath: path)
        defer { if !keepData { try? files.removeItem(atPath: path) } }
        do {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true)
            Log.progress("[\(system)] space: loading \(keys) keys into a fresh store")
            let result = try runner.space(open: { try open(system, path: path) }, directory: path)
            let space = result.space!
            Log.progress("[\(system)] space: \(space.diskBytes) bytes on disk (\(space.apparentBytes) apparent, "
                + "\(space.files) files) for \(space.liveBytes) bytes of keys and values: "
                + "\(String(format: "%.3f", space.amplification))×"
                + (result.extra["amplification_after_compaction"].map { String(format: "; after full compaction %.3f×", $0) } ?? "")
                + (result.extra["flush_compaction_write_gb"].map { String(format: "; flushes and compactions wrote %.3f GB", $0) } ?? "")
                + (result.extra["sst_files_level0"].map { level0 in
                    let below = (1..<7).reduce(0.0) { $0 + max(result.extra["sst_files_level\($1)"] ?? 0, 0) }
                    return String(format: "; SST files: %.0f in L0, %.0f below (%@)", level0, below,
                                  below > 0 ? "a compaction ran" : "no compaction ran")
                } ?? ""))
            return [result]
        } catch {
            Log.progress("[\(system)] space FAILED: \(error)")
            return []
        }
    }

    /// Writes the results so far to `--json`, when given.
    private func writeJSON(_ results: [WorkloadResult], machine: Machine) throws {
        guard let json else { return }
        let notes = [
            "pinning": cpu >= 0
                ? "single-threaded workloads pinned to CPU \(cpu); durable-put unpinned; thread k of the fixed-time "
                    + "workloads pinned to CPU (\(cpu) + k) mod \(machine.cpus) (read-with-writer: reader k=0, writer k=1)"
                : "unpinned",
            "durable_puts": "\(durablePuts) puts from \(durableThreads) threads",
            "rw_seconds": "\(rwSeconds)",
            "writer_batch": "\(WorkloadSizes().writerBatch) keys per unsynced batch (read-with-writer, put-1-thread, put-2-threads)",
            "cache_bytes": "\(cacheMiB << 20)",
            "holt_write_buffer_bytes": writeBufferMiB.map { "\($0 << 20)" } ?? "the engine's default",
            "space": "a fresh store per system: the load of put, settled, closed; disk_bytes = st_blocks x 512 summed "
                + "over its directory (du), live_bytes = the keys' and values' bytes; rocksdb: no compression (as every "
                + "workload), automatic compactions waited for by settle; extra *_after_compaction: reopened, compacted "
                + "in place (holt compact(), rocksdb CompactRange with the bottommost level forced, sqlite VACUUM), closed",
            "deletes": "read-with-deleter / read-with-compaction: the deleter deletes \(Int(WorkloadSizes().deleteShare * 100))% "
                + "of the loaded keys (seeded random order, unsynced batches of \(WorkloadSizes().deleteBatch)); "
                + "read-with-compaction compacts every \(compactEvery > 0 ? compactEvery : max(keys / 20, 1)) deletions and at "
                + "the end; the deletions paced evenly over \(deleteSeconds) s (stopping at 3x); the reader reads the other "
                + "keys until the deleter is done",
        ]
        try Report.json(results, machine: machine, keys: keys, notes: notes)
            .write(toFile: json, atomically: true, encoding: .utf8)
    }

    /// Opens the store of `system` in the empty directory `path`, with the shared cache budget.
    private func open(_ system: String, path: String) throws -> any BenchStore {
        let cacheBytes = cacheMiB << 20
        switch system {
        case "holt": return try HoltStore(path: path, cacheBytes: cacheBytes, writeBufferBytes: writeBufferMiB.map { $0 << 20 })
        case "rocksdb": return try RocksDBStore(path: path, cacheBytes: cacheBytes)
        case "lmdb": return try LMDBStore(path: path)
        case "sqlite": return try SQLiteStore(path: path, cacheBytes: cacheBytes)
        default: throw BenchError("unknown system \(system)")
        }
    }
}
