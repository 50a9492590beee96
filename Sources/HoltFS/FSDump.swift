/// One-line descriptions of stored keys and values, for `holtfs dump`.
public enum FSDump {
    /// A one-line description of the value at `key`: the decoded record, link, superblock, chunk
    /// or xattr part, or a plain value's length and first bytes.
    public static func describe(key: [UInt8], value: [UInt8]) -> String {
        let shownKey = key.isEmpty ? "(root)" : printable(key)
        if key == ReservedKeys.superblock, let superblock = Superblock.decode(value) {
            let bound = superblock.longestKey.map { " longest-key<=\($0)" } ?? ""
            return "\(shownKey)  superblock next-ino=\(superblock.nextIno)\(bound)"
        }
        if key.starts(with: ReservedKeys.dataRoot) { return "\(shownKey)  data chunk, \(value.count) bytes" }
        if key.starts(with: ReservedKeys.xattrRoot) { return "\(shownKey)  xattr part, \(value.count) bytes" }
        do {
            let record = try InodeRecord.decode(value)
            if record.kind == .hardLink { return "\(shownKey)  link -> ino \(record.ino)" }
            var line = "\(shownKey)  \(record.kind) ino=\(record.ino) mode=\(String(record.mode, radix: 8))"
            line += " uid=\(record.uid) gid=\(record.gid) nlink=\(record.nlink) size=\(record.size)"
            if record.kind == .symlink { line += " -> \(printable(record.symlinkTarget))" }
            if record.kind == .charDevice || record.kind == .blockDevice { line += " rdev=\(record.rdev)" }
            if record.isChunked { line += " chunked" } else if !record.inlineData.isEmpty { line += " inline=\(record.inlineData.count)" }
            if !record.xattrs.isEmpty { line += " xattrs=\(record.xattrs.map { printable($0.name) }.joined(separator: ","))" }
            return line
        } catch .unsupportedVersion(let version) {
            return "\(shownKey)  record of unsupported version \(version)"
        } catch {
            let preview = printable(Array(value.prefix(32)))
            return "\(shownKey)  plain value, \(value.count) bytes: \(preview)\(value.count > 32 ? "…" : "")"
        }
    }

    /// Bytes as text, with non-printable bytes as `\xNN`.
    static func printable(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + String(byte, radix: 16).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
