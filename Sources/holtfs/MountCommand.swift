#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine
import HoltFS
import Logging

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

            Logs go to --log FILE, by default DB/holtfs.log, at --log-level (default info). While \
            mounted, DB/holtfs.pid names the daemon, and the daemon answers `holtfs stats` on the \
            socket DB/control.sock; a second mount of the same database fails at once. \
            --metrics HOST:PORT serves Prometheus metrics at http://HOST:PORT/metrics.

            -o takes holtfs's own settings too (-o sync=periodic,cache-mb=64 is --sync periodic \
            --cache-mb 64) and ignores the options mount(8) owns (defaults, auto, noauto, nofail, \
            _netdev, user, users, x-*, comment=...), so `holtfs DB MNT -o ...`, the form \
            mount.fuse3 runs for `mount -t fuse.holtfs DB MNT` and fstab lines, works as well.

            Default FUSE options: default_permissions, fsname=DB (the source df, findmnt and \
            mount -a see), subtype=holtfs; as root also \
            allow_other,dev,suid (-o nodev,nosuid restores libfuse's defaults); as another user \
            allow_other only when /etc/fuse.conf has user_allow_other, and never dev or suid. \
            Other -o options add to or override them.
            """)

    /// The sync modes `--sync` accepts.
    enum SyncChoice: String, ExpressibleByArgument, CaseIterable {
        case always, periodic, none
    }

    @Argument(help: "The database directory (created when missing).")
    var database: String

    @Argument(help: "The mount point: an existing directory.")
    var mountpoint: String

    @Option(help: "When a change is durable: always (before the reply; the default), periodic (within --sync-interval-ms), none (benchmarks only).")
    var sync: SyncChoice?

    @Option(name: .customLong("sync-interval-ms"), help: "The flush interval of --sync periodic, in milliseconds (default 1000).")
    var syncIntervalMilliseconds: Int?

    @Flag(name: [.customShort("f"), .long], help: "Serve in the foreground instead of returning once mounted.")
    var foreground = false

    @Option(
        name: .customShort("o"),
        help: ArgumentHelp(
            "Mount options, comma separated (repeatable): FUSE options (ro, allow_other, nodev, ...), holtfs settings (sync=periodic, sync-interval-ms=50, cache-mb=64, max-file-size=1G, log=FILE, log-level=LEVEL, metrics=HOST:PORT); mount(8)'s own (noauto, nofail, _netdev, x-*, ...) are ignored.",
            valueName: "opt,..."))
    var optionArguments: [String] = []

    @Option(name: .customLong("log"), help: ArgumentHelp("The log file (default: DB/holtfs.log).", valueName: "FILE"))
    var logPath: String?

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "The least severe messages the log keeps: trace, debug, info (the default), notice, warning, error or critical.",
            valueName: "LEVEL"))
    var logLevel: String?

    @Option(
        name: .customLong("metrics"),
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9100; port 0 picks a free one, which holtfs stats shows).",
            valueName: "HOST:PORT"))
    var metricsAddress: String?

    @Option(name: .customLong("cache-mb"), help: "The engine's cache budget, in MiB (default 256).")
    var cacheMegabytes: Int?

    @Option(
        name: .customLong("max-file-size"),
        help: ArgumentHelp(
            "The largest file, at most 128T; writes and truncates past it fail with EFBIG (bytes, or with K, M, G, T; default 1T).",
            valueName: "SIZE"))
    var maxFileSizeArgument: String?

    @Option(name: .customLong("ready-fd"), help: .private)
    var readyDescriptor: Int32?

    /// Validates, then daemonizes or serves.
    func run() throws(CommandFailure) {
        let settings = try settings()
        if foreground {
            // The daemon (started through /proc/self/exe, which names it `exe`) shows as holtfs to
            // ps, top and pgrep; threads started from here on inherit the name.
            if readyDescriptor != nil { ProcessName.set("holtfs") }
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
        let options: MountOptionList
        let chosen: ChosenSettings
        do throws(MountOptionList.Failure) {
            options = try MountOptionList.parse(optionArguments)
            chosen = try ChosenSettings(command: self, options: options.settings)
        } catch {
            throw fail(mnt, error.reason)
        }
        let logPath = chosen.logPath.map(Posix.absolute) ?? db + "/holtfs.log"

        if mnt.hasPrefix("/dev/fd/") {
            throw fail(mnt, "a /dev/fd/N mount point (mount.fuse3's drop_privileges) is not supported")
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
        for (path, what) in [(db, "the database"), (logPath, "the log")] {
            let real = Posix.canonicalAllowingMissingLeaf(path)
            if real == realMountpoint || real.hasPrefix(realMountpoint == "/" ? "/" : realMountpoint + "/") {
                throw fail(path, "\(what) cannot be inside the mount point \(mnt)")
            }
        }
        if case .success(let info) = Posix.fileStatus(db), !Posix.isDirectory(info) {
            throw fail(db, "the database path exists and is not a directory")
        }
        if access("/dev/fuse", R_OK | W_OK) != 0 {
            let code = errno
            let hint =
                code == EACCES
                ? "a user who is not root needs read and write access to it (most systems give it mode 0666)"
                : "is the fuse module loaded?"
            throw fail(mnt, "cannot use /dev/fuse: \(Errno(code)) (\(hint))")
        }
        let isRoot = geteuid() == 0
        let fuseOptions: [String]
        do {
            fuseOptions = try MountSettings.fuseOptions(
                userOptions: options.fuseOptions, isRoot: isRoot,
                userAllowOther: !isRoot && FuseConfiguration.userAllowOther(),
                database: Posix.canonicalAllowingMissingLeaf(db))
        } catch {
            throw fail(mnt, error.reason)
        }
        let syncMode: SyncMode =
            switch chosen.sync {
            case .always: .always
            case .periodic: .periodic(milliseconds: chosen.syncIntervalMilliseconds)
            case .none: .none
            }
        return MountSettings(
            database: db, mountpoint: mnt, sync: chosen.sync, syncIntervalMilliseconds: chosen.syncIntervalMilliseconds,
            syncMode: syncMode, fuseOptions: fuseOptions, userFuseOptions: options.fuseOptions,
            logPath: logPath, cacheMegabytes: chosen.cacheMegabytes, maxFileSize: chosen.maxFileSize,
            logLevel: chosen.logLevel, metrics: chosen.metrics)
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
    /// The FUSE options of `-o` as given (without holtfs's settings and mount(8)'s options), to
    /// pass on to the daemon.
    var userFuseOptions: [String]
    /// The log file, absolute.
    var logPath: String
    /// The engine's cache budget in MiB.
    var cacheMegabytes: Int
    /// The largest file size in bytes.
    var maxFileSize: UInt64
    /// The least severe level the log keeps.
    var logLevel: Logger.Level = .info
    /// Where to serve Prometheus metrics, or `nil`.
    var metrics: MetricsAddress?

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

    /// The defaults (`default_permissions`, `fsname=` the database path `database`,
    /// `subtype=holtfs`; `allow_other`, `dev`, `suid` for root; `allow_other` for another user
    /// when `userAllowOther`) merged with
    /// `userOptions` (single FUSE options, as `MountOptionList` sorted them): a user option
    /// replaces a default of the same name (see `optionName`: `nodev` replaces `dev`).
    ///
    /// For a user who is not root, `dev` and `suid` are left out: fusermount3 ignores them for
    /// such a user (with a warning), and mount.fuse3 adds them to every mount it starts.
    ///
    /// - Throws: A failure when a user who is not root asks for `allow_other` or `allow_root`
    ///   and /etc/fuse.conf does not allow it (`userAllowOther` false).
    static func fuseOptions(
        userOptions: [String], isRoot: Bool, userAllowOther: Bool, database: String
    ) throws(MountOptionList.Failure) -> [String] {
        // The database as the mount's source, as sshfs shows user@host:path: `mount -a` then
        // knows an fstab line is mounted already (it compares sources), and df names the database.
        var result = ["default_permissions", "fsname=" + escapedOptionValue(database), "subtype=holtfs"]
        // As root, behave like a local file system: other users see the mount, and device nodes
        // and set-user-ID bits work (libfuse mounts nodev,nosuid otherwise; creating a device node
        // still needs CAP_MKNOD, and only root can make a root-owned set-user-ID file).
        if isRoot { result += ["allow_other", "dev", "suid"] }
        if !isRoot && userAllowOther { result.append("allow_other") }
        for option in userOptions {
            let name = optionName(option)
            if !isRoot {
                if option == "dev" || option == "suid" { continue }
                if name == "allow_other" && !userAllowOther {
                    throw MountOptionList.Failure(
                        reason: "-o \(option) needs root or a line user_allow_other in \(FuseConfiguration.path)")
                }
            }
            result.removeAll { optionName($0) == name }
            result.append(option)
        }
        return result
    }

    /// `value` escaped for libfuse's option parser: `\` and `,` behind a backslash.
    static func escapedOptionValue(_ value: String) -> String {
        var result = ""
        for character in value {
            if character == "\\" || character == "," { result.append("\\") }
            result.append(character)
        }
        return result
    }

    /// The name an option is known by when a later one overrides it: the part before `=`, with
    /// a `no` prefix of `nodev`/`nosuid`/`noexec`/`noatime` removed so `nodev` overrides `dev`,
    /// and `allow_root` known as `allow_other`.
    static func optionName(_ option: String) -> String {
        let name = option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
        // allow_root and allow_other exclude each other: the later one wins.
        if name == "allow_root" { return "allow_other" }
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
        arguments += ["--log-level", logLevel.rawValue]
        if let metrics { arguments += ["--metrics", metrics.text] }
        if !userFuseOptions.isEmpty { arguments += ["-o", userFuseOptions.joined(separator: ",")] }
        return arguments
    }
}
