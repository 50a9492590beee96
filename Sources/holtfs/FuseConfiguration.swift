/// What `/etc/fuse.conf` allows a user who is not root: `fusermount3` refuses `allow_other` and
/// `allow_root` to such a user unless the file has a line `user_allow_other`.
enum FuseConfiguration {
    /// The file `fusermount3` reads.
    static let path = "/etc/fuse.conf"

    /// Whether the configuration at `path` has a `user_allow_other` line (blanks around it and
    /// `#` comments aside); false when the file is missing or unreadable.
    static func userAllowOther(path: String = path) -> Bool {
        guard let bytes = Posix.readFile(path) else { return false }
        return allowsOther(text: String(decoding: bytes, as: UTF8.self))
    }

    /// Whether the text of a fuse.conf has a `user_allow_other` line.
    static func allowsOther(text: String) -> Bool {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).contains { line in
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            return content.split(whereSeparator: { $0 == " " || $0 == "\t" }) == ["user_allow_other"]
        }
    }
}
