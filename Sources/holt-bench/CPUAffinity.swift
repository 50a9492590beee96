#if canImport(Glibc)
import Glibc
#endif

/// glibc's `sched_setaffinity(2)` and `sched_getaffinity(2)` wrappers, which the Glibc module
/// hides (they need `_GNU_SOURCE`); declared here by their C symbols, the only such declarations
/// in the package.
@_silgen_name("sched_setaffinity")
private func setAffinity(_ pid: pid_t, _ size: Int, _ mask: UnsafeRawPointer) -> Int32
@_silgen_name("sched_getaffinity")
private func getAffinity(_ pid: pid_t, _ size: Int, _ mask: UnsafeMutableRawPointer) -> Int32

/// Pins the calling thread to one CPU for the single-threaded workloads, and lets it (and the
/// threads it starts) run anywhere again for the multi-threaded one. Threads inherit the mask of
/// the thread that creates them.
enum CPUAffinity {
    /// The mask the process started with, saved on first use.
    nonisolated(unsafe) private static var original: cpu_set_t? = nil

    /// Restricts the calling thread to CPU `cpu`. Returns false (and changes nothing) when the
    /// kernel refuses, e.g. when the CPU is outside the allowed set.
    @discardableResult
    static func pin(toCPU cpu: Int) -> Bool {
        saveOriginal()
        var mask = cpu_set_t()
        withUnsafeMutableBytes(of: &mask) { bytes in
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
            bytes[cpu / 8] |= UInt8(1 << (cpu % 8))
        }
        return setAffinity(0, MemoryLayout<cpu_set_t>.size, &mask) == 0
    }

    /// Gives the calling thread back the mask the process started with.
    static func unpin() {
        guard var mask = original else { return }
        _ = setAffinity(0, MemoryLayout<cpu_set_t>.size, &mask)
    }

    /// Remembers the process's starting mask, once, so `unpin` can restore it.
    private static func saveOriginal() {
        guard original == nil else { return }
        var mask = cpu_set_t()
        if getAffinity(0, MemoryLayout<cpu_set_t>.size, &mask) == 0 { original = mask }
    }
}
