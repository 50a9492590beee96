#if canImport(Glibc)
import Glibc
#endif
import HoltEngine

/// A time `setattr` sets: the request's time, or now (UTIME_NOW).
enum TimeChange: Equatable, Sendable {
    case now
    case set(Int64)
}

/// The attribute changes of one `setattr`; nil fields stay as they are.
struct AttributeChanges: Equatable, Sendable {
    var permissions: UInt32?
    var uid: UInt32?
    var gid: UInt32?
    var size: UInt64?
    var atime: TimeChange?
    var mtime: TimeChange?
    var ctime: Int64?
}

extension Filesystem {
    /// Changes the attributes of node `id`; returns the new ones. The FUSE op is `setattr`.
    ///
    /// The kernel has checked permissions (`default_permissions`). A change of owner or group of a
    /// non-directory clears setuid and (with group execute) setgid unless the same call sets the
    /// mode; a size change by a non-root caller clears them too. ctime always becomes now.
    ///
    /// A truncate to a smaller size commits the size first; the chunks past the end it leaves are
    /// deleted next, in bounded batches (see `resize`).
    ///
    /// - Throws: `.fileTooLarge`, `.isDirectory` (size of a directory), `.invalidArgument`,
    ///   `.notFound`, `.engine`.
    func setattr(_ id: NodeID, _ changes: AttributeChanges, caller: Caller) throws(FSError) -> Attributes {
        let (attributes, stale) = try commitAttributes(id, changes, caller: caller)
        if let stale { try deleteStaleChunks(stale) }
        if changes.size == 0 { try sweepGarbage() }
        return attributes
    }

    /// The batch of `setattr`: applies `changes` to node `id` in one committed batch; returns the
    /// new attributes and the stale chunks a truncate left past the new end, which `setattr`
    /// deletes next (a crash in between leaves them, harmless).
    ///
    /// - Throws: as `setattr`.
    func commitAttributes(
        _ id: NodeID, _ changes: AttributeChanges, caller: Caller
    ) throws(FSError) -> (attributes: Attributes, stale: StaleChunks?) {
        try transactGrowing { () throws(FSError) -> (Batch, GrowOutcome<(attributes: Attributes, stale: StaleChunks?)>) in
            let resolved = try resolve(id)
            let now = Self.now()
            var batch = Batch()
            var (key, record) = try materialize(resolved, now: now, into: &batch)
            if let permissions = changes.permissions {
                record.mode = permissions & 0o7777
            }
            if changes.uid != nil || changes.gid != nil {
                if let uid = changes.uid { record.uid = uid }
                if let gid = changes.gid { record.gid = gid }
                if record.kind != .directory, changes.permissions == nil { Self.killPrivileges(&record) }
            }
            var stale: StaleChunks? = nil
            if let size = changes.size {
                guard record.kind == .regular else { throw record.kind == .directory ? .isDirectory : .invalidArgument }
                switch try resize(&record, at: key, to: size, into: &batch) {
                case .blocked(let blocking): return (Batch(), .blocked(blocking))
                case .done(let left): stale = left
                }
                record.mtime = now
                if caller.uid != 0, changes.permissions == nil { Self.killPrivileges(&record) }
            }
            switch changes.atime {
            case .now: record.atime = now
            case .set(let time): record.atime = time
            case nil: break
            }
            switch changes.mtime {
            case .now: record.mtime = now
            case .set(let time): record.mtime = time
            case nil: break
            }
            record.ctime = changes.ctime ?? now
            batch.put(key, record.encoded())
            return (batch, .done((Attributes(record: record), stale)))
        }
    }

    /// Makes every change so far durable, whatever the sync mode. The FUSE ops are `fsync` and `fsyncdir`.
    func sync() throws(FSError) {
        do { try tree.sync() } catch { throw .engine(error) }
    }
}
