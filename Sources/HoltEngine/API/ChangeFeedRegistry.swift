#if canImport(Glibc)
import Glibc
#endif

/// Who still needs the log's records: the registered change-feed consumers (persisted in
/// `<db>/CONSUMERS`) and the feeds open in this process. The lowest position among them is the
/// *floor*: a checkpoint's trim keeps the segments holding records after it, within
/// `Options.changeRetentionBytes` (`WriteAheadLog.trim(through:keepingAfter:retentionBytes:)`).
///
/// `CONSUMERS` (docs/FORMAT.md, "Change-feed consumers") is replaced whole on every change:
/// written to `CONSUMERS.tmp`, `fdatasync`ed, renamed over, the directory fsynced; a crash leaves
/// the old or the new file. So an acknowledgement that returned survives a crash. Failpoints
/// `feed.beforeConsumersRename`, `feed.afterConsumersRename`.
final class ChangeFeedRegistry: Sendable {
    /// The in-memory state.
    struct State {
        /// Registered consumers: name → last acknowledged LSN.
        var consumers: [String: UInt64] = [:]
        /// Open feeds: id → the LSN of the last batch delivered.
        var openFeeds: [Int: UInt64] = [:]
        /// The id the next open feed gets.
        var nextFeedID = 0
    }

    /// The database directory.
    let directory: String
    /// Guarded by its own lock (a leaf: no other lock is taken under it, no I/O).
    private let state: Locked<State>
    /// Serializes rewrites of `CONSUMERS` (held through the file's I/O, never with `state`'s
    /// lock; taken before it).
    private let persisting = Locked(0)

    /// The file's name in the database directory.
    static let fileName = "CONSUMERS"
    /// "HCON" read little-endian.
    static let magic: UInt32 = 0x4E4F_4348
    /// The file's format version.
    static let formatVersion: UInt32 = 1
    /// The longest consumer name, in bytes.
    static let maxNameLength = 255

    private init(directory: String, consumers: [String: UInt64]) {
        self.directory = directory
        state = Locked(State(consumers: consumers))
    }

    /// Reads `<directory>/CONSUMERS` (none: no consumers).
    /// - Throws: `.corrupted(what: "CONSUMERS", ...)`, `.unsupportedFormat`, `.io`.
    static func load(directory: String) throws(HoltError) -> ChangeFeedRegistry {
        let path = directory + "/" + fileName
        guard Syscall.exists(path) else { return ChangeFeedRegistry(directory: directory, consumers: [:]) }
        let fd = try Syscall.open(path, flags: O_RDONLY)
        defer { try? Syscall.close(fd) }
        let bytes = try Syscall.readAll(fd, path)
        return ChangeFeedRegistry(directory: directory, consumers: try decode(bytes))
    }

