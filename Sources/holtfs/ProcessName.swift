#if canImport(Glibc)
import Glibc
#endif

/// The name `ps -o comm`, `top` and `pgrep` show for this process.
///
/// The kernel names a process after the file it executed: the mount daemon, started through
/// `/proc/self/exe` (see `MountDaemon`), would be `exe`. The process's name is its main thread's
/// (`/proc/self/comm`, what `prctl(PR_SET_NAME)` sets there; `prctl` and `pthread_setname_np` are
/// not visible from Swift), and threads start with the name of the thread that created them.
enum ProcessName {
    /// Names the process `name` (cut to the kernel's 15 bytes). Called before other threads
    /// start, it names every thread started later too.
    ///
    /// - Returns: Whether the kernel took the name.
    @discardableResult
    static func set(_ name: String) -> Bool {
        let fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Posix.writeAll(fd, Array(name.utf8.prefix(15)))
    }
}
