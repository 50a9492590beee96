#if canImport(Glibc)
import Glibc
#endif

/// Where a running mount daemon says which database it serves, so `holtfs umount MNT` and
/// `holtfs stats MNT` can find the database from the mount point alone.
///
/// One small file per mount point in `/run/holtfs/` (root) or `$XDG_RUNTIME_DIR/holtfs/`
/// (others; `/tmp/holtfs-<uid>/` without it), named by the mount point with `%` and `/`
/// percent-encoded, holding `database=` and `pid=` lines. The daemon writes it once the mount is
/// up and removes it after closing the database.
enum MountRegistry {
    /// The directory holding the registry files for this user.
    static var directory: String {
        if geteuid() == 0 { return "/run/holtfs" }
        if let runtime = getenv("XDG_RUNTIME_DIR"), runtime.pointee != 0 {
            return String(cString: runtime) + "/holtfs"
        }
        return "/tmp/holtfs-\(geteuid())"
    }

    /// The registry file for `mountpoint` (an absolute path).
    static func file(for mountpoint: String) -> String {
        var name = ""
        for character in mountpoint {
            switch character {
            case "%": name += "%25"
            case "/": name += "%2F"
            default: name.append(character)
            }
        }
        return directory + "/" + name
    }

    /// Records that `database` is mounted at `mountpoint` by this process.
    static func register(mountpoint: String, database: String) -> Result<Void, Errno> {
        if case .failure(let error) = Posix.makeDirectories(directory) { return .failure(error) }
        return Posix.writeFileAtomically(file(for: mountpoint), "database=\(database)\npid=\(getpid())\n")
    }

    /// Removes the record of `mountpoint` (nothing when there is none).
    static func unregister(mountpoint: String) {
        unlink(file(for: mountpoint))
    }

    /// The database and daemon pid recorded for `mountpoint`, or `nil`.
    static func lookup(mountpoint: String) -> (database: String, pid: Int32)? {
        guard let bytes = Posix.readFile(file(for: mountpoint)) else { return nil }
        var database: String?
        var pid: Int32 = 0
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("database=") { database = String(line.dropFirst("database=".count)) }
            if line.hasPrefix("pid=") { pid = Int32(line.dropFirst("pid=".count)) ?? 0 }
        }
        guard let database else { return nil }
        return (database, pid)
    }
}
