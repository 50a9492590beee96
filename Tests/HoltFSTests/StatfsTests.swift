// Protects what `df` shows of a mount (`Filesystem.statfs`): used is the database's own bytes on
// disk (`Tree.spaceStatistics().databaseBytes`, in whole blocks), not the host file system's use;
// free and available are the host's; size is used + free; used inodes are the inode numbers
// handed out; and the database's figure is measured at most once a second.
#if canImport(Glibc)
import Glibc
#endif
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct StatfsTests {
    /// Whole blocks of `blockSize` for `bytes`.
    private func blocks(_ bytes: Int, _ blockSize: UInt64) -> UInt64 {
        (UInt64(bytes) + blockSize - 1) / blockSize
    }

    @Test("Used blocks are the database's bytes on disk, free blocks the host's")
    func usedIsTheDatabaseFreeIsTheHost() throws {
        let f = try FSFixture()
        try f.create("big")
        try f.write("big", [UInt8](repeating: 0x5A, count: 3 << 20))
        try f.tree.checkpoint()
        f.fs.usage.invalidate()
        let before = try f.tree.spaceStatistics()
        var hostBefore = statvfs()
        #expect(statvfs(f.tree.path, &hostBefore) == 0)
        let reported = f.fs.statfs()
        var hostAfter = statvfs()
        #expect(statvfs(f.tree.path, &hostAfter) == 0)
        let after = try f.tree.spaceStatistics()

        let size = reported.blockSize
        #expect(size == UInt64(hostBefore.f_frsize))
        let low = blocks(min(before.databaseBytes, after.databaseBytes), size)
        let high = blocks(max(before.databaseBytes, after.databaseBytes), size)
        #expect((low...high).contains(reported.usedBlocks), "used \(reported.usedBlocks) blocks, database \(before.databaseBytes)…\(after.databaseBytes) bytes")
        // 3 MiB of data is there, and the used figure is nowhere near the host's use.
        #expect(reported.usedBlocks * size >= 3 << 20)
        let hostUsed = UInt64(hostBefore.f_blocks - hostBefore.f_bfree)
        #expect(reported.usedBlocks < hostUsed || hostUsed < 4 << 20 / size, "used \(reported.usedBlocks), host used \(hostUsed)")
        // Free and available are the host's (other processes write meanwhile: between the two reads).
        let freeRange = min(hostBefore.f_bfree, hostAfter.f_bfree)...max(hostBefore.f_bfree, hostAfter.f_bfree)
        #expect(freeRange.contains(fsblkcnt_t(reported.freeBlocks)))
        let availableRange = min(hostBefore.f_bavail, hostAfter.f_bavail)...max(hostBefore.f_bavail, hostAfter.f_bavail)
        #expect(availableRange.contains(fsblkcnt_t(reported.availableBlocks)))
        #expect(reported.blocks == reported.usedBlocks + reported.freeBlocks)
        #expect(reported.nameLength == 255)
    }

    @Test("The database's figure is kept for a second, then measured again")
    func figureIsCachedThenRemeasured() throws {
        let f = try FSFixture()
        let started = RequestStatistics.now()
        let first = f.fs.statfs()
        try f.create("f")
        try f.write("f", [UInt8](repeating: 1, count: 2 << 20))
        try f.tree.checkpoint()
        // Within the second: the same used figure (the host's free space may move). A machine
        // too loaded to get here within the second proves nothing either way.
        let cached = f.fs.statfs()
        if RequestStatistics.now() - started < f.fs.usage.lifetimeNanoseconds {
            #expect(cached.usedBlocks == first.usedBlocks)
        }
        f.fs.usage.invalidate()
        let fresh = f.fs.statfs()
        #expect(fresh.usedBlocks * fresh.blockSize >= first.usedBlocks * first.blockSize + (3 << 20) / 2)
        #expect(fresh.usedBlocks * fresh.blockSize == blocks(try f.tree.spaceStatistics().databaseBytes, fresh.blockSize) * fresh.blockSize)
    }

    @Test("The cache measures again after its lifetime and keeps the last figures when measuring fails")
    func cacheLifetimeAndFailedMeasurement() {
        let usage = DatabaseUsage(lifetimeNanoseconds: 0)
        #expect(usage.figures { nil } == nil)
        let one = DatabaseUsage.Figures(bytes: 4096, inodes: 3)
        #expect(usage.figures { one } == one)
        let two = DatabaseUsage.Figures(bytes: 8192, inodes: 4)
        #expect(usage.figures { two } == two)
        #expect(usage.figures { nil } == two)
        let kept = DatabaseUsage(lifetimeNanoseconds: 60_000_000_000)
        #expect(kept.figures { one } == one)
        #expect(kept.figures { two } == one)
        kept.invalidate()
        #expect(kept.figures { two } == two)
    }

    @Test("Used inodes are the inode numbers handed out, the root's included")
    func usedInodesAreTheNumbersHandedOut() throws {
        let f = try FSFixture()
        var reported = f.fs.statfs()
        #expect(reported.files - reported.freeFiles == 1)
        try f.mkdir("d")
        try f.create("d/a")
        try f.create("d/b")
        f.fs.usage.invalidate()
        reported = f.fs.statfs()
        #expect(reported.files - reported.freeFiles == 4)
        // Removing files does not give numbers back: they are never reused.
        try f.unlink("d/a")
        f.fs.usage.invalidate()
        reported = f.fs.statfs()
        #expect(reported.files - reported.freeFiles == 4)
        // A new mount knows only the superblock's counter: the whole reserved block counts.
        try f.remount()
        reported = f.fs.statfs()
        #expect(reported.files - reported.freeFiles == 1 + InodeAllocator.blockSize)
        #expect(reported.freeFiles > 0)
    }

    @Test("A closed tree reports no database use and still the host's free space")
    func closedTreeReportsNoUse() throws {
        let f = try FSFixture()
        try f.tree.close()
        f.fs.usage.invalidate()
        let closed = f.fs.statfs()
        #expect(closed.usedBlocks == 0)
        #expect(closed.freeBlocks > 0)
    }
}
