#if canImport(Glibc)
import Glibc
#endif
import HoltEngine

/// Why a filesystem operation failed. Each case answers with one errno (`errno`), chosen in one
/// exhaustive switch, and reads as one English line (`description`).
public enum FSError: Error, Equatable, Sendable, CustomStringConvertible {
    // Mounting
    /// The mount point is missing or is not a directory.
    case badMountpoint(path: String, reason: String)
    /// libfuse refused to create or mount the session (bad option, no /dev/fuse, no permission).
    case fuseSetup(reason: String)
    /// A maximum file size past the largest one chunk keys can address (128 TiB); the argument
    /// is the size asked for.
    case maxFileSizeTooLarge(UInt64)

    // Namespace
    /// No node at the path, or the node was removed.
    case notFound
    /// A node already exists where one is created.
    case exists
    /// A directory that must be empty is not.
    case notEmpty
    /// A directory was needed and something else was found.
    case notDirectory
    /// A non-directory was needed and a directory was found.
    case isDirectory
    /// An argument the operation cannot take (rename into its own subtree, bad flags).
    case invalidArgument
    /// A name longer than 255 bytes, or a path longer than the engine's key limit.
    case nameTooLong
    /// The operation is not allowed (wrong owner, link to a directory).
    case notPermitted
    /// Too many links to one inode.
    case tooManyLinks
    /// The operation does not apply to this kind of node (readlink of a file, xattr namespace
    /// holtfs does not keep).
    case notSupported

    // Data and xattrs
    /// A write or truncate past the maximum file size.
    case fileTooLarge
    /// The xattr does not exist (or is a name holtfs does not keep).
    case noAttribute
    /// A caller's buffer is too small for the answer.
    case bufferTooSmall
    /// An xattr value or list too big to keep.
    case argumentTooBig
    /// A stored record that this build cannot decode.
    case corruptRecord(key: [UInt8], reason: String)
    /// The operation lost too many races against concurrent changes.
    case busy
    /// A file or directory handle that is not open.
    case badHandle

    // Engine
    /// The engine failed.
    case engine(HoltError)

    /// The errno the FUSE reply carries.
    public var errno: Int32 {
        switch self {
        case .badMountpoint: ENOTDIR
        case .fuseSetup: EIO
        case .maxFileSizeTooLarge: EINVAL
        case .notFound: ENOENT
        case .exists: EEXIST
        case .notEmpty: ENOTEMPTY
        case .notDirectory: ENOTDIR
        case .isDirectory: EISDIR
        case .invalidArgument: EINVAL
        case .nameTooLong: ENAMETOOLONG
        case .notPermitted: EPERM
        case .tooManyLinks: EMLINK
        case .notSupported: EOPNOTSUPP
        case .fileTooLarge: EFBIG
        case .noAttribute: ENODATA
        case .bufferTooSmall: ERANGE
        case .argumentTooBig: E2BIG
        case .corruptRecord: EIO
        case .busy: EAGAIN
        case .badHandle: EBADF
        case .engine(let error):
            switch error {
            case .io(let cause, _) where cause == ENOSPC: ENOSPC
            case .io: EIO
            case .keyTooLong: ENAMETOOLONG
            case .valueTooLarge: E2BIG
            case .notADatabase, .unsupportedFormat, .locked, .invalidKey, .conditionFailed,
                .corrupted, .previousIOFailure, .closed, .changesNotHeld, .noSuchConsumer:
                EIO
            case .noSuchFamily, .familyExists, .invalidFamilyName, .cannotDropDefaultFamily, .familyDropped:
                EIO
            }
        }
    }

    /// A one-line English description.
    public var description: String {
        switch self {
        case .badMountpoint(let path, let reason): "mount point \(path): \(reason)"
        case .fuseSetup(let reason): "FUSE: \(reason)"
        case .maxFileSizeTooLarge(let size):
            "maximum file size \(size) is over \(Filesystem.largestMaxFileSize) bytes (128 TiB: 2^32 chunks of \(Filesystem.chunkSize / 1024) KiB)"
        case .corruptRecord(let key, let reason):
            "undecodable record at \(String(decoding: key, as: UTF8.self)): \(reason)"
        case .engine(let error): "engine: \(error)"
        case .notFound, .exists, .notEmpty, .notDirectory, .isDirectory, .invalidArgument, .nameTooLong,
            .notPermitted, .tooManyLinks, .notSupported, .fileTooLarge, .noAttribute, .bufferTooSmall,
            .argumentTooBig, .busy, .badHandle:
            String(cString: strerror(errno))
        }
    }
}
