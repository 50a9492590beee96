/// What a command given `DB|MNT` works on: a database a live daemon serves (named by its mount
/// point or its directory), or a database directory no one has mounted. `holtfs stats` and
/// `holtfs compact` ask the daemon of the first over the control socket and open the second
/// themselves (`OfflineDatabase`).
enum DatabaseTarget {
    /// A mounted database: ask its daemon.
    case mounted(MountedDatabase)
    /// An absolute path that names no mounted database: open it offline.
    case offline(path: String)

    /// The target `path` (as the user typed it) names.
    ///
    /// - Throws: A failure of `operation` with exit status 2 for an empty path, and as
    ///   `MountedDatabase.find` for a holtfs mount whose database cannot be found.
    static func resolve(_ path: String, operation: String) throws(CommandFailure) -> DatabaseTarget {
        guard !path.isEmpty else {
            throw CommandFailure(operation: operation, path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus)
        }
        let target = Posix.absolute(path)
        if let mounted = try MountedDatabase.find(target, operation: operation) { return .mounted(mounted) }
        return .offline(path: target)
    }
}
