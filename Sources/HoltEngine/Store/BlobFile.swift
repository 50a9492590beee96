import CURing
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A place in the blob file: physical slot `i` holds 512 KiB at offset `i × blobSize`.
///
/// Not a `BlobID`: the blob map says which slot holds which logical blob, and a blob moves to
/// another slot every time it is written after a checkpoint (shadow paging).
struct PhysicalSlot: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    var rawValue: UInt64
    init(rawValue: UInt64) { self.rawValue = rawValue }
    init(_ value: UInt64) { self.rawValue = value }
    static func < (a: PhysicalSlot, b: PhysicalSlot) -> Bool { a.rawValue < b.rawValue }
    var description: String { "slot \(rawValue)" }
    /// The byte offset of the slot in the blob file.
    var offset: Int { Int(rawValue) * BlobGeometry.blobSize }
}

/// One blob on its way to its slot: `buffer` holds `blobSize` aligned bytes, of which `gap` (4 KiB
/// aligned, maybe empty) holds nothing the blob needs: it is not written but punched out of the
/// slot, so the file system keeps no blocks for it (see `BlobHeader`: the checksum skips it).
/// The gap never takes the blob's last block: writing that block keeps the file long enough to
/// read the whole slot back.
struct BlobWrite {
    var slot: PhysicalSlot
    var buffer: UnsafeRawPointer
    var gap: Range<Int>

    init(slot: PhysicalSlot, buffer: UnsafeRawPointer, gap: Range<Int>) {
        precondition(gap.isEmpty || (gap.lowerBound >= AlignedBuffer.alignment && gap.upperBound < BlobGeometry.blobSize))
        self.slot = slot
        self.buffer = buffer
        self.gap = gap
    }

    /// The byte ranges of the blob to write: all of it, or what lies before and after the gap.
    var pieces: [(start: Int, length: Int)] {
        guard !gap.isEmpty else { return [(0, BlobGeometry.blobSize)] }
        return [(0, gap.lowerBound), (gap.upperBound, BlobGeometry.blobSize - gap.upperBound)]
    }
}

/// The file `blobs` in the database directory: whole 512 KiB blobs at slot offsets.
///
/// Opened with `O_DIRECT` so blobs bypass the page cache (the buffer manager is the cache); a
/// file system that refuses `O_DIRECT` at open (`EINVAL`) gets buffered I/O instead, with the
/// same semantics since every write is followed by `fdatasync` before it counts. Batches of
/// writes go through io_uring when the kernel gives us a ring, else through pwrite one by one.
///
/// Buffers passed in must be `AlignedBuffer` memory of `blobSize` bytes.
///
/// `@unchecked Sendable`: `fd` is immutable and pread/pwrite are safe on several threads; the
/// ring sits in a `Mutex`.
final class BlobFile: @unchecked Sendable {
    /// The file's path.
    let path: String
    /// Whether the file is open with `O_DIRECT`.
    let isDirect: Bool
    private let fd: Int32
    /// `nil` when io_uring is unavailable or was switched off or broke.
    private let ring: Locked<IORing?>
    /// Whether batches go through io_uring.
    var usesIOUring: Bool { ring.withLock { $0 != nil } }
    /// The whole file mapped read-only (`mappedLength` bytes of address space, past the file's
    /// end too), for reading blobs through the kernel's page cache a 4 KiB page at a time
    /// (`BufferManager`'s mapped reads); nil when the kernel refused the mapping. Only slots
    /// inside the file may be touched: a page past its end raises SIGBUS.
    let mapping: UnsafeRawPointer?
    /// The address space `mapping` takes: 256 GiB, 512 Ki slots (slots past it are read through
    /// the cache only). Not more: a process has 128 TiB of address space, and tests open
    /// hundreds of databases at once.
    static let mappedLength = 1 << 38

    private init(path: String, fd: Int32, isDirect: Bool, ring: IORing?) {
        self.path = path
        self.fd = fd
        self.isDirect = isDirect
        self.ring = Locked(ring)
        self.mapping = Syscall.mapReadOnly(fd, length: Self.mappedLength)
    }

    // The mapping outlives `close()` (a reader that raced the close still reads mapped pages;
    // the mapping keeps its own reference to the file): it goes with the object.
    deinit {
        if let mapping { Syscall.unmap(mapping, length: Self.mappedLength) }
    }

    /// The mapped bytes of `slot`, or nil (no mapping, or a slot past it). The caller makes
    /// sure the slot lies inside the file while it reads them.
    func mapped(_ slot: PhysicalSlot) -> UnsafeRawPointer? {
        guard let mapping, slot.offset + BlobGeometry.blobSize <= Self.mappedLength else { return nil }
        return mapping + slot.offset
    }

