import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a directory occupies on disk, summed over every file below it (the directory itself and
/// its subdirectories included), as `du` counts it.
struct DiskUsage: Sendable, Equatable {
    /// Allocated bytes: `st_blocks × 512` summed, what `du -s --block-size=1` prints. Holes
    /// (sparse files, punched ranges) are not counted.
    var allocatedBytes = 0
    /// Apparent bytes: `st_size` summed, what `du -sb` (`--apparent-size`) prints.
    var apparentBytes = 0
    /// Regular files counted.
    var files = 0

    /// Walks `path` with `lstat` (symbolic links are not followed), like `du -s`, except that a
    /// file with several hard links is counted once per name (the databases have none).
    /// - Throws: `BenchError` when `path` cannot be examined.
    static func of(_ path: String) throws -> DiskUsage {
        var usage = DiskUsage()
        try usage.add(path)
        guard let names = FileManager.default.enumerator(atPath: path) else {
            throw BenchError("cannot list \(path)")
        }
        for case let name as String in names {
            try usage.add(path + "/" + name)
        }
        return usage
    }

    /// Adds the file or directory at `path`.
    private mutating func add(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw BenchError("cannot stat \(path): errno \(errno)") }
        allocatedBytes += Int(info.st_blocks) * 512
        apparentBytes += Int(info.st_size)
        if (info.st_mode & S_IFMT) == S_IFREG { files += 1 }
    }
}
