#if canImport(Glibc)
import HoltEngine
import Glibc
#endif
@preconcurrency import CFuse
import Synchronization

/// The only file that sees CFuse: libfuse's low-level callbacks, each turning one request into
/// one `Filesystem` call and exactly one reply.
///
/// The bridge crosses into C once: `HoltMount` passes `Unmanaged.passRetained(bridge)` as the
/// session's userdata; `destroy` (or `HoltMount` when the session never started) releases it.
/// Callbacks run on libfuse's worker threads, synchronously; they never wait on a Swift task.
///
/// Kernel caching: entries are cached for `entryTimeout` seconds (holtfs is the only writer and
/// the kernel sees every change it makes), attributes for `attributeTimeout`, and not at all for
/// files with several names, whose nlink and ctime change through other node ids.
final class FuseBridge: Sendable {
    let filesystem: Filesystem
    /// Released exactly once, by `destroy` or by the mount's cleanup.
    let released = Locked(false)
    /// Every request, counted and timed per operation (`HoltMount.statistics()`).
    let requests: RequestStatistics
    /// The sampled metrics, when a swift-metrics backend was bootstrapped before the mount.
    let gauges: MountGauges?

    init(filesystem: Filesystem) {
        self.filesystem = filesystem
        requests = RequestStatistics(metrics: RequestMetrics.makeIfBootstrapped())
        gauges = MountGauges.makeIfBootstrapped()
    }

