/// What `stat` shows for one node, independent of FUSE's `struct stat`.
struct Attributes: Equatable, Sendable {
    /// The persistent inode number.
    var ino: UInt64
    /// The node's kind (never `.hardLink`).
    var kind: InodeRecord.Kind
    /// Permission bits with suid/sgid/sticky (`& 0o7777`).
    var permissions: UInt32
    var nlink: UInt32
    var uid: UInt32
    var gid: UInt32
    var size: UInt64
    var rdev: UInt64
    /// Times in nanoseconds since the epoch.
    var atime: Int64
    var mtime: Int64
    var ctime: Int64

    /// The `S_IFMT` bits of `kind`.
    static func typeBits(of kind: InodeRecord.Kind) -> UInt32 {
        switch kind {
        case .regular, .hardLink: 0o100000
        case .directory: 0o040000
        case .symlink: 0o120000
        case .fifo: 0o010000
        case .socket: 0o140000
        case .charDevice: 0o020000
        case .blockDevice: 0o060000
        }
    }

    /// The kind named by the `S_IFMT` bits of `mode`, or nil for an unknown type.
    static func kind(ofMode mode: UInt32) -> InodeRecord.Kind? {
        switch mode & 0o170000 {
        case 0o100000, 0: .regular
        case 0o040000: .directory
        case 0o120000: .symlink
        case 0o010000: .fifo
        case 0o140000: .socket
        case 0o020000: .charDevice
        case 0o060000: .blockDevice
        default: nil
        }
    }

    /// `st_mode`: type bits and permission bits.
    var mode: UInt32 { Self.typeBits(of: kind) | permissions }

    /// `st_blocks` in 512-byte units: the size rounded up (holes are not subtracted).
    var blocks: UInt64 { (size + 511) / 512 }

    /// The `d_type` value of `kind` (DT_REG, DT_DIR, ...).
    var directoryEntryType: UInt8 { UInt8(truncatingIfNeeded: Self.typeBits(of: kind) >> 12) }

    /// The attributes of an inode record.
    init(record: InodeRecord) {
        ino = record.ino
        kind = record.kind
        permissions = record.mode & 0o7777
        nlink = record.nlink
        uid = record.uid
        gid = record.gid
        size = record.size
        rdev = record.rdev
        atime = record.atime
        mtime = record.mtime
        ctime = record.ctime
    }

    /// Attributes given field by field.
    init(
        ino: UInt64, kind: InodeRecord.Kind, permissions: UInt32, nlink: UInt32, uid: UInt32, gid: UInt32,
        size: UInt64, rdev: UInt64 = 0, atime: Int64, mtime: Int64, ctime: Int64
    ) {
        self.ino = ino
        self.kind = kind
        self.permissions = permissions
        self.nlink = nlink
        self.uid = uid
        self.gid = gid
        self.size = size
        self.rdev = rdev
        self.atime = atime
        self.mtime = mtime
        self.ctime = ctime
    }
}

/// Who makes a request: the credentials FUSE reports for it (`fuse_req_ctx`).
struct Caller: Equatable, Sendable {
    var uid: UInt32
    var gid: UInt32
    var pid: Int32 = 0

    /// The superuser.
    static let root = Caller(uid: 0, gid: 0)
}
