#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Where the buffer manager's frames get their memory: 2 MiB chunks, each aligned to 2 MiB and
/// offered to the kernel for transparent huge pages (`MADV_HUGEPAGE`), cut into frames.
///
/// Why: a lookup touches a dozen nodes scattered over hundreds of megabytes of frames; with 4 KiB
/// pages nearly every node costs a TLB miss and a page walk besides its cache miss. One huge page
/// covers four 512 KiB frames, so the TLB reaches 512 times further. Where the kernel gives no
/// huge page (THP off, memory fragmented) the chunk is ordinary memory and works the same.
///
/// Chunks live as long as the arena (the buffer manager): a frame's memory is never given back
/// while the manager is open, as `Frame` requires. `@unchecked Sendable`: `state` is a `Mutex`.
final class FrameArena: @unchecked Sendable {
    /// The size and alignment of a chunk: one x86-64 huge page.
    static let chunkSize = 2 * 1024 * 1024

    /// The bytes of each frame.
    let frameSize: Int
    private let state = Locked(State())

    /// The chunks mapped so far and the next unused frame of the last one.
    private struct State: ~Copyable {
        var chunks: [UnsafeMutableRawPointer] = []
        var used = 0
    }

    /// An arena of frames of `frameSize` bytes (a power of two dividing `chunkSize`).
    init(frameSize: Int) {
        precondition(frameSize > 0 && frameSize <= Self.chunkSize && Self.chunkSize % frameSize == 0)
        self.frameSize = frameSize
    }

    deinit {
        state.withLock { state in
            for chunk in state.chunks { munmap(chunk, Self.chunkSize) }
        }
    }

    /// The memory of a new frame: `frameSize` zero bytes, aligned to at least 4 KiB, valid as
    /// long as the arena.
    func takeFrame() -> UnsafeMutableRawPointer {
        state.withLock { state -> UnsafeMutableRawPointer in
            if state.chunks.isEmpty || state.used == Self.chunkSize / frameSize {
                state.chunks.append(Self.mapChunk())
                state.used = 0
            }
            defer { state.used += 1 }
            return state.chunks[state.chunks.count - 1] + state.used * frameSize
        }
    }

    /// Maps one zeroed chunk aligned to `chunkSize` (a larger mapping, trimmed at both ends) and
    /// asks for huge pages on it.
    private static func mapChunk() -> UnsafeMutableRawPointer {
        let span = 2 * chunkSize
        guard let raw = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED
        else { fatalError("out of memory mapping a \(chunkSize)-byte frame chunk (errno \(errno))") }
        let address = UInt(bitPattern: raw)
        let aligned = (address + UInt(chunkSize) - 1) & ~UInt(chunkSize - 1)
        let head = Int(aligned - address)
        if head > 0 { munmap(raw, head) }
        let tail = span - head - chunkSize
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(chunkSize)), tail) }
        let chunk = UnsafeMutableRawPointer(bitPattern: aligned)!
        _ = madvise(chunk, chunkSize, MADV_HUGEPAGE)  // advice only: without it the chunk still works
        return chunk
    }
}