    /// Opens (or creates) the blob file at `path`.
    ///
    /// - Parameters:
    ///   - create: Create the file when missing.
    ///   - useIOUring: Try to set up an io_uring for batches (`false` forces pread/pwrite).
    /// - Throws: `.io` (`ENOENT` when missing and not `create`).
    static func open(path: String, create: Bool, useIOUring: Bool = true) throws(HoltError) -> BlobFile {
        let flags = O_RDWR | (create ? O_CREAT : 0)
        var fd: Int32
        var isDirect = true
        do throws(HoltError) {
            fd = try Syscall.open(path, flags: flags | curing_o_direct())
            // Some file systems take the flag at open and refuse the I/O: probe one aligned block.
            let probe = AlignedBuffer(count: AlignedBuffer.alignment)
            if try !Syscall.directReadWorks(fd, probe.pointer, count: probe.count, path) {
                try Syscall.close(fd)
                throw .io(errno: EINVAL, operation: "O_DIRECT read \(path)")
            }
        } catch .io(errno: EINVAL, _) {
            // The file system does not do O_DIRECT (older tmpfs, some FUSE file systems).
            fd = try Syscall.open(path, flags: flags)
            isDirect = false
        }
        let ring = useIOUring ? IORing.make().ring : nil
        return BlobFile(path: path, fd: fd, isDirect: isDirect, ring: ring)
    }

    /// The file's size in bytes.
    func size() throws(HoltError) -> Int { try Syscall.fileSize(fd) }

    /// The number of whole slots in the file.
    func slotCount() throws(HoltError) -> UInt64 { UInt64(try size() / BlobGeometry.blobSize) }

    /// Reads slot `slot` into `buffer` (`blobSize` aligned bytes).
    /// - Returns: `false` when the file ends before the slot does (a short read).
    func read(_ slot: PhysicalSlot, into buffer: UnsafeMutableRawPointer) throws(HoltError) -> Bool {
        let got = try Syscall.pread(fd, buffer, count: BlobGeometry.blobSize, offset: slot.offset, "\(path) \(slot)")
        return got == BlobGeometry.blobSize
    }

    /// Writes `item` to its slot. Not durable until `sync()`.
    func write(_ item: BlobWrite) throws(HoltError) {
        try write(batch: [item])
    }

    /// Writes every item to its slot: the bytes before and after its gap, submitted all at once
    /// through io_uring when there is a ring and more than one item, else one pwrite after
    /// another; then punches each gap out of its slot. Not durable until `sync()`.
    func write(batch: [BlobWrite]) throws(HoltError) {
        if batch.isEmpty { return }
        var pieces: [(item: Int, start: Int, length: Int)] = []
        for (index, item) in batch.enumerated() {
            for piece in item.pieces { pieces.append((index, piece.start, piece.length)) }
        }
        let results: [Int32]? = batch.count == 1 ? nil : ring.withLock { ring in
            guard let current = ring else { return nil }
            let results = current.batch(
                fd: fd, write: true,
                buffers: pieces.map { UnsafeMutableRawPointer(mutating: batch[$0.item].buffer + $0.start) },
                offsets: pieces.map { UInt64(batch[$0.item].slot.offset + $0.start) },
                lengths: pieces.map { UInt32($0.length) })
            if results == nil { ring = nil }  // the ring broke: pwrite from now on
            return results
        }
        for (index, piece) in pieces.enumerated() {
            let item = batch[piece.item]
            let result = results?[index] ?? 0
            if result < 0 {
                try Syscall.check(errno: -result, "io_uring write \(path) \(item.slot)", misuseTraps: true)
            }
            // No ring, or a short write: finish with pwrite, from a 4 KiB boundary for O_DIRECT.
            let done = Int(result) / AlignedBuffer.alignment * AlignedBuffer.alignment
            if done < piece.length {
                try Syscall.pwrite(
                    fd, item.buffer + piece.start + done, count: piece.length - done,
                    offset: item.slot.offset + piece.start + done, "\(path) \(item.slot)")
            }
        }
        for item in batch where !item.gap.isEmpty {
            try punch(item.slot, item.gap)
        }
    }

    /// Punches `range` (bytes of a slot, 4 KiB aligned) out of `slot`: the file system takes its
    /// blocks back. Returns `false` (nothing done) on a file system that cannot punch holes.
    @discardableResult
    func punch(_ slot: PhysicalSlot, _ range: Range<Int> = 0..<BlobGeometry.blobSize) throws(HoltError) -> Bool {
        precondition(range.lowerBound % AlignedBuffer.alignment == 0 && range.upperBound % AlignedBuffer.alignment == 0)
        return try Syscall.punchHole(fd, offset: slot.offset + range.lowerBound, length: range.count, "\(path) \(slot)")
    }

    /// Cuts the file to `slots` slots.
    func truncate(slots: UInt64) throws(HoltError) {
        try Syscall.truncate(fd, to: Int(slots) * BlobGeometry.blobSize, path)
    }

    /// The bytes the file system has allocated to the file (holes excluded).
    func allocatedBytes() throws(HoltError) -> Int { try Syscall.allocatedBytes(fd) }

    /// Makes every write so far durable (`fdatasync`). Never retried after a failure: the
    /// caller must treat the file as failed (the kernel may have dropped the dirty pages).
    func sync() throws(HoltError) { try Syscall.fdatasync(fd, path) }

    /// Closes the file.
    func close() throws(HoltError) {
        ring.withLock { $0 = nil }
        try Syscall.close(fd)
    }
}
