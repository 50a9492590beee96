import HoltEngine

/// Turns the engine's change feed (`ChangeBatch`es of a HoltFS database) into namespace events
/// (`NamespaceEvent`), using HoltFS's key layout (`ReservedKeys`, `InodeRecord`).
///
/// What a batch of HoltFS looks like, and what it becomes:
/// - a `rename` or `renamePrefix` of path keys: `rename` (an exchange parks one side under
///   `/t/<n>` in the same batch: two renames);
/// - a `delete` of a path key: `remove`;
/// - a `put` of a path key whose parent directory's record is put in the same batch: the name is
///   new (create, mkdir, symlink, mknod and link all rewrite the parent's times): `create`,
///   `mkdir`, `symlink` or `link`, by the record's kind (a link batch also turns the old name
///   into a link record: the new name is the last link record it puts);
/// - any other `put` of a path key: `write` when the batch also writes the inode's data chunks
///   or the content or size differ from the record seen last, `xattr` when the xattrs differ,
///   else `setattr`;
/// - a put of a parent's record that comes with one of the above is that event's bookkeeping;
///   reserved keys (superblock, data chunks, garbage, orphans, big xattr parts) show nothing,
///   except `/i/<ino>` (the record of a file with several names): an event without a path.
///
/// Stateful but bounded: it remembers the last record it saw at up to `rememberedRecords` path
/// keys, to tell a write from a `setattr` and to name the ino of a removed or renamed name. A
/// translator that starts mid-history knows nothing yet and says `setattr` for an inline write
/// it cannot tell apart. Not thread-safe: one per feed.
public struct NamespaceTranslator {
    /// The last record seen per path key (at most `rememberedRecords`; forgotten all at once past that).
    private var records: [[UInt8]: InodeRecord] = [:]
    /// How many records it remembers.
    public static let rememberedRecords = 65_536

    /// A translator that has seen nothing.
    public init() {}

    /// The events of one batch, in the batch's order.
    public mutating func events(for batch: ChangeBatch) -> [NamespaceEvent] {
        let lsn = batch.lsn.rawValue
        var events: [NamespaceEvent] = []
        // Path keys put by the batch, first put first, with their last value.
        var putOrder: [[UInt8]] = []
        var putValues: [[UInt8]: [UInt8]] = [:]
        // Keys some other change of the batch has as its parent: their puts are bookkeeping.
        var parentsOfChanges: Set<[UInt8]> = []
        var renameTargets: Set<[UInt8]> = []
        var chunkInos: Set<UInt64> = []
        var sharedRecords: [(ino: UInt64, value: [UInt8])] = []
        var parked: [[UInt8]: [UInt8]] = [:]
        var madeLinks = false

        for op in batch.ops {
            switch op {
            case .put(let key, let value):
                if ReservedKeys.isReserved(key) {
                    if key.starts(with: ReservedKeys.dataRoot), let ino = ReservedKeys.ino(after: 3, in: key) { chunkInos.insert(ino) }
                    if key.starts(with: ReservedKeys.inodePrefix), let ino = ReservedKeys.ino(after: 3, in: key) {
                        sharedRecords.append((ino, value))
                    }
                    continue
                }
                if putValues[key] == nil { putOrder.append(key) }
                putValues[key] = value
                if let parent = Self.parent(of: key) { parentsOfChanges.insert(parent) }
            case .delete(let key):
                if ReservedKeys.isReserved(key) {
                    if key.starts(with: ReservedKeys.dataRoot), let ino = ReservedKeys.ino(after: 3, in: key) { chunkInos.insert(ino) }
                    continue
                }
                let known = records.removeValue(forKey: key)
                events.append(NamespaceEvent(lsn: lsn, operation: .remove, path: Self.path(key), kind: known.map(Self.kindName), ino: known?.ino))
                if let parent = Self.parent(of: key) { parentsOfChanges.insert(parent) }
            case .rename(let from, let to), .renamePrefix(let from, let to):
                let isPrefix = if case .renamePrefix = op { true } else { false }
                // An exchange: one side parked at a temporary key, then moved to its new place.
                if to.starts(with: Array("/t/".utf8)) { parked[to] = from; continue }
                let source = parked.removeValue(forKey: from) ?? from
                guard !ReservedKeys.isReserved(source), !ReservedKeys.isReserved(to) else { continue }
                let known = records[source]
                moveRemembered(from: source, to: to, prefix: isPrefix)
                events.append(NamespaceEvent(
                    lsn: lsn, operation: .rename, path: Self.path(to), from: Self.path(source),
                    kind: known.map(Self.kindName) ?? (isPrefix ? "dir" : nil), ino: known?.ino))
                renameTargets.insert(to)
                for key in [source, to] { if let parent = Self.parent(of: key) { parentsOfChanges.insert(parent) } }
            case .expect:
                continue
            }
        }

        // A link batch puts link records at the old name (the first extra name only) and then
        // at the new one: the new name is the last.
        var newLink: [UInt8]?
        for case .put(let key, let value) in batch.ops where !ReservedKeys.isReserved(key) {
            if InodeRecord.peekKindAndIno(value)?.kind == .hardLink { newLink = key }
        }

        for key in putOrder {
            let value = putValues[key]!
            let record = try? InodeRecord.decode(value)
            let previous = records[key]
            remember(key, record)
            if renameTargets.contains(key) {
                // The moved record's new ctime: part of the rename; give it its ino.
                if let index = events.lastIndex(where: { $0.operation == .rename && $0.path == Self.path(key) }), events[index].ino == nil {
                    events[index].ino = record?.ino
                    events[index].kind = events[index].kind ?? record.map(Self.kindName)
                }
                continue
            }
            let isNew = Self.parent(of: key).map { putValues[$0] != nil } ?? false
            if isNew && (record?.kind == .hardLink ? key == newLink : previous == nil) {
                let operation: NamespaceEvent.Operation = switch record?.kind {
                case .directory: .mkdir
                case .symlink: .symlink
                case .hardLink: .link
                default: .create
                }
                if record?.kind == .hardLink { madeLinks = true }
                events.append(NamespaceEvent(lsn: lsn, operation: operation, path: Self.path(key), kind: record.map(Self.kindName), ino: record?.ino))
                continue
            }
            // The parent's times after a change of one of its names: bookkeeping.
            if parentsOfChanges.contains(key) { continue }
            // A name turned into a link record (the first hard link of a file): bookkeeping of `link`.
            if record?.kind == .hardLink { madeLinks = true; continue }
            events.append(NamespaceEvent(
                lsn: lsn, operation: Self.change(from: previous, to: record, chunked: record.map { chunkInos.contains($0.ino) } ?? false),
                path: Self.path(key), kind: record.map(Self.kindName), ino: record?.ino))
        }

        // A file with several names changed through one of them: the batch names no path. Its
        // record is remembered at `/i/<ino>`, to tell a write from a setattr next time.
        for (ino, value) in sharedRecords {
            let key = ReservedKeys.inode(ino)
            let record = try? InodeRecord.decode(value)
            let previous = records[key]
            remember(key, record)
            guard !madeLinks, !events.contains(where: { $0.ino == ino }) else { continue }
            events.append(NamespaceEvent(
                lsn: lsn, operation: Self.change(from: previous, to: record, chunked: chunkInos.contains(ino)),
                path: nil, kind: record.map(Self.kindName), ino: ino))
        }
        return events
    }

