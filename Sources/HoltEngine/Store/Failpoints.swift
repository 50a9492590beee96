#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Named places before and after durability barriers where a test can make the engine fail.
///
/// A failpoint is named for where it stands (`wal.beforeSync`, `checkpoint.afterBlobWrite`). A
/// test arms it by name with an action; the engine calls `Failpoints.hit(name)` at that place.
/// Compiled only into debug builds (`HOLT_FAILPOINTS`); in release `hit` is empty and inlined away.
/// A child process can also arm one through the environment: `HOLT_FAILPOINT=name=kill` or
/// `name=kill@N` (on the Nth hit) or `name=eio`.
package enum Failpoints {
    /// What an armed failpoint does when it is hit.
    package enum Action: Sendable, Equatable {
        /// Throw `HoltError.io(errno:operation:)` with this errno (EIO, ENOSPC, ...).
        case fail(errno: Int32)
        /// Kill the process at once with SIGKILL, as a power cut would stop it.
        case kill
        /// Stop the thread that hit it until `resume(_:)` is called for the same name (tests
        /// that check what other threads can do meanwhile; `waitUntilBlocked` tells when).
        case block
    }

    #if HOLT_FAILPOINTS
    private struct Armed { var action: Action; var countdown: Int }
    private static let table: Locked<[String: Armed]> = Locked(Failpoints.fromEnvironment())

    private static func fromEnvironment() -> [String: Armed] {
        guard let raw = getenv("HOLT_FAILPOINT") else { return [:] }
        var result: [String: Armed] = [:]
        for spec in String(cString: raw).split(separator: ",") {
            let parts = spec.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let what = parts[1].split(separator: "@")
            let countdown = what.count > 1 ? Int(what[1]) ?? 1 : 1
            let action: Action = what[0] == "kill" ? .kill : .fail(errno: what[0] == "enospc" ? ENOSPC : EIO)
            result[String(parts[0])] = Armed(action: action, countdown: countdown)
        }
        return result
    }
    #endif

    /// Arms failpoint `name`: its `nth` hit from now does `action` (then it disarms itself).
    package static func arm(_ name: String, _ action: Action, onHit nth: Int = 1) {
        #if HOLT_FAILPOINTS
        table.withLock { $0[name] = Armed(action: action, countdown: nth) }
        #endif
    }

    /// Disarms every failpoint.
    package static func disarmAll() {
        #if HOLT_FAILPOINTS
        table.withLock { $0.removeAll() }
        #endif
    }

    /// Marks that the engine reached failpoint `name`; does its action if it is armed and due.
    @inline(__always)
    static func hit(_ name: StaticString) throws(HoltError) {
        #if HOLT_FAILPOINTS
        let key = "\(name)"
        let due: Action? = table.withLock { armed in
            guard var entry = armed[key] else { return nil }
            entry.countdown -= 1
            if entry.countdown > 0 { armed[key] = entry; return nil }
            armed[key] = nil
            return entry.action
        }
        switch due {
        case nil: return
        case .kill: kill(getpid(), SIGKILL); while true { pause() }
        case .fail(let errno): throw .io(errno: errno, operation: "failpoint \(key)")
        case .block:
            blocked.withLock { $0.insert(key) }
            while blocked.withLock({ $0.contains(key) }) { usleep(1_000) }
        }
        #endif
    }

    #if HOLT_FAILPOINTS
    /// The names of `.block` failpoints a thread is stopped at now.
    private static let blocked = Locked<Set<String>>([])
    #endif

    /// Waits until a thread is stopped at the `.block` failpoint `name`; false after `seconds`.
    package static func waitUntilBlocked(_ name: String, seconds: Double = 30) -> Bool {
        #if HOLT_FAILPOINTS
        let deadline = Monitor.monotonicNanoseconds() + UInt64(seconds * 1e9)
        while !blocked.withLock({ $0.contains(name) }) {
            if Monitor.monotonicNanoseconds() > deadline { return false }
            usleep(1_000)
        }
        return true
        #else
        return false
        #endif
    }

    /// Lets the thread stopped at the `.block` failpoint `name` go on.
    package static func resume(_ name: String) {
        #if HOLT_FAILPOINTS
        _ = blocked.withLock { $0.remove(name) }
        #endif
    }
}