    /// The low-level operation table.
    static func operations() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let conn else { return }
            let capable = conn.pointee.capable
            if capable & UInt32(FUSE_CAP_READDIRPLUS) != 0 { conn.pointee.want |= UInt32(FUSE_CAP_READDIRPLUS) }
            // A symlink's target never changes (only a new symlink replaces it): the kernel may keep it.
            if capable & UInt32(FUSE_CAP_CACHE_SYMLINKS) != 0 { conn.pointee.want |= UInt32(FUSE_CAP_CACHE_SYMLINKS) }
            // The kernel sends a setattr for O_TRUNC and for clearing suid/sgid: one code path.
            conn.pointee.want &= ~UInt32(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV)
            conn.pointee.want &= ~UInt32(FUSE_CAP_WRITEBACK_CACHE)
            _ = userdata
        }
        ops.destroy = { userdata in
            guard let userdata else { return }
            let bridge = Unmanaged<FuseBridge>.fromOpaque(userdata).takeUnretainedValue()
            bridge.releaseOnce(userdata)
        }
        ops.lookup = { req, parent, name in
            guard let req, let name else { return }
            let bridge = bridge(req)
            let timing = RequestTiming(bridge.requests, .lookup)
            do throws(FSError) {
                let entry = try bridge.filesystem.lookup(NodeID(rawValue: parent), bytes(name))
                replyEntry(req, entry)
                timing.finish()
            } catch .notFound {
                var param = fuse_entry_param()
                param.entry_timeout = entryTimeout
                fuse_reply_entry(req, &param)
                timing.finish()
            } catch {
                fuse_reply_err(req, error.errno)
                timing.finish(failed: true)
            }
        }
        ops.forget = { req, node, count in
            guard let req else { return }
            let timing = RequestTiming(bridge(req).requests, .forget)
            bridge(req).filesystem.forget(NodeID(rawValue: node), count: count)
            fuse_reply_none(req)
            timing.finish()
        }
        ops.forget_multi = { req, count, forgets in
            guard let req else { return }
            let filesystem = bridge(req).filesystem
            let timing = RequestTiming(bridge(req).requests, .batch_forget)
            if let forgets {
                filesystem.forget((0..<count).map { (id: NodeID(rawValue: forgets[$0].ino), count: forgets[$0].nlookup) })
            }
            fuse_reply_none(req)
            timing.finish()
        }
        ops.getattr = { req, node, _ in
            guard let req else { return }
            reply(req, .getattr) { () throws(FSError) in
                let attributes = try bridge(req).filesystem.getattr(NodeID(rawValue: node))
                var st = stat(attributes)
                fuse_reply_attr(req, &st, timeout(for: attributes))
            }
        }
        ops.setattr = { req, node, attr, toSet, _ in
            guard let req, let attr else { return }
            let set = toSet
            var changes = AttributeChanges()
            if set & FUSE_SET_ATTR_MODE != 0 { changes.permissions = UInt32(attr.pointee.st_mode) & 0o7777 }
            if set & FUSE_SET_ATTR_UID != 0 { changes.uid = attr.pointee.st_uid }
            if set & FUSE_SET_ATTR_GID != 0 { changes.gid = attr.pointee.st_gid }
            if set & FUSE_SET_ATTR_SIZE != 0 { changes.size = UInt64(max(0, attr.pointee.st_size)) }
            if set & FUSE_SET_ATTR_ATIME_NOW != 0 {
                changes.atime = .now
            } else if set & FUSE_SET_ATTR_ATIME != 0 {
                changes.atime = .set(nanoseconds(attr.pointee.st_atim))
            }
            if set & FUSE_SET_ATTR_MTIME_NOW != 0 {
                changes.mtime = .now
            } else if set & FUSE_SET_ATTR_MTIME != 0 {
                changes.mtime = .set(nanoseconds(attr.pointee.st_mtim))
            }
            if set & FUSE_SET_ATTR_CTIME != 0 { changes.ctime = nanoseconds(attr.pointee.st_ctim) }
            reply(req, .setattr) { () throws(FSError) in
                let attributes = try bridge(req).filesystem.setattr(NodeID(rawValue: node), changes, caller: caller(req))
                var st = stat(attributes)
                fuse_reply_attr(req, &st, timeout(for: attributes))
            }
        }
        ops.readlink = { req, node in
            guard let req else { return }
            reply(req, .readlink) { () throws(FSError) in
                let target = try bridge(req).filesystem.readlink(NodeID(rawValue: node))
                _ = (target + [0]).withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { fuse_reply_readlink(req, $0.baseAddress) }
                }
            }
        }
        ops.mknod = { req, parent, name, mode, rdev in
            guard let req, let name else { return }
            reply(req, .mknod) { () throws(FSError) in
                guard let kind = Attributes.kind(ofMode: UInt32(mode)), kind != .directory else { throw .invalidArgument }
                let entry = try bridge(req).filesystem.make(
                    NodeID(rawValue: parent), bytes(name), kind: kind, permissions: UInt32(mode), rdev: UInt64(rdev),
                    caller: caller(req))
                replyEntry(req, entry)
            }
        }
        ops.mkdir = { req, parent, name, mode in
            guard let req, let name else { return }
            reply(req, .mkdir) { () throws(FSError) in
                let entry = try bridge(req).filesystem.make(
                    NodeID(rawValue: parent), bytes(name), kind: .directory, permissions: UInt32(mode), caller: caller(req))
                replyEntry(req, entry)
            }
        }
        ops.symlink = { req, target, parent, name in
            guard let req, let target, let name else { return }
            reply(req, .symlink) { () throws(FSError) in
                let entry = try bridge(req).filesystem.make(
                    NodeID(rawValue: parent), bytes(name), kind: .symlink, permissions: 0o777, target: bytes(target),
                    caller: caller(req))
                replyEntry(req, entry)
            }
        }
        ops.unlink = { req, parent, name in
            guard let req, let name else { return }
            reply(req, .unlink) { () throws(FSError) in
                try bridge(req).filesystem.unlink(NodeID(rawValue: parent), bytes(name))
                fuse_reply_err(req, 0)
            }
        }
        ops.rmdir = { req, parent, name in
            guard let req, let name else { return }
            reply(req, .rmdir) { () throws(FSError) in
                try bridge(req).filesystem.rmdir(NodeID(rawValue: parent), bytes(name))
                fuse_reply_err(req, 0)
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            guard let req, let name, let newName else { return }
            reply(req, .rename) { () throws(FSError) in
                var renameFlags = RenameFlags()
                if flags & cfuse_rename_noreplace != 0 { renameFlags.insert(.noReplace) }
                if flags & cfuse_rename_exchange != 0 { renameFlags.insert(.exchange) }
                if flags & ~(cfuse_rename_noreplace | cfuse_rename_exchange) != 0 { throw .invalidArgument }
                try bridge(req).filesystem.rename(
                    NodeID(rawValue: parent), bytes(name), to: NodeID(rawValue: newParent), bytes(newName),
                    flags: renameFlags)
                fuse_reply_err(req, 0)
            }
        }
        ops.link = { req, node, newParent, newName in
            guard let req, let newName else { return }
            reply(req, .link) { () throws(FSError) in
                let entry = try bridge(req).filesystem.link(
                    NodeID(rawValue: node), to: NodeID(rawValue: newParent), as: bytes(newName))
                replyEntry(req, entry)
            }
        }
        ops.open = { req, node, info in
            guard let req, let info else { return }
            reply(req, .open) { () throws(FSError) in
                let writable = info.pointee.flags & O_ACCMODE != O_RDONLY
                info.pointee.fh = try bridge(req).filesystem.open(NodeID(rawValue: node), writable: writable)
                // Every write goes through this daemon, so pages the kernel cached stay true.
                info.pointee.keep_cache = 1
                fuse_reply_open(req, info)
            }
        }
        ops.create = { req, parent, name, mode, info in
            guard let req, let name, let info else { return }
            reply(req, .create) { () throws(FSError) in
                let filesystem = bridge(req).filesystem
                guard let kind = Attributes.kind(ofMode: UInt32(mode)), kind == .regular else { throw .invalidArgument }
                let entry = try filesystem.make(
                    NodeID(rawValue: parent), bytes(name), kind: kind, permissions: UInt32(mode), caller: caller(req))
                info.pointee.fh = filesystem.openCreated(entry.node, ino: entry.attributes.ino)
                var param = entryParam(entry)
                if fuse_reply_create(req, &param, info) != 0 {
                    // The kernel did not take the entry (the caller was interrupted): undo both.
                    filesystem.forget(entry.node, count: 1)
                    try? filesystem.release(info.pointee.fh)
                }
            }
        }
        ops.read = { req, node, size, offset, _ in
            guard let req else { return }
            reply(req, .read) { () throws(FSError) in
                guard offset >= 0 else { throw .invalidArgument }
                let data = try bridge(req).filesystem.read(NodeID(rawValue: node), offset: UInt64(offset), size: size)
                _ = data.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
            }
        }
        ops.write = { req, node, buffer, size, offset, _ in
            guard let req else { return }
            reply(req, .write) { () throws(FSError) in
                guard offset >= 0 else { throw .invalidArgument }
                let data = buffer.map { pointer in
                    [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: size))
                } ?? []
                let written = try bridge(req).filesystem.write(
                    NodeID(rawValue: node), offset: UInt64(offset), data: data, caller: caller(req))
                fuse_reply_write(req, written)
            }
        }
        // No flush: every write is in the engine when it is answered, and holtfs keeps no POSIX
        // locks, so a close has nothing to do. libfuse answers FLUSH with ENOSYS, after which the
        // kernel stops sending it (`no_flush`): one round trip less per close(2).
        ops.release = { req, _, info in
            guard let req else { return }
            let timing = RequestTiming(bridge(req).requests, .release)
            if let info { try? bridge(req).filesystem.release(info.pointee.fh) }
            fuse_reply_err(req, 0)
            timing.finish()
        }
        ops.fsync = { req, _, _, _ in
            // Under --sync always every change was durable when it was answered; under periodic
            // or none, fsync is the caller asking for it now: one log flush.
            guard let req else { return }
            reply(req, .fsync) { () throws(FSError) in
                try bridge(req).filesystem.sync()
                fuse_reply_err(req, 0)
            }
        }
        ops.opendir = { req, node, info in
            guard let req, let info else { return }
            reply(req, .opendir) { () throws(FSError) in
                info.pointee.fh = try bridge(req).filesystem.opendir(NodeID(rawValue: node))
                // No cache_readdir: the kernel would resume one handle's listing with another
                // handle's cookies, and cookies belong to the handle that gave them.
                fuse_reply_open(req, info)
            }
        }
        ops.readdir = { req, node, size, offset, info in
            guard let req, let info else { return }
            readdir(req, node: node, size: size, offset: offset, handle: info.pointee.fh, plus: false)
        }
        ops.readdirplus = { req, node, size, offset, info in
            guard let req, let info else { return }
            readdir(req, node: node, size: size, offset: offset, handle: info.pointee.fh, plus: true)
        }
        ops.releasedir = { req, _, info in
            guard let req else { return }
            let timing = RequestTiming(bridge(req).requests, .releasedir)
            if let info { bridge(req).filesystem.releasedir(info.pointee.fh) }
            fuse_reply_err(req, 0)
            timing.finish()
        }
        ops.fsyncdir = { req, _, _, _ in
            guard let req else { return }
            reply(req, .fsyncdir) { () throws(FSError) in
                try bridge(req).filesystem.sync()
                fuse_reply_err(req, 0)
            }
        }
        ops.statfs = { req, _ in
            guard let req else { return }
            let timing = RequestTiming(bridge(req).requests, .statfs)
            defer { timing.finish() }
            let statistics = bridge(req).filesystem.statfs()
            var out = statvfs()
            out.f_bsize = UInt(statistics.blockSize)
            out.f_frsize = UInt(statistics.blockSize)
            out.f_blocks = fsblkcnt_t(statistics.blocks)
            out.f_bfree = fsblkcnt_t(statistics.freeBlocks)
            out.f_bavail = fsblkcnt_t(statistics.availableBlocks)
            out.f_files = fsfilcnt_t(statistics.files)
            out.f_ffree = fsfilcnt_t(statistics.freeFiles)
            out.f_favail = fsfilcnt_t(statistics.freeFiles)
            out.f_namemax = UInt(statistics.nameLength)
            fuse_reply_statfs(req, &out)
        }
        ops.setxattr = { req, node, name, value, size, flags in
            guard let req, let name else { return }
            reply(req, .setxattr) { () throws(FSError) in
                let mode: XattrMode =
                    flags & cfuse_xattr_create != 0 ? .create : flags & cfuse_xattr_replace != 0 ? .replace : .either
                let data = value.map { [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer($0), count: size)) } ?? []
                try bridge(req).filesystem.setxattr(NodeID(rawValue: node), name: bytes(name), value: data, mode: mode)
                fuse_reply_err(req, 0)
            }
        }
        ops.getxattr = { req, node, name, size in
            guard let req, let name else { return }
            reply(req, .getxattr) { () throws(FSError) in
                let value = try bridge(req).filesystem.getxattr(NodeID(rawValue: node), name: bytes(name))
                try replySized(req, value, size: size)
            }
        }
        ops.listxattr = { req, node, size in
            guard let req else { return }
            reply(req, .listxattr) { () throws(FSError) in
                let names = try bridge(req).filesystem.listxattr(NodeID(rawValue: node))
                try replySized(req, names, size: size)
            }
        }
        ops.removexattr = { req, node, name in
            guard let req, let name else { return }
            reply(req, .removexattr) { () throws(FSError) in
                try bridge(req).filesystem.removexattr(NodeID(rawValue: node), name: bytes(name))
                fuse_reply_err(req, 0)
            }
        }
        ops.access = { req, _, _ in
            // default_permissions: the kernel checks modes itself.
            guard let req else { return }
            let timing = RequestTiming(bridge(req).requests, .access)
            fuse_reply_err(req, 0)
            timing.finish()
        }
        return ops
    }

    /// Releases the retained bridge behind `userdata`, once.
    func releaseOnce(_ userdata: UnsafeMutableRawPointer) {
        let first = released.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        if first { Unmanaged<FuseBridge>.fromOpaque(userdata).release() }
    }
}

