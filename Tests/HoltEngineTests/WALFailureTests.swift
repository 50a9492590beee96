// Protects the log's behaviour when the disk fails or the process dies: a failed write or sync
// reaches the waiter as `.io` and every later call gets `.previousIOFailure` (fsync is never
// retried); a process killed at any durability barrier loses no acknowledged record.
// Each test arms failpoints inside a child process (an exit test), so no other test in this
// process can hit them.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import HoltEngine

@Suite struct WALFailureTests {
    @Test(arguments: ["wal.beforeWrite", "wal.afterWrite", "wal.beforeSync", "wal.afterSync"])
    func aFailedWriteOrSyncFailsTheLogForGood(failpoint: String) async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .success) { [path = dir.path as String, failpoint = failpoint as String] in
            let wal = path + "/wal"
            let log = try WriteAheadLog.open(directory: wal, sync: .always)
            _ = try log.replay(after: 0) { (_, _) throws(HoltError) in }
            try walAppend(log, 1...3, durableEach: true)
            Failpoints.arm(failpoint, .fail(errno: EIO))
            let lsn = try log.append(walPayload(4))
            #expect(throws: HoltError.io(errno: EIO, operation: "failpoint \(failpoint)")) { try log.waitDurable(lsn) }
            #expect(throws: HoltError.previousIOFailure) { try log.append([1]) }
            #expect(throws: HoltError.previousIOFailure) { try log.waitDurable(3) }
            #expect(throws: HoltError.previousIOFailure) { try log.waitDurable(lsn) }
            #expect(throws: HoltError.previousIOFailure) { try log.sync() }
            #expect(throws: HoltError.previousIOFailure) { try log.trim(through: 3) }
            #expect(throws: HoltError.previousIOFailure) { try log.close() }
            // The records acknowledged before the failure are there after a reopen.
            let again = try WriteAheadLog.open(directory: wal, sync: .always)
            var replayed: [UInt64] = []
            _ = try again.replay(after: 0) { (lsn, payload) throws(HoltError) in
                #expect(payload == walPayload(lsn))
                replayed.append(lsn)
            }
            #expect(replayed.prefix(3) == [1, 2, 3])
            #expect(replayed.count == (failpoint == "wal.beforeWrite" ? 3 : 4))
            try again.close()
        }
    }

    @Test func aFailedPeriodicFlushFailsLaterCalls() async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let log = try WriteAheadLog.open(directory: path + "/wal", sync: .periodic(milliseconds: 5))
            _ = try log.replay(after: 0) { (_, _) throws(HoltError) in }
            Failpoints.arm("wal.beforeSync", .fail(errno: ENOSPC))
            _ = try log.append([1])
            var failed = false
            for _ in 0..<500 where !failed {
                usleep(10_000)
                do throws(HoltError) { _ = try log.append([2]) } catch { failed = error == .previousIOFailure }
            }
            #expect(failed)
            #expect(throws: HoltError.previousIOFailure) { try log.waitDurable(1) }
            #expect(throws: HoltError.previousIOFailure) { try log.close() }
        }
    }

    @Test func aFailedTrimFailsTheLog() async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let log = try WriteAheadLog.open(directory: path + "/wal", sync: .always)
            _ = try log.replay(after: 0) { (_, _) throws(HoltError) in }
            try walAppend(log, 1...3, durableEach: true)
            Failpoints.arm("wal.afterTrim", .fail(errno: EIO))
            #expect(throws: HoltError.io(errno: EIO, operation: "failpoint wal.afterTrim")) { try log.trim(through: 3) }
            #expect(throws: HoltError.previousIOFailure) { try log.append([1]) }
            try? log.close()
        }
    }

    // MARK: Kills

    /// The payload of writer `thread`'s `index`th record in the kill tests.
    static func payload(thread: Int, index: Int) -> [UInt8] {
        [UInt8(thread), UInt8(index & 0xFF), UInt8(index >> 8)] + [UInt8](repeating: UInt8(thread), count: (index * 37) % 300)
    }

    /// In the child: `threads` writers append and wait until the failpoint kills the process,
    /// each noting `lsn thread index` in `acks` once its wait returned (the page cache keeps
    /// those lines across a kill).
    static func writeUntilKilled(wal: String, acks: String, threads: Int, failpoint: String, onHit: Int, segmentBytes: Int) throws {
        let log = try WriteAheadLog.open(directory: wal, sync: .always, segmentBytes: segmentBytes)
        _ = try log.replay(after: 0) { (_, _) throws(HoltError) in }
        let ackFile = open(acks, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        precondition(ackFile >= 0)
        Failpoints.arm(failpoint, .kill, onHit: onHit)
        let threadsDone = (0..<threads).map { thread in
            PlainThread {
                for index in 0..<100_000 {
                    guard let lsn = try? log.append(payload(thread: thread, index: index)) else { return }
                    guard (try? log.waitDurable(lsn)) != nil else { return }
                    let line = Array("\(lsn) \(thread) \(index)\n".utf8)
                    precondition(write(ackFile, line, line.count) == line.count)
                }
            }
        }
        for thread in threadsDone { thread.join() }
    }

    @Test(arguments: [
        ("wal.beforeWrite", 1), ("wal.afterWrite", 1), ("wal.beforeSync", 1), ("wal.afterSync", 1),
        ("wal.beforeSync", 4), ("wal.afterWrite", 4),
    ])
    func noAcknowledgedRecordIsLostWhenKilled(failpoint: String, threads: Int) async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .signal(SIGKILL)) {
            [path = dir.path as String, failpoint = failpoint as String, threads = threads as Int] in
            try WALFailureTests.writeUntilKilled(
                wal: path + "/wal", acks: path + "/acks", threads: threads, failpoint: failpoint, onHit: 60, segmentBytes: 4096)
        }
        let acks = String(decoding: try readAcks(dir.path + "/acks"), as: UTF8.self)
            .split(separator: "\n").map { $0.split(separator: " ").map { Int($0)! } }
        #expect(acks.count >= 30, "the child acknowledged only \(acks.count) records before the kill")
        let (log, replayed, report) = try walOpenAndReplay(dir, segmentBytes: 4096)
        let byLSN = Dictionary(uniqueKeysWithValues: replayed.map { ($0.0, $0.1) })
        #expect(replayed.map(\.0) == (0..<replayed.count).map { UInt64($0) + 1 })
        for ack in acks {
            #expect(byLSN[UInt64(ack[0])] == Self.payload(thread: ack[1], index: ack[2]), "acknowledged record \(ack[0]) lost")
        }
        print("killed at \(failpoint) with \(threads) threads: \(acks.count) acknowledged, \(replayed.count) replayed, cut \(report.bytesCut) bytes")
        // The log goes on after the crash.
        let next = try log.append([1, 2, 3])
        #expect(next == UInt64(replayed.count) + 1)
        try log.waitDurable(next)
        try log.close()
    }

    @Test func aKillWhileCreatingASegmentLeavesAReplayableLog() async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = dir.path as String] in
            try WALFailureTests.writeUntilKilled(
                wal: path + "/wal", acks: path + "/acks", threads: 2, failpoint: "wal.afterSegmentCreate", onHit: 3,
                segmentBytes: 2048)
        }
        let acks = String(decoding: try readAcks(dir.path + "/acks"), as: UTF8.self)
            .split(separator: "\n").map { $0.split(separator: " ").map { Int($0)! } }
        let segmentsBefore = try dir.segments()
        let (log, replayed, report) = try walOpenAndReplay(dir, segmentBytes: 2048)
        #expect(report.cutReason?.contains("torn header") == true)
        #expect(try dir.segments().count == segmentsBefore.count - 1)
        let byLSN = Dictionary(uniqueKeysWithValues: replayed.map { ($0.0, $0.1) })
        for ack in acks {
            #expect(byLSN[UInt64(ack[0])] == Self.payload(thread: ack[1], index: ack[2]), "acknowledged record \(ack[0]) lost")
        }
        // The next segment change creates the removed segment again.
        for _ in 0..<40 { try log.waitDurable(try log.append([UInt8](repeating: 1, count: 100))) }
        try log.close()
        #expect(try dir.segments().count > segmentsBefore.count)
        let (again, all, _) = try walOpenAndReplay(dir, segmentBytes: 2048)
        #expect(all.count == replayed.count + 40)
        try again.close()
    }

    @Test(arguments: ["wal.beforeTrim", "wal.afterTrim"])
    func aKillDuringTrimLeavesAReplayableLog(failpoint: String) async throws {
        let dir = WALTestDirectory()
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = dir.path as String, failpoint = failpoint as String] in
            let log = try WriteAheadLog.open(directory: path + "/wal", sync: .always, segmentBytes: 1024)
            _ = try log.replay(after: 0) { (_, _) throws(HoltError) in }
            try walAppend(log, 1...40, durableEach: true)
            Failpoints.arm(failpoint, .kill)
            try log.trim(through: 30)
        }
        let (log, replayed, _) = try walOpenAndReplay(dir, segmentBytes: 1024, after: 30)
        #expect(walRecordsMatch(replayed, 31...40))
        try log.close()
    }

    /// The bytes of file `path` (empty when it does not exist).
    func readAcks(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { try? Syscall.close(fd) }
        return try Syscall.readAll(fd, path)
    }
}