    /// What changed between two records of one name.
    private static func change(from previous: InodeRecord?, to record: InodeRecord?, chunked: Bool) -> NamespaceEvent.Operation {
        if chunked { return .write }
        guard let previous, let record else { return record == nil ? .write : .setattr }
        if previous.size != record.size || previous.inlineData != record.inlineData || previous.symlinkTarget != record.symlinkTarget {
            return .write
        }
        if previous.xattrs != record.xattrs { return .xattr }
        return .setattr
    }

    /// Notes the record now at `key`.
    private mutating func remember(_ key: [UInt8], _ record: InodeRecord?) {
        if records.count >= Self.rememberedRecords { records.removeAll(keepingCapacity: true) }
        records[key] = record
    }

    /// Moves what is remembered at `from` (and below it, for a prefix move) to `to`.
    private mutating func moveRemembered(from: [UInt8], to: [UInt8], prefix: Bool) {
        if let record = records.removeValue(forKey: from) { records[to] = record }
        guard prefix else { return }
        let below = from + [UInt8(ascii: "/")]
        for (key, record) in records where key.starts(with: below) {
            records.removeValue(forKey: key)
            records[to + key[from.count...]] = record
        }
    }

    /// The key of the parent directory of path key `key` (the root's key is empty); `nil` for the root.
    static func parent(of key: [UInt8]) -> [UInt8]? {
        guard !key.isEmpty else { return nil }
        guard let slash = key.lastIndex(of: UInt8(ascii: "/")) else { return [] }
        return Array(key[..<slash])
    }

    /// A path key as text.
    static func path(_ key: [UInt8]) -> String { String(decoding: key, as: UTF8.self) }

    /// The `kind` word of a record.
    static func kindName(_ record: InodeRecord) -> String {
        switch record.kind {
        case .regular: "file"
        case .directory: "dir"
        case .symlink: "symlink"
        case .fifo: "fifo"
        case .socket: "socket"
        case .charDevice: "char"
        case .blockDevice: "block"
        case .hardLink: "link"
        }
    }
}
