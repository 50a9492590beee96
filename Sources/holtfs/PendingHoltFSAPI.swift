// TEMPORARY: the HoltFS API promised by branch `fs`, stubbed so this branch builds before it lands.
// The stub mount is a real, minimal FUSE session (an empty root directory) so daemon mode,
// signals and umount can be exercised. Delete this file when merging `fs`.
import CFuse
import HoltEngine
#if canImport(Glibc)
import Glibc
#endif

/// Stub of HoltFS.MountOptions.
struct MountOptions: Sendable {
    var fuseOptions: [String]
    var maxFileSize: UInt64
    init(fuseOptions: [String] = [], maxFileSize: UInt64 = 1 << 40) {
        self.fuseOptions = fuseOptions
        self.maxFileSize = maxFileSize
    }
}

/// Stub of HoltFS.FSError.
enum FSError: Error, CustomStringConvertible {
    case mount(String)
    var description: String {
        switch self { case .mount(let reason): reason }
    }
}

/// Stub of HoltFS.HoltMount: an empty root directory.
final class HoltMount: @unchecked Sendable {
    private let session: OpaquePointer
    private let mountpoint: String

    init(tree: Tree, mountpoint: String, options: MountOptions) throws(FSError) {
        self.mountpoint = mountpoint
        var ops = fuse_lowlevel_ops()
        ops.getattr = { request, node, _ in
            var attributes = stat()
            attributes.st_ino = UInt(node)
            attributes.st_mode = S_IFDIR | 0o755
            attributes.st_nlink = 2
            fuse_reply_attr(request, &attributes, 1.0)
        }
        var arguments = ["holtfs", "-o", options.fuseOptions.joined(separator: ",")]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.indices.map { strdup(arguments[$0]) }
        defer { for pointer in cArguments { free(pointer) } }
        arguments.removeAll()
        let made = cArguments.withUnsafeMutableBufferPointer { buffer in
            var fuseArguments = fuse_args(argc: Int32(buffer.count), argv: buffer.baseAddress, allocated: 0)
            return fuse_session_new(&fuseArguments, &ops, MemoryLayout<fuse_lowlevel_ops>.size, nil)
        }
        guard let session = made else {
            throw .mount("fuse_session_new failed (bad option?)")
        }
        guard fuse_session_mount(session, mountpoint) == 0 else {
            fuse_session_destroy(session)
            throw .mount("fuse_session_mount failed")
        }
        self.session = session
    }

    func run() throws(FSError) {
        let config = fuse_loop_cfg_create()
        defer { fuse_loop_cfg_destroy(config) }
        let result = fuse_session_loop_mt(session, config)
        fuse_session_unmount(session)
        fuse_session_destroy(session)
        if result != 0 && result != -EINTR { throw .mount("fuse_session_loop_mt: \(result)") }
    }

    func unmount() {
        fuse_session_exit(session)
        fuse_session_unmount(session)
    }
}

/// Stub of HoltFS.FSCheck.
enum FSCheck {
    static func check(tree: Tree) -> [String] { [] }
}

/// Stub of HoltFS.FSDump.
enum FSDump {
    static func describe(key: [UInt8], value: [UInt8]) -> String {
        "\(String(decoding: key, as: UTF8.self)) (\(value.count) bytes)"
    }
}