    /// The file's bytes for `consumers`: magic u32, version u32, count u32, then per consumer
    /// (sorted by name) name length u16, name bytes, LSN u64; then CRC32C u32 of all before.
    static func encode(_ consumers: [String: UInt64]) -> [UInt8] {
        var bytes: [UInt8] = []
        JournalBytes.append(magic, to: &bytes)
        JournalBytes.append(formatVersion, to: &bytes)
        JournalBytes.append(UInt32(consumers.count), to: &bytes)
        for (name, lsn) in consumers.sorted(by: { $0.key < $1.key }) {
            let utf8 = Array(name.utf8)
            JournalBytes.append(UInt16(utf8.count), to: &bytes)
            bytes += utf8
            JournalBytes.append(lsn, to: &bytes)
        }
        JournalBytes.append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Decodes the file's bytes, bounds-checked field by field.
    static func decode(_ bytes: [UInt8]) throws(HoltError) -> [String: UInt64] {
        func bad(_ reason: String) -> HoltError { .corrupted(what: fileName, reason: reason) }
        return try JournalBytes.withBytes(bytes) { (raw) throws(HoltError) -> [String: UInt64] in
            guard raw.count >= 16 else { throw bad("\(raw.count) bytes is too short") }
            let body = raw.count - 4
            guard JournalBytes.load(UInt32.self, raw, body) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<body])) else {
                throw bad("CRC mismatch")
            }
            guard JournalBytes.load(UInt32.self, raw, 0) == magic else { throw bad("bad magic") }
            let version = JournalBytes.load(UInt32.self, raw, 4)
            guard version == formatVersion else { throw .unsupportedFormat(version: version) }
            var consumers: [String: UInt64] = [:]
            var offset = 12
            for _ in 0..<JournalBytes.load(UInt32.self, raw, 8) {
                guard offset + 2 <= body else { throw bad("entry at \(offset) runs past the end") }
                let length = Int(JournalBytes.load(UInt16.self, raw, offset))
                guard offset + 2 + length + 8 <= body else { throw bad("entry at \(offset) runs past the end") }
                let name = String(decoding: raw[(offset + 2)..<(offset + 2 + length)], as: UTF8.self)
                consumers[name] = JournalBytes.load(UInt64.self, raw, offset + 2 + length)
                offset += 2 + length + 8
            }
            guard offset == body else { throw bad("trailing bytes") }
            return consumers
        }
    }

    /// Changes the consumers with `change`, durably: the changed set is written (see the type's
    /// summary) before it takes effect, so a change the disk refused leaves nothing behind.
    private func update(_ change: (inout [String: UInt64]) throws(HoltError) -> Void) throws(HoltError) {
        try persisting.withLock { (_: inout Int) throws(HoltError) in
            // Consumers change only under `persisting`: this copy is the current set.
            var consumers = state.withLock { $0.consumers }
            try change(&consumers)
            try write(consumers)
            state.withLock { $0.consumers = consumers }
        }
    }

    /// Writes `consumers` durably (see the type's summary). Call holding `persisting`.
    private func write(_ consumers: [String: UInt64]) throws(HoltError) {
        let bytes = Self.encode(consumers)
        let path = directory + "/" + Self.fileName
        let temporary = path + ".tmp"
        let fd = try Syscall.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC)
        do throws(HoltError) {
            try Syscall.pwrite(fd, bytes: bytes, offset: 0, temporary)
            try Syscall.fdatasync(fd, temporary)
            try Syscall.close(fd)
        } catch {
            try? Syscall.close(fd)
            throw error
        }
        try Failpoints.hit("feed.beforeConsumersRename")
        try Syscall.rename(temporary, path)
        try Failpoints.hit("feed.afterConsumersRename")
        try Syscall.fsyncDirectory(directory)
    }

    /// Checks a consumer name: 1 to 255 bytes, no NUL.
    static func validate(name: String) throws(HoltError) {
        let count = name.utf8.count
        guard count > 0, count <= maxNameLength, !name.utf8.contains(0) else {
            throw .invalidKey(reason: "a consumer name has 1 to \(maxNameLength) bytes and no NUL")
        }
    }

    /// The lowest position anyone still reads from: `.max` when nobody does.
    var floor: UInt64 {
        state.withLock { state in
            min(state.consumers.values.min() ?? .max, state.openFeeds.values.min() ?? .max)
        }
    }

    /// Every registered consumer and its last acknowledged LSN.
    var consumers: [String: UInt64] { state.withLock { $0.consumers } }

    /// Registers (or moves) consumer `name` at `lsn`, durably.
    func register(_ name: String, at lsn: UInt64) throws(HoltError) {
        try Self.validate(name: name)
        try update { $0[name] = lsn }
    }

    /// Records that `name` has processed every batch through `lsn` (never moves it back), durably.
    /// - Throws: `.noSuchConsumer`, `.io`.
    func acknowledge(_ name: String, through lsn: UInt64) throws(HoltError) {
        try update { (consumers) throws(HoltError) in
            guard let current = consumers[name] else { throw .noSuchConsumer(name: name) }
            consumers[name] = max(current, lsn)
        }
    }

    /// Forgets consumer `name`, durably: the log stops keeping segments for it.
    /// - Throws: `.noSuchConsumer`, `.io`.
    func unregister(_ name: String) throws(HoltError) {
        try update { (consumers) throws(HoltError) in
            guard consumers.removeValue(forKey: name) != nil else { throw .noSuchConsumer(name: name) }
        }
    }

    /// The last acknowledged LSN of `name`.
    /// - Throws: `.noSuchConsumer`.
    func position(of name: String) throws(HoltError) -> UInt64 {
        guard let lsn = state.withLock({ $0.consumers[name] }) else { throw .noSuchConsumer(name: name) }
        return lsn
    }

    /// Notes a feed opened at `lsn`; returns its id.
    func openFeed(at lsn: UInt64) -> Int {
        state.withLock { state in
            let id = state.nextFeedID
            state.nextFeedID += 1
            state.openFeeds[id] = lsn
            return id
        }
    }

    /// Notes that feed `id` delivered every batch through `lsn`.
    func moveFeed(_ id: Int, to lsn: UInt64) {
        state.withLock { state in
            if state.openFeeds[id] != nil { state.openFeeds[id] = lsn }
        }
    }

    /// Notes that feed `id` is closed: it pins nothing any more.
    func closeFeed(_ id: Int) {
        state.withLock { _ = $0.openFeeds.removeValue(forKey: id) }
    }
}
