#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine
import HoltFS

/// `holtfs mount DB MNT`: checks what it can, then serves the database at the mount point in a
/// daemon (returning once the mount answers) or, with `-f`, in this process.
struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount the holt database DB at the directory MNT.",
        discussion: """
            Creates DB when it is missing. Without -f, holtfs returns once the mount answers and \
            keeps serving it in the background; unmount with `holtfs umount MNT`, which waits \
            until the database is closed cleanly. SIGTERM or SIGINT to the daemon do the same.

            Logs go to --log FILE, by default DB/holtfs.log. While mounted, DB/holtfs.pid names \
            the daemon; a second mount of the same database fails at once.

            Default FUSE options: default_permissions, fsname=holtfs, subtype=holtfs, and \
            allow_other,dev,suid when run as root; -o adds to or overrides them (-o nodev,nosuid \
            restores libfuse's defaults).
            """)

    /// The sync modes `--sync` accepts.
    enum SyncChoice: String, ExpressibleByArgument, CaseIterable {
        case always, periodic, none
    }

    @Argument(help: "The database directory (created when missing).")
    var database: String

    @Argument(help: "The mount point: an existing directory.")
    var mountpoint: String

    @Option(help: "When a change is durable: always (before the reply), periodic (within --sync-interval-ms), none (benchmarks only).")
    var sync: SyncChoice = .always

    @Option(name: .customLong("sync-interval-ms"), help: "The flush interval of --sync periodic, in milliseconds.")
    var syncIntervalMilliseconds: Int = 1000

    @Flag(name: [.customShort("f"), .long], help: "Serve in the foreground instead of returning once mounted.")
    var foreground = false

    @Option(name: .customShort("o"), help: ArgumentHelp("FUSE mount options, comma separated (repeatable).", valueName: "opt,..."))
    var fuseOptionArguments: [String] = []

    @Option(name: .customLong("log"), help: ArgumentHelp("The log file (default: DB/holtfs.log).", valueName: "FILE"))
    var logPath: String?

    @Option(name: .customLong("cache-mb"), help: "The engine's cache budget, in MiB.")
    var cacheMegabytes: Int = 256

    @Option(
        name: .customLong("max-file-size"),
        help: ArgumentHelp("The largest file, at most 128T; writes and truncates past it fail with EFBIG (bytes, or with K, M, G, T).", valueName: "SIZE"))
    var maxFileSizeArgument: String = "1T"

    @Option(name: .customLong("ready-fd"), help: .private)
    var readyDescriptor: Int32?

    /// Validates, then daemonizes or serves.
    func run() throws(CommandFailure) {
        let settings = try settings()
        if foreground {
            try MountServer(settings: settings, readyDescriptor: readyDescriptor).serve()
        } else {
            try MountDaemon.start(settings: settings)
        }
    }

    /// Everything the command line says, checked, with absolute paths.
    ///
    /// - Throws: A one-line failure naming the mount point or the database.
    func settings() throws(CommandFailure) -> MountSettings {
        guard !database.isEmpty else { throw CommandFailure(operation: "mount", path: "''", reason: "empty database path") }
        guard !mountpoint.isEmpty else { throw CommandFailure(operation: "mount", path: "''", reason: "empty mount point") }
        let mnt = Posix.absolute(mountpoint)
        let db = Posix.absolute(database)
        func fail(_ path: String, _ reason: String) -> CommandFailure {
            CommandFailure(operation: "mount", path: path, reason: reason)
        }
        switch Posix.fileStatus(mnt) {
        case .failure(let error) where error.code == ENOENT:
            throw fail(mnt, "the mount point does not exist")
        case .failure(let error) where error.code == ENOTCONN:
            throw fail(mnt, "a dead mount is still there (its daemon died): holtfs umount \(mnt) first")
        case .failure(let error):
            throw fail(mnt, "cannot use the mount point: \(error)")
        case .success(let info) where !Posix.isDirectory(info):
            throw fail(mnt, "the mount point is not a directory")
        case .success:
            break
        }
        if let entry = MountTable.entry(at: mnt), entry.type == MountTable.holtfsType {
            // A registered mount whose daemon no longer holds its database is dead (the kernel
            // may still answer stat from its attribute cache).
            let registered = MountRegistry.lookup(mountpoint: mnt)
            if let registered, !DatabaseLock.isHeld(database: registered.database) {
                throw fail(mnt, "a dead mount is still there (its daemon died): holtfs umount \(mnt) first")
            }
            throw fail(mnt, "already a holtfs mount\(registered.map { " (database \($0.database))" } ?? "")")
        }
        // The daemon writes the database and the log after mounting: through its own mount, that
        // would deadlock.
        let realMountpoint = Posix.canonical(mnt)
        for (path, what) in [(db, "the database"), (logPath.map(Posix.absolute) ?? db + "/holtfs.log", "the log")] {
            let real = Posix.canonicalAllowingMissingLeaf(path)
            if real == realMountpoint || real.hasPrefix(realMountpoint == "/" ? "/" : realMountpoint + "/") {
                throw fail(path, "\(what) cannot be inside the mount point \(mnt)")
            }
        }
        if case .success(let info) = Posix.fileStatus(db), !Posix.isDirectory(info) {
            throw fail(db, "the database path exists and is not a directory")
        }
        if access("/dev/fuse", R_OK | W_OK) != 0 {
            throw fail(mnt, "cannot use /dev/fuse: \(Errno(errno)) (is the fuse module loaded?)")
        }
        guard syncIntervalMilliseconds > 0 else {
            throw fail(mnt, "--sync-interval-ms must be positive, not \(syncIntervalMilliseconds)")
        }
        guard cacheMegabytes > 0, cacheMegabytes < 1 << 24 else {
            throw fail(mnt, "--cache-mb must be between 1 and \(1 << 24), not \(cacheMegabytes)")
        }
        guard let maxFileSize = MountSettings.parseSize(maxFileSizeArgument), maxFileSize > 0 else {
            throw fail(mnt, "--max-file-size must be a positive size like 4096, 64M or 1T, not '\(maxFileSizeArgument)'")
        }
        guard maxFileSize <= MountOptions.largestMaxFileSize else {
            throw fail(mnt, "--max-file-size must be at most 128T (2^32 chunks of 32 KiB), not '\(maxFileSizeArgument)'")
        }
        let fuseOptions: [String]
        do { fuseOptions = try MountSettings.fuseOptions(userOptions: fuseOptionArguments, isRoot: geteuid() == 0) } catch {
            throw fail(mnt, error.reason)
        }
        let syncMode: SyncMode =
            switch sync {
            case .always: .always
            case .periodic: .periodic(milliseconds: syncIntervalMilliseconds)
            case .none: .none
            }
        return MountSettings(
            database: db, mountpoint: mnt, sync: sync, syncIntervalMilliseconds: syncIntervalMilliseconds,
            syncMode: syncMode, fuseOptions: fuseOptions, userFuseOptions: fuseOptionArguments,
            logPath: logPath.map(Posix.absolute) ?? db + "/holtfs.log", cacheMegabytes: cacheMegabytes,
            maxFileSize: maxFileSize)
    }
}

