#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HoltEngine
import HoltFS
import Logging
import Synchronization

/// Serves one mount in this process until it is unmounted: the body of `holtfs mount -f` and of
/// the daemon that `holtfs mount` starts.
///
/// Order (each step's failure is one line, to stderr or to the ready pipe):
/// 1. block SIGINT/SIGTERM/SIGHUP in every thread (before any exists); one thread `sigwait`s them
///    and unmounts, so the loop ends the same way as after `holtfs umount`;
/// 2. create the database directory, open the log, take `DatabaseLock`, open the `Tree`;
/// 3. open the FUSE session (`HoltMount.init`), register the mount point in `MountRegistry`;
/// 4. serve on this thread (`HoltMount.run`, libfuse's threads), while a helper thread waits
///    until `stat(MNT)` shows the new file system and then says `ready`;
/// 5. once unmounted: close the tree (its final checkpoint), mark the lock file `closed`,
///    unregister, release the lock.
struct MountServer {
    /// What to serve.
    let settings: MountSettings
    /// Where to say `ready` or `error ...` (the daemon's pipe), or `nil` for an interactive `-f`.
    let readyDescriptor: Int32?

    /// Serves until unmounted.
    ///
    /// - Throws: The one-line failure of a step before the mount was up (already sent to the pipe
    ///   when there is one), or of the final close.
    func serve() throws(CommandFailure) {
        let reporter = ReadyReporter(descriptor: readyDescriptor)
        do throws(CommandFailure) {
            try serveReporting(to: reporter)
        } catch {
            if reporter.sendError(error.description) {
                // The parent prints it; exit without printing it again to a /dev/null stderr.
                exit(error.exitCode)
            }
            throw error
        }
    }

    private func serveReporting(to reporter: ReadyReporter) throws(CommandFailure) {
        let signals = Self.blockTerminationSignals()
        let db = settings.database
        let mnt = settings.mountpoint
        func fail(_ path: String, _ reason: String) -> CommandFailure {
            CommandFailure(operation: "mount", path: path, reason: reason)
        }

        if case .failure(let error) = Posix.makeDirectories(db) {
            throw fail(db, "cannot create the database directory: \(error)")
        }
        let logDescriptor: Int32
        switch CommandLogging.start(path: settings.logPath, echoToStandardError: readyDescriptor == nil && isatty(2) != 0) {
        case .success(let fd): logDescriptor = fd
        case .failure(let error): throw fail(settings.logPath, "cannot open the log: \(error)")
        }
        if readyDescriptor != nil {
            // The daemon: anything the runtime prints (a crash report) lands in the log; leave the
            // mount point's parent free for unmounting.
            dup2(logDescriptor, STDOUT_FILENO)
            dup2(logDescriptor, STDERR_FILENO)
            _ = chdir("/")
        }
        let logger = Logger(label: "holtfs")
        logger.info("starting: database \(db) at \(mnt), sync \(settings.sync.rawValue), options \(settings.fuseOptions.joined(separator: ","))")

        let lock: DatabaseLock
        do { lock = try DatabaseLock.acquire(database: db) } catch {
            logger.error("\(error.reason(database: db))")
            throw fail(db, error.reason(database: db))
        }
        lock.record([("pid", String(getpid())), ("state", "opening"), ("mountpoint", mnt)])

        let tree: Tree
        do {
            tree = try Tree.open(
                path: db,
                options: Options(cacheBytes: settings.cacheMegabytes << 20, sync: settings.syncMode, createIfMissing: true))
        } catch {
            logger.error("cannot open the database: \(error)")
            lock.record([("pid", String(getpid())), ("state", "closed")])
            throw fail(db, error.description)
        }

        let deviceBefore = (try? Posix.fileStatus(mnt).get())?.st_dev
        let mount: HoltMount
        do {
            mount = try HoltMount(
                tree: tree, mountpoint: mnt, options: MountOptions(fuseOptions: settings.fuseOptions))
        } catch {
            logger.error("cannot mount: \(error)")
            try? tree.close()
            lock.record([("pid", String(getpid())), ("state", "closed")])
            throw fail(mnt, error.description)
        }
        lock.record([("pid", String(getpid())), ("state", "mounted"), ("mountpoint", mnt)])
        if case .failure(let error) = MountRegistry.register(mountpoint: mnt, database: db) {
            logger.warning("cannot register the mount in \(MountRegistry.directory): \(error); holtfs umount will not wait for the close")
        }

        Self.startSignalThread(signals: signals, mount: mount, logger: logger)
        Self.startReadinessThread(
            mountpoint: mnt, deviceBefore: deviceBefore, reporter: reporter, logger: logger)

        var serveError: FSError?
        do { try mount.run() } catch { serveError = error }
        if let serveError {
            logger.error("the FUSE session failed: \(serveError)")
        } else {
            logger.info("unmounted: closing the database")
        }
        MountRegistry.unregister(mountpoint: mnt)

        var closeError: HoltError?
        do { try tree.close() } catch { closeError = error }
        if let closeError {
            logger.error("closing the database failed: \(closeError)")
            lock.record([("pid", String(getpid())), ("state", "close-failed")])
        } else {
            logger.info("closed the database cleanly")
            lock.record([("pid", String(getpid())), ("state", "closed")])
        }
        lock.release()

        if let serveError {
            let failure = fail(mnt, "the FUSE session failed: \(serveError)")
            if reporter.sendError(failure.description) { exit(1) }
            throw failure
        }
        if let closeError { throw fail(db, "closing the database failed: \(closeError)") }
    }

