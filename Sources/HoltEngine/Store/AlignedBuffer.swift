#if canImport(Glibc)
import Glibc
#endif

/// Memory aligned for `O_DIRECT`: `count` bytes at an address that is a multiple of 4 KiB.
///
/// Owns its memory (allocated zeroed in `init(count:)`, freed in `deinit`). The pointer stays
/// valid while the buffer lives; whoever uses it must keep the buffer alive. (Cache frames take
/// their memory from a `FrameArena` instead.)
///
/// `@unchecked Sendable`: the buffer only hands out its (immutable) address; who may touch the
/// bytes when is the business of its owner (the buffer manager's pin protocol).
final class AlignedBuffer: @unchecked Sendable {
    /// The alignment of every buffer, the logical block size `O_DIRECT` needs on every Linux disk.
    static let alignment = 4096

    /// The first byte.
    let pointer: UnsafeMutableRawPointer
    /// The size in bytes (a multiple of `alignment`).
    let count: Int

    /// A zeroed buffer of `count` bytes (rounded up to a multiple of 4 KiB).
    init(count: Int) {
        let rounded = (count + Self.alignment - 1) / Self.alignment * Self.alignment
        var raw: UnsafeMutableRawPointer?
        let result = posix_memalign(&raw, Self.alignment, max(rounded, Self.alignment))
        guard result == 0, let raw else { fatalError("out of memory allocating \(rounded) aligned bytes") }
        memset(raw, 0, rounded)
        pointer = raw
        self.count = rounded
    }

    /// A buffer holding a copy of the `count` bytes at `source` (a multiple of 4 KiB), not
    /// zeroed first (a snapshot's blob images, `BlobShadows`).
    init(copying source: UnsafeRawPointer, count: Int) {
        precondition(count % Self.alignment == 0)
        var raw: UnsafeMutableRawPointer?
        let result = posix_memalign(&raw, Self.alignment, max(count, Self.alignment))
        guard result == 0, let raw else { fatalError("out of memory allocating \(count) aligned bytes") }
        memcpy(raw, source, count)
        pointer = raw
        self.count = count
    }

    deinit { free(pointer) }

    /// Sets every byte to zero.
    func zero() { memset(pointer, 0, count) }

    /// Copies all of `other`'s bytes into this buffer (same size).
    func copy(from other: UnsafeRawPointer) { memcpy(pointer, other, count) }

    /// The bytes as a read-only buffer, for checksums. Valid while `self` lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}
