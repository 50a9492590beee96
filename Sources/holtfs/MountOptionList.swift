/// The `-o opt,...` arguments of `holtfs mount` (and of `holtfs DB MNT -o ...`, the form
/// `mount.fuse3` runs), sorted into what holtfs does with each option.
///
/// Three kinds, in the order they are tried:
/// - holtfs's own settings, `name=value` with a name of `settingNames` (`sync=periodic`,
///   `cache-mb=64`; `_` may stand for `-`): the same settings as the long options
///   `--sync`, `--cache-mb`, ...;
/// - options mount(8) and fstab own (`defaults`, `noauto`, `nofail`, `_netdev`, `user`,
///   `x-systemd.automount`, `comment=...`): ignored, so an fstab line or a systemd unit can carry them;
/// - everything else: a FUSE option for libfuse and the kernel (`ro`, `allow_other`, `nodev`),
///   which libfuse accepts or rejects with its own one-line explanation.
struct MountOptionList: Equatable {
    /// The names of holtfs's own settings, as their long options spell them.
    static let settingNames: Set<String> = [
        "sync", "sync-interval-ms", "cache-mb", "max-file-size", "log", "log-level", "metrics",
    ]

    /// The options mount(8), fstab and systemd use for themselves; a file system never sees them
    /// from `mount`, but `holtfs DB MNT -o ...` typed by hand (or another helper) may pass them.
    static let mountOwnedNames: Set<String> = ["defaults", "auto", "noauto", "_netdev", "nofail", "user", "nouser", "users", "owner", "group"]

    /// A bad `-o` argument.
    struct Failure: Error, Equatable {
        /// What is wrong, in one line.
        var reason: String
    }

    /// holtfs's settings given with `-o`, by name (`-` spelling); a later one replaces an earlier one.
    var settings: [String: String] = [:]
    /// The FUSE options, in the order given.
    var fuseOptions: [String] = []
    /// The options ignored because mount(8) owns them, in the order given.
    var ignored: [String] = []

    /// Sorts the options of every `-o` argument (each a comma-separated list).
    ///
    /// - Throws: `Failure` for an empty option (`a,,b`), one with blanks, or a holtfs setting
    ///   without a value (`cache-mb`, `sync=`).
    static func parse(_ arguments: [String]) throws(Failure) -> MountOptionList {
        var list = MountOptionList()
        for argument in arguments {
            for option in argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                guard !option.isEmpty else { throw Failure(reason: "empty option in -o '\(argument)'") }
                guard !option.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else {
                    throw Failure(reason: "bad option '\(option)' in -o (blanks are not allowed)")
                }
                let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                let settingName = name.replacingUnderscores()
                if settingNames.contains(settingName) {
                    // A bare `sync` is the kernel's synchronous-writes flag, not holtfs's setting.
                    if parts.count == 1 && settingName == "sync" {
                        list.fuseOptions.append(option)
                        continue
                    }
                    guard parts.count == 2, !parts[1].isEmpty else {
                        throw Failure(reason: "-o \(name) needs a value (-o \(settingName)=...)")
                    }
                    list.settings[settingName] = String(parts[1])
                } else if isMountOwned(name: name) {
                    list.ignored.append(option)
                } else {
                    list.fuseOptions.append(option)
                }
            }
        }
        return list
    }

    /// Whether the option named `name` (the part before `=`) is one mount(8) owns.
    static func isMountOwned(name: String) -> Bool {
        mountOwnedNames.contains(name) || name == "comment" || name.hasPrefix("x-") || name.hasPrefix("X-")
    }
}

extension String {
    /// The string with every `_` turned into `-` (holtfs settings accept either).
    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}