/// The checked settings of one mount, as both the daemon starter and the server use them.
struct MountSettings {
    /// The database directory, absolute.
    var database: String
    /// The mount point, absolute.
    var mountpoint: String
    /// The sync mode as typed, to pass on to the daemon.
    var sync: MountCommand.SyncChoice
    /// The periodic flush interval as typed.
    var syncIntervalMilliseconds: Int
    /// The engine's sync mode.
    var syncMode: SyncMode
    /// The full FUSE option list (defaults merged with `-o`).
    var fuseOptions: [String]
    /// The `-o` arguments as typed, to pass on to the daemon.
    var userFuseOptions: [String]
    /// The log file, absolute.
    var logPath: String
    /// The engine's cache budget in MiB.
    var cacheMegabytes: Int
    /// The largest file size in bytes.
    var maxFileSize: UInt64

    /// Bytes from `text`: digits with an optional binary suffix K, M, G or T (case-insensitive);
    /// `nil` when malformed or past `UInt64`.
    static func parseSize(_ text: String) -> UInt64? {
        var digits = Substring(text)
        var shift: UInt64 = 0
        if let last = digits.last?.uppercased(), let index = ["K", "M", "G", "T"].firstIndex(of: last) {
            shift = UInt64(10 * (index + 1))
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = UInt64(digits) else { return nil }
        guard value <= UInt64.max >> shift else { return nil }
        return value << shift
    }

    /// A bad `-o` argument.
    struct OptionError: Error {
        /// What is wrong, in one line.
        var reason: String
    }

    /// The defaults (`default_permissions`, `fsname=holtfs`, `subtype=holtfs`; `allow_other`,
    /// `dev`, `suid` for root) merged with the comma-separated `userOptions`; a user option replaces
    /// a default of the same name (the part before `=`; `nodev` replaces `dev`, `nosuid` `suid`).
    ///
    /// - Throws: `OptionError` for an empty option or one with blanks.
    static func fuseOptions(userOptions: [String], isRoot: Bool) throws(OptionError) -> [String] {
        var result = ["default_permissions", "fsname=holtfs", "subtype=holtfs"]
        // As root, behave like a local file system: other users see the mount, and device nodes
        // and set-user-ID bits work (libfuse mounts nodev,nosuid otherwise; creating a device node
        // still needs CAP_MKNOD, and only root can make a root-owned set-user-ID file).
        if isRoot { result += ["allow_other", "dev", "suid"] }
        for argument in userOptions {
            for option in argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard !option.isEmpty else { throw OptionError(reason: "empty FUSE option in -o '\(argument)'") }
                guard !option.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else {
                    throw OptionError(reason: "bad FUSE option '\(option)'")
                }
                let name = optionName(option)
                result.removeAll { optionName($0) == name }
                result.append(option)
            }
        }
        return result
    }

    /// The name an option is known by when a later one overrides it: the part before `=`, with
    /// a `no` prefix of `nodev`/`nosuid`/`noexec`/`noatime` removed so `nodev` overrides `dev`.
    static func optionName(_ option: String) -> String {
        let name = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
        return ["nodev", "nosuid", "noexec", "noatime"].contains(name) ? String(name.dropFirst(2)) : name
    }

    /// The arguments that make `holtfs` serve these settings in the foreground, reporting on `readyFD`.
    func daemonArguments(readyFD: Int32) -> [String] {
        var arguments = [
            "mount", database, mountpoint, "--sync", sync.rawValue,
            "--sync-interval-ms", String(syncIntervalMilliseconds), "--log", logPath,
            "--cache-mb", String(cacheMegabytes), "--max-file-size", String(maxFileSize),
            "--foreground", "--ready-fd", String(readyFD),
        ]
        for option in userFuseOptions { arguments += ["-o", option] }
        return arguments
    }
}
