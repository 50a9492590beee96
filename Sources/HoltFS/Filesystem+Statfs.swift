#if canImport(Glibc)
import Glibc
#endif
import HoltEngine

/// What `statfs` reports, in blocks of `blockSize` bytes.
struct FilesystemStatistics: Equatable, Sendable {
    var blockSize: UInt64
    /// `usedBlocks + freeBlocks`: what `df` shows as the size.
    var blocks: UInt64
    var freeBlocks: UInt64
    var availableBlocks: UInt64
    var files: UInt64
    var freeFiles: UInt64
    var nameLength: UInt64

    /// What `df` shows as used (`blocks - freeBlocks`).
    var usedBlocks: UInt64 { blocks - freeBlocks }
}

extension Filesystem {
    /// The database's own use as *used*, and the free space of the file system holding it as
    /// free and available, with 255-byte names. The FUSE op is `statfs`.
    ///
    /// - used blocks: everything the database occupies on disk (`SpaceStatistics.databaseBytes`:
    ///   the blob file's allocated blocks, the log, the map and the manifest), rounded up to
    ///   whole blocks; so `df MNT` says what `du DB` says, and falls when space comes back;
    /// - free and available blocks: the host file system's, where the database grows;
    /// - size: used plus free (what the database could reach);
    /// - used inodes: the inode numbers handed out (numbers are never reused, so this counts
    ///   every file ever made); free inodes: the host's, as a sensible bound.
    ///
    /// The database's figures are measured at most once a second (`DatabaseUsage`); the host's
    /// every call (`statvfs` is cheap). When the database cannot be measured (the tree is closed)
    /// its last figures stand, or 0.
    func statfs() -> FilesystemStatistics {
        let host = Self.hostStatistics(of: tree.path)
        let usage = self.usage.figures { () -> DatabaseUsage.Figures? in
            guard let space = try? tree.spaceStatistics() else { return nil }
            return DatabaseUsage.Figures(bytes: UInt64(max(0, space.databaseBytes)), inodes: (try? allocator.handedOut()) ?? 1)
        } ?? DatabaseUsage.Figures(bytes: 0, inodes: 1)
        let blockSize = host.map { UInt64($0.f_frsize == 0 ? $0.f_bsize : $0.f_frsize) } ?? 4096
        let used = (usage.bytes + blockSize - 1) / blockSize
        let free = host.map { UInt64($0.f_bfree) } ?? 0
        let available = host.map { UInt64($0.f_bavail) } ?? 0
        // A host without an inode limit (btrfs reports 0 files) still gets a free count.
        let freeFiles = host.flatMap { $0.f_files > 0 ? UInt64($0.f_ffree) : nil } ?? 1 << 31
        return FilesystemStatistics(
            blockSize: blockSize, blocks: used + free, freeBlocks: free, availableBlocks: available,
            files: usage.inodes + freeFiles, freeFiles: freeFiles, nameLength: UInt64(Self.maxNameLength))
    }

    /// `statvfs` of the file system holding `path`, or of the nearest existing ancestor (a
    /// database directory not created yet is asked about where it will be); `nil` when none answers.
    private static func hostStatistics(of path: String) -> statvfs? {
        var host = statvfs()
        var directory = path
        while statvfs(directory, &host) != 0 {
            guard directory != "/" else { return nil }
            if let slash = directory.lastIndex(of: "/") {
                directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            } else {
                directory = "."
                return statvfs(directory, &host) == 0 ? host : nil
            }
        }
        return host
    }
}
