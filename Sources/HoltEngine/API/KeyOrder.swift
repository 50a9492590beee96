#if canImport(Glibc)
import Glibc
#endif

/// The order of keys: bytewise, a key before every longer key it begins.
enum KeyOrder {
    /// Whether `a` sorts before `b`, bytewise (`memcmp`, then the shorter first). What
    /// `lexicographicallyPrecedes` answers, many times faster (it walks both arrays with
    /// iterators).
    @inline(__always)
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                let common = min(pa.count, pb.count)
                if common > 0 {
                    let c = memcmp(pa.baseAddress!, pb.baseAddress!, common)
                    if c != 0 { return c < 0 }
                }
                return pa.count < pb.count
            }
        }
    }

    /// Whether `key` begins with `prefix`, bytewise (`memcmp`).
    @inline(__always)
    static func begins(_ key: [UInt8], with prefix: [UInt8]) -> Bool {
        guard key.count >= prefix.count else { return false }
        guard !prefix.isEmpty else { return true }
        return key.withUnsafeBytes { k in prefix.withUnsafeBytes { p in memcmp(k.baseAddress!, p.baseAddress!, p.count) == 0 } }
    }
}