// MARK: Helpers (free functions, so the C callbacks capture nothing)

/// Seconds the kernel may keep a name (and a negative lookup).
private let entryTimeout = 60.0
/// Seconds the kernel may keep attributes.
private let attributeTimeout = 1.0

/// The bridge a request belongs to.
private func bridge(_ req: fuse_req_t) -> FuseBridge {
    Unmanaged<FuseBridge>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
}

/// Runs `body`, which replies on success; answers its error otherwise. Counts the request as
/// `operation` (taking what it needs from `req` before the reply frees it).
private func reply(_ req: fuse_req_t, _ operation: FuseOperation, _ body: () throws(FSError) -> Void) {
    let timing = RequestTiming(bridge(req).requests, operation)
    do throws(FSError) {
        try body()
        timing.finish()
    } catch {
        fuse_reply_err(req, error.errno)
        timing.finish(failed: true)
    }
}

/// The credentials of the request's caller.
private func caller(_ req: fuse_req_t) -> Caller {
    guard let context = fuse_req_ctx(req) else { return .root }
    return Caller(uid: context.pointee.uid, gid: context.pointee.gid, pid: context.pointee.pid)
}

/// The bytes of a C string.
private func bytes(_ string: UnsafePointer<CChar>) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafeRawPointer(string).assumingMemoryBound(to: UInt8.self), count: strlen(string)))
}

