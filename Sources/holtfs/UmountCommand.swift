#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

/// `holtfs umount MNT`: unmounts a holtfs mount and waits until its daemon has closed the database.
struct UmountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "umount",
        abstract: "Unmount a holtfs mount and wait until the database is closed cleanly.",
        discussion: """
            Runs `fusermount3 -u MNT`, then waits until the daemon has checkpointed and closed \
            the database (its lock in DB/holtfs.pid is released and says state=closed). Exits 1 \
            when MNT is not a holtfs mount, when unmounting fails (busy), when the daemon does \
            not finish within --timeout seconds, or when it did not close the database cleanly.
            """)

    @Argument(help: "The mount point.")
    var mountpoint: String

    @Option(help: "How long to wait for the daemon to close the database, in seconds.")
    var timeout: Double = 60

    /// Unmounts and waits.
    func run() throws(CommandFailure) {
        guard !mountpoint.isEmpty else { throw CommandFailure(operation: "umount", path: "''", reason: "empty path") }
        var mnt = Posix.absolute(mountpoint)
        func fail(_ reason: String) -> CommandFailure {
            CommandFailure(operation: "umount", path: mnt, reason: reason)
        }
        guard timeout.isFinite, timeout > 0, timeout < 1e6 else {
            throw fail("--timeout must be a positive number of seconds, not \(timeout)")
        }
        // Resolve symlinks only when the path answers (a dead mount gives ENOTCONN).
        if MountTable.entry(at: mnt) == nil { mnt = Posix.canonical(mnt) }
        guard let entry = MountTable.entry(at: mnt) else { throw fail("not mounted") }
        let registered = MountRegistry.lookup(entry: entry)
        guard entry.type == MountTable.holtfsType || registered != nil else {
            throw fail("not a holtfs mount (it is \(entry.type))")
        }

        let outcome = Self.runUnmounter(mountpoint: mnt)
        guard outcome.status == 0 else {
            let detail = outcome.output.isEmpty ? "exit status \(outcome.status)" : outcome.output
            throw fail("fusermount3 -u failed: \(detail)")
        }

        let deadline = Posix.monotonicSeconds() + timeout
        /// The daemon still has the database open, or (when unregistered) the mount is still there.
        func stillRunning() -> Bool {
            if let registered, DatabaseLock.isHeld(database: registered.database) { return true }
            return MountTable.entry(at: mnt) == entry
        }
        while stillRunning() {
            guard Posix.monotonicSeconds() < deadline else {
                let who = registered.map { "the daemon (pid \($0.pid)) to close \($0.database)" } ?? "the mount to go away"
                throw fail("timed out after \(Int(timeout)) s waiting for \(who)")
            }
            Posix.pause(milliseconds: 10)
        }
        guard let registered else { return }
        let state = DatabaseLock.readInfo(database: registered.database)["state"] ?? "unknown"
        guard state == "closed" else {
            throw fail(
                "unmounted, but the daemon did not close \(registered.database) cleanly (state \(state)); "
                    + "see its log and run holtfs check")
        }
    }

    /// Runs `fusermount3 -u MNT` and collects its exit status and output (stderr and stdout, one line).
    static func runUnmounter(mountpoint: String) -> (status: Int32, output: String) {
        let pipeEnds: [Int32]
        switch Posix.makePipe() {
        case .success(let ends): pipeEnds = [ends.0, ends.1]
        case .failure(let error): return (-1, "pipe: \(error)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        let arguments = ["fusermount3", "-u", mountpoint]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawnp(&child, "fusermount3", &actions, nil, &cArguments, environ)
        close(pipeEnds[1])
        defer { close(pipeEnds[0]) }
        guard result == 0 else { return (-1, "cannot run fusermount3: \(Errno(result))") }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output.append(contentsOf: chunk[0..<count])
        }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let text = CommandFailure.oneLine(String(decoding: output, as: UTF8.self))
        return (exitStatus, text)
    }
}
