import HoltEngine
import Synchronization

/// The handles of open files and directories, by the number FUSE carries in `fh`.
///
/// A file handle remembers its node and ino (so data ops on an unlinked open file still find its
/// orphan record); a directory handle holds the resume state of a streamed listing.
/// Locking: a leaf `Locked`.
final class HandleTable: Sendable {
    /// An open file.
    struct FileHandle: Sendable {
        var node: NodeID
        var ino: UInt64
    }

    private struct State {
        var files: [UInt64: FileHandle] = [:]
        var directories: [UInt64: DirectoryCursor] = [:]
        var next: UInt64 = 1
    }

    private let state = Locked(State())

    /// Registers an open file; returns its handle number.
    func openFile(_ handle: FileHandle) -> UInt64 {
        state.withLock { state in
            let number = state.next
            state.next += 1
            state.files[number] = handle
            return number
        }
    }

    /// The open file `number`, or nil.
    func file(_ number: UInt64) -> FileHandle? { state.withLock { $0.files[number] } }

    /// Forgets open file `number`; returns it.
    func closeFile(_ number: UInt64) -> FileHandle? { state.withLock { $0.files.removeValue(forKey: number) } }

    /// Registers an open directory; returns its handle number.
    func openDirectory(_ cursor: DirectoryCursor) -> UInt64 {
        state.withLock { state in
            let number = state.next
            state.next += 1
            state.directories[number] = cursor
            return number
        }
    }

    /// The open directory `number`, or nil.
    func directory(_ number: UInt64) -> DirectoryCursor? { state.withLock { $0.directories[number] } }

    /// Forgets open directory `number`.
    func closeDirectory(_ number: UInt64) { _ = state.withLock { $0.directories.removeValue(forKey: number) } }

    /// How many file and directory handles are open (`holtfs stats`).
    var counts: (files: Int, directories: Int) { state.withLock { ($0.files.count, $0.directories.count) } }
}
