import ArgumentParser

/// `holt-bench`: benchmarks of holt against its peers.
@main
struct HoltBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holt-bench",
        abstract: "Benchmarks of the holt engine against RocksDB, LMDB and SQLite.",
        subcommands: [EngineCommand.self, FeedCommand.self, FamiliesCommand.self, SnapshotCommand.self, GuardedCommand.self])
}
