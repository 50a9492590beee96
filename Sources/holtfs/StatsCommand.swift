#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import HoltEngine

/// `holtfs stats DB|MNT`: counters of a database.
///
/// Offline, it walks every key (the engine has no counters in its public API yet). For a mounted
/// database (given by its mount point or its directory) it reports only what it can see without
/// opening it (the daemon, the files on disk) and says so: the engine allows one opener.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print counters of a database (or of the database behind a mount point).",
        discussion: """
            Offline: keys, key and value bytes, and bytes on disk. While mounted, only the daemon \
            and the bytes on disk: key counts need the database offline (holtfs umount first).
            """)

    @Argument(help: "The database directory or a holtfs mount point.")
    var path: String

    /// Prints the counters.
    func run() throws(CommandFailure) {
        guard !path.isEmpty else { throw CommandFailure(operation: "stats", path: "''", reason: "empty path", exitCode: OfflineDatabase.cannotOpenStatus) }
        let target = Posix.absolute(path)
        if let entry = MountTable.entry(at: target), entry.type == MountTable.holtfsType || MountRegistry.lookup(mountpoint: target) != nil {
            guard let registered = MountRegistry.lookup(entry: entry) else {
                throw CommandFailure(
                    operation: "stats", path: target,
                    reason: "a holtfs mount, but its database is not registered in \(MountRegistry.directory)")
            }
            printMounted(database: registered.database, mountpoint: target, pid: "\(registered.pid)")
            return
        }
        let holder = DatabaseLock.readInfo(database: target)
        if DatabaseLock.isHeld(database: target), holder["state"] == "mounted" {
            printMounted(database: target, mountpoint: holder["mountpoint"] ?? "?", pid: holder["pid"] ?? "?")
            return
        }

        let opened = try OfflineDatabase(path: target, operation: "stats")
        defer { opened.finish() }
        var keys = 0
        var keyBytes = 0
        var valueBytes = 0
        var largestValue = 0
        var deepest = 0
        try opened.forEachEntry(prefix: [], operation: "stats") { key, value in
            keys += 1
            keyBytes += key.count
            valueBytes += value.count
            largestValue = max(largestValue, value.count)
            deepest = max(deepest, key.reduce(1) { $1 == UInt8(ascii: "/") ? $0 + 1 : $0 })
        }
        let notes = opened.recoveryNotes
        print("database: \(target)")
        print("state: offline")
        for note in notes { print("recovery: \(note)") }
        print("keys: \(keys)")
        print("key bytes: \(keyBytes)")
        print("value bytes: \(valueBytes)")
        print("largest value: \(largestValue)")
        print("deepest key: \(deepest) components")
        if let engine = try? opened.tree.statistics() {
            print("blobs: \(engine.blobs) (data file \(engine.dataFileBytes) bytes, O_DIRECT \(engine.directIO ? "on" : "off"), io_uring \(engine.ioUring ? "on" : "off"))")
            print("cache: \(engine.cachedFrames) frames, \(engine.cacheHits) hits, \(engine.cacheMisses) misses, \(engine.evictions) evictions")
        }
        printDisk(database: target)
    }

    private func printMounted(database: String, mountpoint: String, pid: String) {
        print("database: \(database)")
        print("state: mounted at \(mountpoint) (daemon pid \(pid))")
        print("keys: unavailable while mounted (unmount, then run holtfs stats \(database))")
        printDisk(database: database)
    }

    private func printDisk(database: String) {
        let (files, bytes) = Self.diskUsage(directory: database, depth: 2)
        print("disk bytes: \(bytes) in \(files) files (without holtfs.log and holtfs.pid)")
    }

    /// Files and apparent bytes under `directory`, down to `depth` levels, without holtfs's own files.
    static func diskUsage(directory: String, depth: Int) -> (files: Int, bytes: Int) {
        guard depth > 0, let handle = opendir(directory) else { return (0, 0) }
        defer { closedir(handle) }
        var files = 0
        var bytes = 0
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." || name == "holtfs.log" || name == DatabaseLock.fileName { continue }
            let child = directory + "/" + name
            guard case .success(let info) = Posix.linkStatus(child) else { continue }
            if Posix.isDirectory(info) {
                let (innerFiles, innerBytes) = diskUsage(directory: child, depth: depth - 1)
                files += innerFiles
                bytes += innerBytes
            } else {
                files += 1
                bytes += Int(info.st_size)
            }
        }
        return (files, bytes)
    }
}
