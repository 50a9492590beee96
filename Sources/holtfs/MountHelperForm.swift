/// The command line `mount.fuse3` runs for `mount -t fuse.holtfs DB MNT` and for an fstab line of
/// type `fuse.holtfs`: `holtfs DB MNT -o rw,...`, without the `mount` subcommand.
///
/// `mount(8)` runs `/sbin/mount.fuse DB MNT -o OPTS -t fuse.holtfs`, and `mount.fuse3` runs
/// `/bin/sh -c "'holtfs' 'DB' 'MNT' '-o' 'OPTS,dev,suid'"` (adding `dev,suid` unless told
/// `nodev`/`nosuid`). `mount(8)` clears `PATH` for its helpers, so the shell finds `holtfs` only in
/// its default path (`/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`).
enum MountHelperForm {
    /// The subcommand names (and `help`), which a first argument naming a database never equals.
    static var subcommandNames: Set<String> {
        var names: Set<String> = ["help"]
        for subcommand in HoltfsCommand.configuration.subcommands {
            if let name = subcommand.configuration.commandName { names.insert(name) }
        }
        return names
    }

    /// `arguments` (without the program name) as the subcommand parser takes them: `mount`
    /// inserted in front when the first argument is neither a subcommand nor an option other than
    /// `-o`, so `holtfs DB MNT -o ...` (and `holtfs -o ... DB MNT`) means `holtfs mount DB MNT -o ...`.
    /// A database named like a subcommand is written `./check`.
    static func normalized(_ arguments: [String]) -> [String] {
        guard let first = arguments.first, !subcommandNames.contains(first) else { return arguments }
        if first.hasPrefix("-") && !first.hasPrefix("-o") { return arguments }
        return ["mount"] + arguments
    }
}