    /// Blocks SIGINT, SIGTERM and SIGHUP in this thread and so in every thread started later.
    ///
    /// libfuse installs its own handlers only over `SIG_DFL`, and a handler would run on any
    /// thread; blocked signals instead wait for the one thread that `sigwait`s them.
    private static func blockTerminationSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return set
    }

    /// Starts the thread that turns SIGINT/SIGTERM/SIGHUP into an unmount.
    private static func startSignalThread(signals: sigset_t, mount: HoltMount, logger: Logger) {
        let thread = Thread {
            var set = signals
            while true {
                var received: Int32 = 0
                guard sigwait(&set, &received) == 0 else { continue }
                logger.info("received signal \(received): unmounting")
                mount.unmount()
            }
        }
        thread.name = "holtfs-signals"
        thread.start()
    }

    /// Starts the thread that waits until `stat(mountpoint)` answers from the new file system
    /// (its `st_dev` differs from the directory's before the mount) and then reports `ready`.
    private static func startReadinessThread(
        mountpoint: String, deviceBefore: dev_t?, reporter: ReadyReporter, logger: Logger
    ) {
        let thread = Thread {
            let deadline = Posix.monotonicSeconds() + 60
            while Posix.monotonicSeconds() < deadline {
                switch Posix.fileStatus(mountpoint) {
                case .success(let info) where info.st_dev != deviceBefore:
                    logger.info("mounted")
                    _ = reporter.sendReady()
                    return
                case .success:
                    break
                case .failure(let error):
                    logger.error("the mount point does not answer: \(error)")
                    _ = reporter.sendError(
                        CommandFailure(operation: "mount", path: mountpoint, reason: "the mount does not answer: \(error)").description)
                    return
                }
                Posix.pause(milliseconds: 5)
            }
            logger.error("the mount did not appear within 60 s")
            _ = reporter.sendError(
                CommandFailure(operation: "mount", path: mountpoint, reason: "the mount did not appear within 60 s").description)
        }
        thread.name = "holtfs-ready"
        thread.start()
    }
}

/// Says once, on the daemon's pipe, whether the mount came up: `ready` or `error <line>`.
///
/// Safe to share between the serving thread and the readiness thread: `sent` is a `Mutex`, and
/// only the first report is written.
final class ReadyReporter: Sendable {
    /// The pipe's descriptor, or `nil` when there is no parent waiting.
    private let descriptor: Int32?
    /// Whether a report has been written. Guarded by itself.
    private let sent = Mutex(false)

    /// A reporter writing to `descriptor`.
    init(descriptor: Int32?) {
        self.descriptor = descriptor
    }

    /// Writes `ready` and closes the pipe. Returns false when there is no pipe or it was used.
    func sendReady() -> Bool { send("ready") }

    /// Writes `error <line>` and closes the pipe. Returns false when there is no pipe or it was used.
    func sendError(_ line: String) -> Bool { send("error " + CommandFailure.oneLine(line)) }

    private func send(_ line: String) -> Bool {
        guard let descriptor else { return false }
        let first = sent.withLock { sent in
            defer { sent = true }
            return !sent
        }
        guard first else { return false }
        Posix.writeAll(descriptor, Array((line + "\n").utf8))
        close(descriptor)
        return true
    }
}
