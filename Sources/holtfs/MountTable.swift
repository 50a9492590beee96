/// The mounts the kernel shows this process, read from `/proc/self/mountinfo`.
enum MountTable {
    /// One mount: where it is, its type (`fuse.holtfs` for ours) and its source (fsname).
    struct Entry: Equatable {
        /// The mount point, unescaped.
        var mountpoint: String
        /// The file system type, e.g. `fuse.holtfs`, `ext4`.
        var type: String
        /// The source, e.g. `holtfs`, `/dev/sda1`.
        var source: String
    }

    /// The type holtfs mounts show (`fuse.` + the `subtype=` option).
    static let holtfsType = "fuse.holtfs"

    /// Every mount, in mount order.
    static func entries() -> [Entry] {
        guard let bytes = Posix.readFile("/proc/self/mountinfo") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap(parse)
    }

    /// The last (topmost) mount at `mountpoint`, or `nil` when nothing is mounted there.
    static func entry(at mountpoint: String) -> Entry? {
        entries().last { $0.mountpoint == mountpoint }
    }

    /// Parses one mountinfo line: `id parent maj:min root mountpoint opts [optional...] - type source superopts`.
    static func parse(_ line: Substring) -> Entry? {
        let fields = line.split(separator: " " as Character, omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 7, let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 2 < fields.count else {
            return nil
        }
        return Entry(
            mountpoint: unescape(fields[4]), type: unescape(fields[dash + 1]), source: unescape(fields[dash + 2]))
    }

    /// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash, ...).
    static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        let source = Array(field.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
                let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
