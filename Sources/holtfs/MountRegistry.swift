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

    /// The registry file for `mountpoint` (an absolute path): the path percent-encoded, or, when
    /// that would pass the 255-byte name limit, `long-` and a 64-bit FNV-1a hash of it (the file
    /// then names its mount point, and `lookup` checks it).
    static func file(for mountpoint: String) -> String {
        var name = ""
        for character in mountpoint {
            switch character {
            case "%": name += "%25"
            case "/": name += "%2F"
            default: name.append(character)
            }
        }
        if name.utf8.count > 200 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in mountpoint.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            name = "long-" + String(hash, radix: 16)
        }
        return directory + "/" + name
    }

    /// Records that `database` is mounted at `mountpoint` by this process, after removing the
    /// records of mount points that are no longer mounted at all (left by killed daemons).
    static func register(mountpoint: String, database: String) -> Result<Void, Errno> {
        if case .failure(let error) = Posix.makeDirectories(directory) { return .failure(error) }
        pruneUnmounted()
        return Posix.writeFileAtomically(
            file(for: mountpoint), "database=\(database)\npid=\(getpid())\nmountpoint=\(mountpoint)\n")
    }

    /// Removes every record whose mount point is not in the mount table. A record of a dead mount
    /// that is still mounted stays: `holtfs umount` needs it to report the unclean close.
    static func pruneUnmounted() {
        guard let handle = opendir(directory) else { return }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." && !name.contains(".tmp.") { names.append(name) }
        }
        closedir(handle)
        let mounted = Set(MountTable.entries().map { file(for: $0.mountpoint) })
        for name in names where !mounted.contains(directory + "/" + name) {
            unlink(directory + "/" + name)
        }
    }

    /// Removes the record of `mountpoint` (nothing when there is none).
    static func unregister(mountpoint: String) {
        unlink(file(for: mountpoint))
    }

    /// The database and daemon pid of the holtfs mount `entry`: from this user's registry, or
    /// else from the mount's source, which holtfs sets to the database path (`fsname=`), when the
    /// lock file there names this mount point. The second way finds the mounts of other users
    /// (root unmounting a mount an fstab line started with `setuid=USER`).
    static func lookup(entry: MountTable.Entry) -> (database: String, pid: Int32)? {
        if let registered = lookup(mountpoint: entry.mountpoint) { return registered }
        guard entry.type == MountTable.holtfsType, entry.source.hasPrefix("/") else { return nil }
        let holder = DatabaseLock.readInfo(database: entry.source)
        guard holder["mountpoint"] == entry.mountpoint, let pid = holder["pid"].flatMap({ Int32($0) }) else { return nil }
        return (entry.source, pid)
    }

    /// The database and daemon pid recorded for `mountpoint`, or `nil`.
    static func lookup(mountpoint: String) -> (database: String, pid: Int32)? {
        guard let bytes = Posix.readFile(file(for: mountpoint)) else { return nil }
        var database: String?
        var pid: Int32 = 0
        var recorded: String?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("database=") { database = String(line.dropFirst("database=".count)) }
            if line.hasPrefix("pid=") { pid = Int32(line.dropFirst("pid=".count)) ?? 0 }
            if line.hasPrefix("mountpoint=") { recorded = String(line.dropFirst("mountpoint=".count)) }
        }
        guard let database, recorded == nil || recorded == mountpoint else { return nil }
        return (database, pid)
    }
}
