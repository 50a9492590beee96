import ArgumentParser
import HoltFS

/// The `holtfs` command: mount a holt database, unmount it, inspect it, and give its free space back.
struct HoltfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holtfs",
        abstract: "A holt database as a POSIX file system (FUSE).",
        discussion: """
            `holtfs DB MNT -o opt,...` is `holtfs mount DB MNT -o opt,...`: the form mount.fuse3 runs \
            for `mount -t fuse.holtfs DB MNT` and for fstab lines of type fuse.holtfs. Errors are \
            one line: `holtfs: <operation> <path>: <reason>`, with a non-zero exit status.
            """,
        version: HoltFS.version,
        subcommands: [MountCommand.self, UmountCommand.self, CheckCommand.self, StatsCommand.self, CompactCommand.self, DumpCommand.self, LoadCommand.self, WatchCommand.self])
}
