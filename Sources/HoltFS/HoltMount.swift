#if canImport(Glibc)
import Glibc
#endif
@preconcurrency import CFuse
import HoltEngine
import Synchronization

/// How a `HoltMount` is set up.
public struct MountOptions: Sendable {
    /// Extra `-o` options for libfuse and the kernel (`ro`, `debug`, `max_read=…`). holtfs always
    /// adds `default_permissions`, `fsname=holt`, `subtype=holtfs`, and as root `allow_other`,
    /// `dev` and `suid` (see the switches below).
    public var fuseOptions: [String]
    /// The largest file size; a write or truncate past it fails with EFBIG. Default 1 TiB; at
    /// most `largestMaxFileSize`.
    public var maxFileSize: UInt64
    /// The largest `maxFileSize` a mount takes: 128 TiB (2^32 chunks of 32 KiB). A mount asked
    /// for more fails with `FSError.maxFileSizeTooLarge`.
    public static let largestMaxFileSize = Filesystem.largestMaxFileSize
    /// Whether `run()` installs libfuse's SIGINT/SIGTERM/SIGHUP handlers (which end the session).
    /// Only one mount per process may install them.
    public var installSignalHandlers: Bool
    /// The most worker threads libfuse starts.
    public var maxThreads: Int
    /// Whether to add `allow_other` when the process runs as root.
    public var allowOtherWhenRoot: Bool
    /// Whether to add `dev` and `suid` when the process runs as root, so device nodes open and
    /// setuid bits work as on a local filesystem (libfuse mounts `nodev,nosuid` otherwise).
    public var devicesAndSetuidWhenRoot: Bool

    /// Options with the defaults described at each property.
    public init(
        fuseOptions: [String] = [], maxFileSize: UInt64 = 1 << 40, installSignalHandlers: Bool = true,
        maxThreads: Int = 16, allowOtherWhenRoot: Bool = true, devicesAndSetuidWhenRoot: Bool = true
    ) {
        self.fuseOptions = fuseOptions
        self.maxFileSize = maxFileSize
        self.installSignalHandlers = installSignalHandlers
        self.maxThreads = maxThreads
        self.allowOtherWhenRoot = allowOtherWhenRoot
        self.devicesAndSetuidWhenRoot = devicesAndSetuidWhenRoot
    }
}

/// A holt database mounted as a FUSE filesystem.
///
/// Concepts: the mount owns one libfuse session on one mount point. `init` creates the session
/// and mounts it; `run()` serves requests on libfuse's worker threads until the filesystem is
/// unmounted (`fusermount3 -u`, `umount`, `unmount()`, or a signal when `installSignalHandlers`);
/// then it unmounts, destroys the session and returns. The tree stays open: the caller closes it.
public final class HoltMount: @unchecked Sendable {
    // @unchecked Sendable: `session` and `arguments` are written in init and read-only after;
    // the run/unmount state sits in `state`, a `Locked`.

    /// The mount point.
    public let mountpoint: String
    let filesystem: Filesystem
    let bridge: FuseBridge
    private let userdata: UnsafeMutableRawPointer
    private let session: OpaquePointer
    private let options: MountOptions
    private var arguments: [UnsafeMutablePointer<CChar>?]

    private struct State {
        var ran = false
        var unmounted = false
        var destroyed = false
    }

    private let state = Locked(State())

