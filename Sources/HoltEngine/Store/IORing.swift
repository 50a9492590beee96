import CURing
#if canImport(Glibc)
import Glibc
#endif

/// An io_uring instance (liburing through the CURing wrappers) for batches of blob I/O.
///
/// Created at run time when the kernel allows it (a sandbox may refuse `io_uring_setup`; then
/// `make` returns `nil` and the blob file uses pread/pwrite). One batch at a time: the owner
/// serialises calls (`BlobFile` keeps it in a `Mutex`).
///
/// `@unchecked Sendable`: the ring pointer is only used under its owner's lock.
final class IORing: @unchecked Sendable {
    private let ring: OpaquePointer
    /// How many operations the ring holds in flight at once.
    let entries: UInt32

    private init(ring: OpaquePointer, entries: UInt32) {
        self.ring = ring
        self.entries = entries
    }

    /// A ring with `entries` slots, or `nil` with the errno when the kernel refuses one.
    static func make(entries: UInt32 = 64) -> (ring: IORing?, errno: Int32) {
        var error: Int32 = 0
        guard let raw = curing_ring_create(entries, &error) else { return (nil, error) }
        return (IORing(ring: raw, entries: entries), 0)
    }

    deinit { curing_ring_destroy(ring) }

    /// Submits one write (or read) per element of `buffers`/`offsets`/`lengths` and waits for
    /// every one.
    ///
    /// - Returns: Per operation, the byte count or a negative errno; or `nil` when the ring
    ///   itself failed (then it must not be used again and the caller redoes the batch another way).
    func batch(
        fd: Int32, write: Bool, buffers: [UnsafeMutableRawPointer?], offsets: [UInt64], lengths: [UInt32]
    ) -> [Int32]? {
        precondition(buffers.count == offsets.count && buffers.count == lengths.count)
        var results = [Int32](repeating: -EIO, count: buffers.count)
        let status = buffers.withUnsafeBufferPointer { bufferList in
            offsets.withUnsafeBufferPointer { offsetList in
                lengths.withUnsafeBufferPointer { lengthList in
                    results.withUnsafeMutableBufferPointer { resultList in
                        curing_ring_batch(
                            ring, fd, write ? 1 : 0, bufferList.baseAddress, offsetList.baseAddress,
                            lengthList.baseAddress, UInt32(bufferList.count), resultList.baseAddress)
                    }
                }
            }
        }
        return status < 0 ? nil : results
    }
}

