import ArgumentParser
import HoltFS

/// The `holtfs` command: mount a holt database, unmount it, and inspect it offline.
struct HoltfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holtfs",
        abstract: "A holt database as a POSIX file system (FUSE).",
        discussion: "Errors are one line: `holtfs: <operation> <path>: <reason>`, with a non-zero exit status.",
        version: HoltFS.version,
        subcommands: [MountCommand.self, UmountCommand.self, CheckCommand.self, StatsCommand.self, DumpCommand.self])
}