/// Nanoseconds of a timespec.
private func nanoseconds(_ spec: timespec) -> Int64 {
    Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// A timespec of nanoseconds.
private func timespecOf(_ nanoseconds: Int64) -> timespec {
    let seconds = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
    return timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds - seconds * 1_000_000_000))
}

/// The `struct stat` of attributes.
private func stat(_ attributes: Attributes) -> stat {
    var st = Glibc.stat()
    st.st_ino = UInt(attributes.ino)
    st.st_mode = attributes.mode
    st.st_nlink = UInt(attributes.nlink)
    st.st_uid = attributes.uid
    st.st_gid = attributes.gid
    st.st_rdev = UInt(attributes.rdev)
    st.st_size = Int(clamping: attributes.size)
    st.st_blksize = 4096
    st.st_blocks = Int(clamping: attributes.blocks)
    st.st_atim = timespecOf(attributes.atime)
    st.st_mtim = timespecOf(attributes.mtime)
    st.st_ctim = timespecOf(attributes.ctime)
    return st
}

/// How long the kernel may keep `attributes`.
private func timeout(for attributes: Attributes) -> Double {
    attributes.nlink > 1 && attributes.kind != .directory ? 0 : attributeTimeout
}

/// The entry parameter of a looked-up node.
private func entryParam(_ entry: Entry) -> fuse_entry_param {
    var param = fuse_entry_param()
    param.ino = entry.node.rawValue
    param.generation = 0
    param.attr = stat(entry.attributes)
    param.attr_timeout = timeout(for: entry.attributes)
    param.entry_timeout = entryTimeout
    return param
}

