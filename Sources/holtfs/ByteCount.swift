import Foundation

/// Byte counts for people: `512 B`, `11.8 MiB`, `1.5 GiB` (binary units, one decimal).
enum ByteCount {
    /// `bytes` with a binary unit: bytes below 1 KiB, else one decimal of the largest unit that
    /// keeps the number at least 1.
    static func text(_ bytes: Int) -> String {
        guard bytes.magnitude >= 1024 else { return "\(bytes) B" }
        var scaled = Double(bytes.magnitude)
        var unit = "B"
        for next in ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"] where scaled >= 1024 {
            scaled /= 1024
            unit = next
        }
        return (bytes < 0 ? "-" : "") + String(format: "%.1f", scaled) + " " + unit
    }
}
