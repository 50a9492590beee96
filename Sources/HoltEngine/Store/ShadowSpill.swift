#if canImport(Glibc)
import Glibc
#endif

/// Where the blob images open snapshots keep (`BlobShadows`) go once their memory budget
/// (`Options.snapshotMemoryBytes`) is spent: a file in the database directory, unlinked as soon
/// as it is made (it goes with the process, and a crash leaves nothing behind), cut into
/// blob-sized slots that are reused as snapshots close. So an old snapshot beside busy writers
/// costs disk, not memory: a database under a memory limit is never killed for it.
///
/// Locking: `state` is guarded by its `Locked`; reads and writes of a slot run outside it (a
/// slot belongs to one image from `write` to `release`).
final class ShadowSpill: @unchecked Sendable {
    // @unchecked Sendable: `directory` is immutable, `state` is a `Locked`.
    /// The directory the file is made in.
    private let directory: String

    /// The file (-1 until the first write), its slots, and the free ones.
    private struct State {
        var fd: Int32 = -1
        var slots = 0
        var free: [Int] = []
    }

    private let state = Locked(State())

    /// A spill in `directory` (nothing is made until the first `write`). Spill files a crash left
    /// there (between making and unlinking one) are removed: the caller holds the database.
    init(directory: String) {
        self.directory = directory
        Self.removeLeftovers(in: directory)
    }

    /// The name every spill file starts with.
    static let namePrefix = "snapshot-spill."

    /// Removes spill files left in `directory`.
    private static func removeLeftovers(in directory: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var stale: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(namePrefix) { stale.append(name) }
        }
        for name in stale { _ = unlink(directory + "/" + name) }
    }

    deinit {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { try? Syscall.close(fd) }
    }

    /// Writes the blob at `bytes` into a free slot and returns the slot.
    /// - Throws: `.io` when the file cannot be made or written (a full disk): the caller keeps
    ///   the image in memory instead.
    func write(_ bytes: UnsafeRawPointer) throws(HoltError) -> Int {
        let (fd, slot) = try state.withLock { (s) throws(HoltError) -> (Int32, Int) in
            if s.fd < 0 { s.fd = try Self.makeFile(in: directory) }
            if let slot = s.free.popLast() { return (s.fd, slot) }
            s.slots += 1
            return (s.fd, s.slots - 1)
        }
        do throws(HoltError) {
            try Syscall.pwrite(fd, bytes, count: BlobGeometry.blobSize, offset: slot * BlobGeometry.blobSize, "snapshot spill")
        } catch {
            release(slot)
            throw error
        }
        return slot
    }

    /// The blob image in `slot`, read into a new buffer.
    /// - Throws: `.io`, `.corrupted` when the file is shorter than the slot.
    func read(_ slot: Int) throws(HoltError) -> AlignedBuffer {
        let fd = state.withLock { $0.fd }
        let buffer = AlignedBuffer(count: BlobGeometry.blobSize)
        let count = try Syscall.pread(fd, buffer.pointer, count: BlobGeometry.blobSize, offset: slot * BlobGeometry.blobSize, "snapshot spill")
        guard count == BlobGeometry.blobSize else {
            throw .corrupted(what: "snapshot spill", reason: "slot \(slot) read \(count) bytes")
        }
        return buffer
    }

    /// Gives `slot` back; the file is emptied once every slot is free.
    func release(_ slot: Int) {
        state.withLock { s in
            s.free.append(slot)
            if s.free.count == s.slots {
                s.free = []
                s.slots = 0
                _ = ftruncate(s.fd, 0)
            }
        }
    }

    /// Slots holding images now.
    var slotsInUse: Int { state.withLock { $0.slots - $0.free.count } }

    /// A new file in `directory`, already unlinked.
    private static func makeFile(in directory: String) throws(HoltError) -> Int32 {
        var template = Array((directory + "/" + namePrefix + "XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .io(errno: errno, operation: "make a snapshot spill file in \(directory)") }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        _ = unlink(path)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }
}