/// Replies with an entry; when the kernel does not take it, the lookup is forgotten again.
private func replyEntry(_ req: fuse_req_t, _ entry: Entry) {
    var param = entryParam(entry)
    if fuse_reply_entry(req, &param) != 0 { bridge(req).filesystem.forget(entry.node, count: 1) }
}

/// The getxattr/listxattr answer: the size when `size` is 0, ERANGE when too small, else the bytes.
private func replySized(_ req: fuse_req_t, _ value: [UInt8], size: Int) throws(FSError) {
    if size == 0 {
        fuse_reply_xattr(req, value.count)
    } else if value.count > size {
        throw .bufferTooSmall
    } else {
        _ = value.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
    }
}

/// Fills one readdir or readdirplus reply of at most `size` bytes.
private func readdir(_ req: fuse_req_t, node: fuse_ino_t, size: Int, offset: off_t, handle: UInt64, plus: Bool) {
    let filesystem = bridge(req).filesystem
    let timing = RequestTiming(bridge(req).requests, plus ? .readdirplus : .readdir)
    var buffer = [CChar](repeating: 0, count: size)
    var used = 0
    // One NUL-terminated copy of the current name, reused for every entry of the reply.
    var name = [UInt8](repeating: 0, count: 512)
    do throws(FSError) {
        try buffer.withUnsafeMutableBufferPointer { raw throws(FSError) in
            // A readdirplus entry takes about 160 bytes, a readdir entry about 32.
            let expected = size / (plus ? 160 : 32) + 1
            try filesystem.readdir(handle, offset: UInt64(max(0, offset)), expected: expected, fullAttributes: plus) { entry in
                guard entry.name.count < name.count else { return false }
                name.replaceSubrange(0..<entry.name.count, with: entry.name)
                name[entry.name.count] = 0
                return name.withUnsafeBufferPointer { nameBuffer -> Bool in
                    let cName = UnsafeRawPointer(nameBuffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                    let remaining = size - used
                    if plus {
                        var param = fuse_entry_param()
                        let needed = fuse_add_direntry_plus(req, nil, 0, cName, &param, off_t(entry.offset))
                        guard needed <= remaining else { return false }
                        param.attr = stat(entry.attributes)
                        if entry.offset > 2, !entry.stale {
                            param.ino = filesystem.remember(
                                parent: NodeID(rawValue: node), name: entry.name, ino: entry.attributes.ino, shared: entry.shared
                            ).rawValue
                            param.attr_timeout = timeout(for: entry.attributes)
                            param.entry_timeout = entryTimeout
                        }
                        used += fuse_add_direntry_plus(req, raw.baseAddress! + used, remaining, cName, &param, off_t(entry.offset))
                    } else {
                        var st = Glibc.stat()
                        st.st_ino = UInt(entry.attributes.ino)
                        st.st_mode = entry.attributes.mode
                        let needed = fuse_add_direntry(req, nil, 0, cName, &st, off_t(entry.offset))
                        guard needed <= remaining else { return false }
                        used += fuse_add_direntry(req, raw.baseAddress! + used, remaining, cName, &st, off_t(entry.offset))
                    }
                    return true
                }
            }
        }
    } catch {
        if used == 0 {
            fuse_reply_err(req, error.errno)
            timing.finish(failed: true)
            return
        }
    }
    _ = buffer.withUnsafeBufferPointer { fuse_reply_buf(req, $0.baseAddress, used) }
    timing.finish()
}
