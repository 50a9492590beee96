import CURing

/// A counter that threads on different CPUs add to without sharing a cache line: one stripe per
/// CPU (modulo `stripes`), each on a 128-byte line of its own, summed when read.
///
/// Why: a single atomic incremented on every lock-free blob hold (`BufferManager`'s lock-free
/// hits) had two reader threads bounce its cache line on every get.
///
/// `@unchecked Sendable`: the stripes are only touched through atomic operations; the memory is
/// allocated at init and freed at deinit.
final class StripedCounter: @unchecked Sendable {
    /// Stripes (a power of two); CPUs beyond it share.
    static let stripes = 64
    /// Words between two stripes: 128 bytes (two cache lines, against adjacent-line prefetch).
    static let stride = 16

    private let words: UnsafeMutablePointer<UInt64>

    /// A counter at zero.
    init() {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Self.stripes * Self.stride * 8, alignment: 128)
        words = raw.bindMemory(to: UInt64.self, capacity: Self.stripes * Self.stride)
        words.initialize(repeating: 0, count: Self.stripes * Self.stride)
    }

    deinit { words.deallocate() }

    /// Adds one to the calling CPU's stripe (relaxed: the count orders nothing).
    @inline(__always)
    func increment() {
        let stripe = Int(holt_current_cpu()) & (Self.stripes - 1)
        holt_atomic_add_relaxed_u64(words + stripe * Self.stride, 1)
    }

    /// The sum of the stripes (a moment's view: adds racing with it may or may not be in it).
    var value: Int {
        var sum: UInt64 = 0
        for stripe in 0..<Self.stripes { sum &+= holt_atomic_load_u64(words + stripe * Self.stride) }
        return Int(truncatingIfNeeded: sum)
    }
}
