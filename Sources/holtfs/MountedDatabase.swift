/// A database that a live daemon serves, found from the path a command was given: the mount
/// point (through the mount table and `MountRegistry`) or the database directory (through its
/// lock file).
struct MountedDatabase {
    /// The database directory.
    var database: String
    /// Where it is mounted.
    var mountpoint: String
    /// The daemon's pid, as recorded ("?" when unknown).
    var pid: String

    /// The mounted database `path` (absolute) names, or `nil` when it names none.
    ///
    /// - Throws: A failure of `operation` when `path` is a holtfs mount whose database cannot be found.
    static func find(_ path: String, operation: String) throws(CommandFailure) -> MountedDatabase? {
        if let entry = MountTable.entry(at: path),
            entry.type == MountTable.holtfsType || MountRegistry.lookup(mountpoint: path) != nil
        {
            guard let registered = MountRegistry.lookup(entry: entry) else {
                throw CommandFailure(
                    operation: operation, path: path,
                    reason: "a holtfs mount, but its database is not registered in \(MountRegistry.directory)")
            }
            return MountedDatabase(database: registered.database, mountpoint: path, pid: "\(registered.pid)")
        }
        let holder = DatabaseLock.readInfo(database: path)
        if holder["state"] == "mounted", DatabaseLock.isHeld(database: path) {
            return MountedDatabase(database: path, mountpoint: holder["mountpoint"] ?? "?", pid: holder["pid"] ?? "?")
        }
        return nil
    }

    /// Why an offline opening cannot run on this database now, in one line (`check`, `dump`,
    /// `stats` and `compact` ask the daemon of a mounted database instead; this is for a mount
    /// that appeared in between).
    func refusal(operation: String) -> String {
        "the database is in use: mounted at \(mountpoint) (holtfs pid \(pid)); run \(operation) again "
            + "to ask its daemon, or unmount it first (holtfs umount \(mountpoint))"
    }
}