    /// Opens a FUSE session for `tree` and mounts it on `mountpoint`.
    ///
    /// - Parameters:
    ///   - tree: The open database; it must stay open until `run()` returns.
    ///   - mountpoint: An existing directory.
    ///   - options: FUSE options and limits.
    /// - Throws: `.badMountpoint` when the mount point is missing or not a directory,
    ///   `.fuseSetup` when /dev/fuse is missing, an option is bad or the mount is refused,
    ///   `.engine`/`.corruptRecord` when the database cannot be read.
    public init(tree: Tree, mountpoint: String, options: MountOptions = MountOptions()) throws(FSError) {
        var info = stat()
        guard stat(mountpoint, &info) == 0 else {
            throw .badMountpoint(path: mountpoint, reason: String(cString: strerror(errno)))
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .badMountpoint(path: mountpoint, reason: "not a directory") }
        guard access("/dev/fuse", R_OK | W_OK) == 0 else {
            throw .fuseSetup(reason: "/dev/fuse: \(String(cString: strerror(errno)))")
        }
        self.mountpoint = mountpoint
        self.options = options
        self.filesystem = try Filesystem(tree: tree, maxFileSize: options.maxFileSize)
        self.bridge = FuseBridge(filesystem: filesystem)

        var fuseOptions = ["default_permissions", "fsname=holt", "subtype=holtfs"]
        if options.allowOtherWhenRoot, geteuid() == 0 { fuseOptions.append("allow_other") }
        if options.devicesAndSetuidWhenRoot, geteuid() == 0 { fuseOptions += ["dev", "suid"] }
        fuseOptions += options.fuseOptions
        let argumentStrings: [String] = ["holtfs", "-o", fuseOptions.joined(separator: ",")]
        arguments = argumentStrings.map { strdup($0) }
        var operations = FuseBridge.operations()
        let userdata = Unmanaged.passRetained(bridge).toOpaque()
        self.userdata = userdata
        let created = arguments.withUnsafeMutableBufferPointer { argv -> OpaquePointer? in
            var args = fuse_args(argc: Int32(argv.count), argv: argv.baseAddress, allocated: 0)
            return fuse_session_new(&args, &operations, MemoryLayout<fuse_lowlevel_ops>.size, userdata)
        }
        guard let created else {
            bridge.releaseOnce(userdata)
            for argument in arguments { free(argument) }
            throw .fuseSetup(reason: "libfuse rejected the options \(fuseOptions.joined(separator: ","))")
        }
        guard fuse_session_mount(created, mountpoint) == 0 else {
            fuse_session_destroy(created)
            bridge.releaseOnce(userdata)
            for argument in arguments { free(argument) }
            throw .fuseSetup(reason: "cannot mount on \(mountpoint) (see libfuse's message above)")
        }
        session = created
    }

    deinit {
        let mustDestroy = state.withLock { state -> Bool in
            defer { state.destroyed = true }
            return !state.destroyed
        }
        if mustDestroy {
            fuse_session_unmount(session)
            fuse_session_destroy(session)
        }
        bridge.releaseOnce(userdata)
        for argument in arguments { free(argument) }
    }

    /// Serves requests on libfuse's threads until the filesystem is unmounted or a signal ends the
    /// session; then unmounts and destroys the session. Call once, from a plain thread (never from
    /// a Swift task: it blocks).
    ///
    /// - Throws: `.fuseSetup` when called twice or when the session loop fails.
    public func run() throws(FSError) {
        let first = state.withLock { state -> Bool in
            defer { state.ran = true }
            return !state.ran && !state.destroyed
        }
        guard first else { throw .fuseSetup(reason: "the session already ran") }
        if options.installSignalHandlers {
            // libfuse installs a handler only where the current one is SIG_DFL.
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            signal(SIGHUP, SIG_DFL)
            guard fuse_set_signal_handlers(session) == 0 else { throw .fuseSetup(reason: "cannot install signal handlers") }
        }
        let config = fuse_loop_cfg_create()
        fuse_loop_cfg_set_max_threads(config, UInt32(max(1, options.maxThreads)))
        let result = cfuse_session_loop_mt(session, config)
        fuse_loop_cfg_destroy(config)
        if options.installSignalHandlers { fuse_remove_signal_handlers(session) }
        state.withLock { state in
            state.unmounted = true
            state.destroyed = true
        }
        fuse_session_unmount(session)
        fuse_session_destroy(session)
        guard result >= 0 else { throw .fuseSetup(reason: "session loop failed: \(String(cString: strerror(-result)))") }
    }

    /// Asks the session to end by unmounting the filesystem (lazily); `run()` then returns.
    public func unmount() {
        let first = state.withLock { state -> Bool in
            defer { state.unmounted = true }
            return !state.unmounted
        }
        guard first else { return }
        if geteuid() == 0 {
            _ = cfuse_umount_lazy(mountpoint)
        } else {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup("fusermount3"), strdup("-u"), strdup("-z"), strdup(mountpoint), nil]
            defer { for argument in argv { free(argument) } }
            if posix_spawnp(&pid, "fusermount3", nil, nil, argv, environ) == 0 {
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
    }
}
