// Helpers for the write-ahead log tests: a scratch directory, seeded payloads, and ways to
// damage segment files the way a crash or a bad disk would.
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import HoltEngine

/// A fresh directory under /tmp (a real disk here: fdatasync does work), removed at deinit.
final class WALTestDirectory {
    /// The directory.
    let path: String
    /// Its `wal/` subdirectory, where the log under test lives.
    var wal: String { path + "/wal" }

    init() {
        var template = Array("/tmp/holt-wal-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: made!)
    }

    deinit { Self.removeTree(path) }

    /// Removes `path` and what is inside it (two levels are enough here).
    static func removeTree(_ path: String) {
        if let names = try? Syscall.listDirectory(path) {
            for name in names {
                let child = path + "/" + name
                if unlink(child) != 0 { removeTree(child) }
            }
        }
        rmdir(path)
    }

    /// The segment file names in `wal/`, sorted.
    func segments() throws -> [String] {
        try Syscall.listDirectory(wal).filter { LogSegment.number(fromFileName: $0) != nil }.sorted()
    }

    /// The bytes of file `name` in `wal/`.
    func read(_ name: String) throws -> [UInt8] {
        let fd = try Syscall.open(wal + "/" + name, flags: O_RDONLY)
        defer { try? Syscall.close(fd) }
        return try Syscall.readAll(fd, name)
    }

    /// Replaces the bytes of file `name` in `wal/`.
    func write(_ name: String, _ bytes: [UInt8]) throws {
        let fd = try Syscall.open(wal + "/" + name, flags: O_WRONLY | O_TRUNC)
        defer { try? Syscall.close(fd) }
        try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) in try Syscall.pwrite(fd, raw, offset: 0, name) }
    }

    /// Cuts file `name` in `wal/` to `length` bytes.
    func truncate(_ name: String, to length: Int) {
        #expect(Glibc.truncate(wal + "/" + name, off_t(length)) == 0)
    }
}

/// The seeded generator of the log tests.
typealias WALRandom = SeededGenerator

/// The payload of record `lsn` in these tests: recognisable, of a length that varies with `lsn`.
func walPayload(_ lsn: UInt64, seed: UInt64 = 0) -> [UInt8] {
    let length = Int((lsn &* 7919 &+ seed) % 200)
    return (0..<length).map { UInt8(truncatingIfNeeded: UInt64($0) &+ lsn &* 31 &+ seed) }
}

/// Opens the log in `directory` and replays it from `checkpoint`, returning it with what it replayed.
func walOpenAndReplay(
    _ directory: WALTestDirectory, sync: SyncMode = .always, segmentBytes: Int = 64 << 20, after checkpoint: UInt64 = 0
) throws -> (log: WriteAheadLog, records: [(UInt64, [UInt8])], report: ReplayReport) {
    let log = try WriteAheadLog.open(directory: directory.wal, sync: sync, segmentBytes: segmentBytes)
    var records: [(UInt64, [UInt8])] = []
    let report = try log.replay(after: checkpoint) { (lsn, payload) throws(HoltError) in records.append((lsn, payload)) }
    return (log, records, report)
}

/// Appends the `walPayload`s of LSNs `range` to `log`, each made durable when `durableEach`.
func walAppend(_ log: WriteAheadLog, _ range: ClosedRange<UInt64>, durableEach: Bool = false) throws {
    for lsn in range {
        let got = try log.append(walPayload(lsn))
        #expect(got == lsn)
        if durableEach { try log.waitDurable(got) }
    }
}

/// Whether `records` are exactly the `walPayload`s of LSNs `range`, in order.
func walRecordsMatch(_ records: [(UInt64, [UInt8])], _ range: ClosedRange<UInt64>) -> Bool {
    records.map(\.0) == Array(range) && records.allSatisfy { $0.1 == walPayload($0.0) }
}
