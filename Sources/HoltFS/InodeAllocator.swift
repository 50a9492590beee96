import HoltEngine
import Synchronization

/// Hands out inode numbers that are unique for the life of the database.
///
/// The superblock (`/s`) holds the first number never reserved. The allocator reserves a block of
/// `blockSize` numbers by moving that counter in one batch of its own, durable before any number of
/// the block is used; numbers of a block left unused at a crash are skipped, never reused.
///
/// Locking: `state` is held across the engine call that reserves a block (taken before any other
/// lock, see `Filesystem`).
final class InodeAllocator: Sendable {
    /// How many numbers one reservation takes.
    static let blockSize: UInt64 = 1024

    private struct State {
        var next: UInt64 = 0
        var limit: UInt64 = 0
    }

    private let tree: Tree
    private let state = Locked(State())

    init(tree: Tree) {
        self.tree = tree
    }

    /// A fresh inode number.
    ///
    /// - Throws: `.engine` when the reservation cannot be written; `.corruptRecord` when the
    ///   superblock is not one.
    func allocate() throws(FSError) -> UInt64 {
        try state.withLock { (state) throws(FSError) -> UInt64 in
            if state.next == state.limit {
                let (start, limit) = try reserve()
                state.next = start
                state.limit = limit
            }
            defer { state.next += 1 }
            return state.next
        }
    }

    /// How many inode numbers were handed out over the database's life, the root's included (what
    /// `statfs` reports as used inodes: numbers are never reused, so this never falls). Free of
    /// engine calls once this mount allocated; before that, one read of the superblock, whose
    /// counter also covers the unused rest of the last block reserved.
    ///
    /// - Throws: `.engine` when the superblock cannot be read.
    func handedOut() throws(FSError) -> UInt64 {
        let next = state.withLock { $0.next }
        if next != 0 { return next - Superblock.firstIno + 1 }
        let stored: [UInt8]?
        do { stored = try tree.get(ReservedKeys.superblock) } catch { throw .engine(error) }
        let counter = stored.flatMap(Superblock.decode)?.nextIno ?? Superblock.firstIno
        return max(counter, Superblock.firstIno) - Superblock.firstIno + 1
    }

    /// Moves the superblock's counter by one block (keeping its other fields); returns the block.
    /// Tries again when the superblock changed between its read and the batch (the longest-key
    /// bound is raised by other batches).
    private func reserve() throws(FSError) -> (UInt64, UInt64) {
        for _ in 0..<Filesystem.maxAttempts {
            do {
                let old = try tree.get(ReservedKeys.superblock)
                var superblock = Superblock(nextIno: Superblock.firstIno)
                if let old {
                    guard let decoded = Superblock.decode(old) else {
                        throw FSError.corruptRecord(key: ReservedKeys.superblock, reason: "not a superblock")
                    }
                    superblock = decoded
                }
                let start = superblock.nextIno
                superblock.nextIno = start + Self.blockSize
                try tree.apply([
                    .expect(key: ReservedKeys.superblock, old.map { .value($0) } ?? .absent),
                    .put(key: ReservedKeys.superblock, value: superblock.encoded()),
                ])
                return (start, superblock.nextIno)
            } catch let error as FSError {
                throw error
            } catch HoltError.conditionFailed {
                continue
            } catch let error as HoltError {
                throw .engine(error)
            } catch {
                throw .busy
            }
        }
        throw .busy
    }
}
