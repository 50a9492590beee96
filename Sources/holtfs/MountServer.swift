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
            if reporter.reportError(error.description) {
                // The parent prints it; exit without printing it again to a /dev/null stderr.
                exit(error.exitCode)
            }
            throw error
        }
    }

    private func serveReporting(to reporter: ReadyReporter) throws(CommandFailure) {
        let signals = Self.blockTerminationSignals()
        let started = Posix.monotonicSeconds()
        let db = settings.database
        let mnt = settings.mountpoint
        func fail(_ path: String, _ reason: String) -> CommandFailure {
            CommandFailure(operation: "mount", path: path, reason: reason)
        }

        if case .failure(let error) = Posix.makeDirectories(db) {
            throw fail(db, "cannot create the database directory: \(error)")
        }
        let logDescriptor: Int32
        switch CommandLogging.start(
            path: settings.logPath, echoToStandardError: readyDescriptor == nil && isatty(2) != 0, level: settings.logLevel)
        {
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
        logger.debug(
            "settings: cache \(settings.cacheMegabytes) MiB, sync interval \(settings.syncIntervalMilliseconds) ms, max file size \(settings.maxFileSize), log level \(settings.logLevel.rawValue), metrics \(settings.metrics?.text ?? "off")")

        let lock: DatabaseLock
        do throws(DatabaseLock.Failure) {
            // With `create`, acquire always returns a lock.
            guard let acquired = try DatabaseLock.acquire(database: db, create: true) else {
                throw DatabaseLock.Failure.system(Errno(ENOENT))
            }
            lock = acquired
        } catch {
            logger.error("\(error.reason(database: db))")
            throw fail(db, error.reason(database: db))
        }
        lock.record([("pid", String(getpid())), ("state", "opening"), ("mountpoint", mnt)])

        // The metrics, bootstrapped before the mount makes its handlers; a bad or busy address
        // fails here, before the database is opened.
        let services: DaemonServices
        do throws(CommandFailure) {
            services = try DaemonServices.prepare(settings: settings, logger: logger, started: started)
        } catch {
            logger.error("\(error.reason)")
            lock.record([("pid", String(getpid())), ("state", "closed")])
            throw error
        }

        let tree: Tree
        do {
            tree = try Tree.open(
                path: db,
                options: Options(cacheBytes: settings.cacheMegabytes << 20, sync: settings.syncMode, createIfMissing: true))
        } catch {
            logger.error("cannot open the database: \(error)")
            services.stop()
            lock.record([("pid", String(getpid())), ("state", "closed")])
            throw fail(db, error.description)
        }

        let deviceBefore = (try? Posix.fileStatus(mnt).get())?.st_dev
        // libfuse and fusermount3 explain a refusal on stderr, which in the daemon is the log.
        let logOffsetBeforeMount = lseek(logDescriptor, 0, SEEK_END)
        let mount: HoltMount
        do {
            // HoltMount adds default_permissions and subtype=holtfs itself; allow_other, dev and
            // suid are the settings' choice (MountSettings.fuseOptions), not HoltMount's; this
            // process handles the termination signals (see blockTerminationSignals).
            let added: Set<String> = ["default_permissions", "subtype=holtfs"]
            mount = try HoltMount(
                tree: tree, mountpoint: mnt,
                options: MountOptions(
                    fuseOptions: settings.fuseOptions.filter { !added.contains($0) },
                    maxFileSize: settings.maxFileSize, installSignalHandlers: false,
                    allowOtherWhenRoot: false, devicesAndSetuidWhenRoot: false))
        } catch {
            logger.error("cannot mount: \(error)")
            services.stop()
            try? tree.close()
            lock.record([("pid", String(getpid())), ("state", "closed")])
            let explanation = readyDescriptor == nil ? [] : Self.foreignLines(of: settings.logPath, from: logOffsetBeforeMount)
            throw fail(mnt, ([error.description] + explanation).joined(separator: ": "))
        }
        // Register before saying `mounted`: whoever sees that state can find the database from MNT.
        if case .failure(let error) = MountRegistry.register(mountpoint: mnt, database: db) {
            logger.warning("cannot register the mount in \(MountRegistry.directory): \(error); holtfs umount will not wait for the close")
        }

        Self.startSignalThread(signals: signals, mount: mount, logger: logger)
        services.start(mount: mount)
        // `state=mounted` is recorded only once the mount answers, so whoever waits for it (the
        // tests, holtfs umount) never races the readiness probe's own stat.
        Self.startReadinessThread(mountpoint: mnt, deviceBefore: deviceBefore, reporter: reporter, logger: logger) {
            lock.record([("pid", String(getpid())), ("state", "mounted"), ("mountpoint", mnt)])
        }

        var serveError: FSError?
        do { try mount.run() } catch { serveError = error }
        let serveFailure = serveError.map { fail(mnt, "the FUSE session failed: \($0)") }
        // A session that failed before it answered is the parent's failure to print.
        let parentTold = serveFailure.map { reporter.reportError($0.description) } ?? false
        reporter.finish()
        services.stop()
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

        if let serveFailure {
            if parentTold { exit(1) }
            throw serveFailure
        }
        if let closeError { throw fail(db, "closing the database failed: \(closeError)") }
    }

    /// The lines of the log from `offset` on that this process's logger did not write (they
    /// carry no ` holtfs[pid]: ` tag): what libfuse or fusermount3 printed on stderr.
    private static func foreignLines(of path: String, from offset: off_t) -> [String] {
        guard offset >= 0, let bytes = Posix.readFile(path), Int(offset) <= bytes.count else { return [] }
        let tag = " holtfs[\(getpid())]: "
        return String(decoding: bytes[Int(offset)...], as: UTF8.self).split(separator: "\n")
            .map { String($0) }
            .filter { !$0.isEmpty && !$0.contains(tag) }
            .suffix(3)
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
    /// (its `st_dev` differs from the directory's before the mount), then runs `onReady` and
    /// reports `ready`.
    private static func startReadinessThread(
        mountpoint: String, deviceBefore: dev_t?, reporter: ReadyReporter, logger: Logger,
        onReady: @escaping @Sendable () -> Void
    ) {
        let thread = Thread {
            let deadline = Posix.monotonicSeconds() + 60
            while Posix.monotonicSeconds() < deadline {
                switch Posix.fileStatus(mountpoint) {
                case .success(let info) where info.st_dev != deviceBefore:
                    if reporter.reportReady(onReady) { logger.info("mounted") }
                    return
                case .success:
                    break
                case .failure(let error):
                    logger.error("the mount point does not answer: \(error)")
                    _ = reporter.reportError(
                        CommandFailure(operation: "mount", path: mountpoint, reason: "the mount does not answer: \(error)").description)
                    return
                }
                Posix.pause(milliseconds: 5)
            }
            logger.error("the mount did not appear within 60 s")
            _ = reporter.reportError(
                CommandFailure(operation: "mount", path: mountpoint, reason: "the mount did not appear within 60 s").description)
        }
        thread.name = "holtfs-ready"
        thread.start()
    }
}

/// Says once whether the mount came up: runs the ready action and writes `ready` on the daemon's
/// pipe, or writes `error <line>`; after `finish()` (serving ended) it says nothing more.
///
/// Shared by the serving thread and the readiness thread: `phase` is a `Mutex`, and the ready
/// action runs under it so that it can never follow `finish()`.
final class ReadyReporter: Sendable {
    /// Where the report stands.
    private enum Phase {
        case pending, reported, finished
    }

    /// The pipe's descriptor, or `nil` when no parent waits (an interactive `-f`).
    private let descriptor: Int32?
    /// Guarded by itself.
    private let phase = Mutex(Phase.pending)

    /// A reporter writing to `descriptor`.
    init(descriptor: Int32?) {
        self.descriptor = descriptor
    }

    /// Runs `action` and writes `ready`, unless something was reported or serving has finished.
    ///
    /// - Returns: Whether it reported.
    func reportReady(_ action: () -> Void) -> Bool {
        let first = phase.withLock { phase -> Bool in
            guard phase == .pending else { return false }
            phase = .reported
            action()
            return true
        }
        if first { write("ready") }
        return first
    }

    /// Writes `error <line>` unless something was reported or serving has finished.
    ///
    /// - Returns: Whether a parent was told (false without a pipe: the caller prints the line).
    func reportError(_ line: String) -> Bool {
        let first = phase.withLock { phase -> Bool in
            guard phase == .pending else { return false }
            phase = .reported
            return true
        }
        guard first, descriptor != nil else { return false }
        write("error " + CommandFailure.oneLine(line))
        return true
    }

    /// Marks serving as ended: later reports do nothing.
    func finish() {
        phase.withLock { phase in
            if phase == .pending { phase = .finished }
        }
    }

    private func write(_ line: String) {
        guard let descriptor else { return }
        Posix.writeAll(descriptor, Array((line + "\n").utf8))
        close(descriptor)
    }
}
