/// A column family's number: what log records and the catalog name a family by. 0 is the
/// default family (the tree's own `index`); the others are handed out at creation, in order,
/// and never reused (the next one is kept in the catalog), so a stale `Family` handle never
/// reaches a family created later under the same name.
struct FamilyID: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number, as logged (u32).
    var rawValue: UInt32
    /// The default family.
    static let `default` = FamilyID(rawValue: 0)

    static func < (a: FamilyID, b: FamilyID) -> Bool { a.rawValue < b.rawValue }
    var description: String { "family \(rawValue)" }
}

/// The set of column-family roots: the one place that says which families exist besides the
/// default one and where each one's tree starts. A snapshot of "every root at one LSN" is the
/// default family's root (`Tree.index.root`, fixed) plus this table as it stands holding the
/// tree's `lock` (roots never change after creation; only creation and drop change the table).
///
/// The table persists as the *catalog*: an ordinary ART in blobs of the store (so a checkpoint
/// writes it with everything else, and shadow paging makes it crash-safe), whose root blob the
/// manifest names (`Anchor.catalog`, manifest version 2). Its keys are family names (UTF-8, never
/// empty) with 12-byte values `id:u32 root:u64`; the empty key holds `nextID` (u32). A database
/// that never had a family has no catalog. Creating and dropping are logged (`BatchCodec+Families`)
/// and replayed through `redo`.
///
/// Locking: the `Tree` holds it in a `Locked`; it changes only holding the tree's `writer` and
/// `lock` exclusively (copied out, changed, stored back), so under `lock` shared it is stable.
///
/// Invariants (checked by `verify()`):
/// 1. `members` and `ids` name the same families; no member has the default id 0.
/// 2. `nextID` is above every member's id.
/// 3. The catalog holds exactly the members (name, id, root) and `nextID`; it is nil only when
///    it never held a family.
/// 4. Each member's tree is a sound ART (`ARTIndex.verify`); every blob of the store belongs
///    to exactly one tree (checked with the default tree by `Tree.verifyFamilies`).
struct FamilyRoots {
    /// One family besides the default one.
    struct Member {
        /// Its number.
        let id: FamilyID
        /// Its name.
        let name: String
        /// Its tree.
        let index: ARTIndex<BufferManager>
    }

    /// The catalog's tree; nil until the first family is created.
    private(set) var catalog: ARTIndex<BufferManager>?
    /// The families by number.
    private(set) var members: [FamilyID: Member] = [:]
    /// The families' numbers by name.
    private(set) var ids: [String: FamilyID] = [:]
    /// The number the next family gets.
    private(set) var nextID: UInt32 = 1

    /// The catalog's root blob, for the manifest (`Anchor.catalog`).
    var catalogRoot: BlobID? { catalog?.root }

    /// The catalog key that holds `nextID` (no family name is empty).
    private static let nextIDKey: [UInt8] = []

    /// Reads the catalog whose root blob is `root` (nil: no family yet).
    /// - Throws: `.corrupted` when the catalog or a family's root blob is damaged, `.io`.
    static func load(catalog root: BlobID?, in store: BufferManager) throws(HoltError) -> FamilyRoots {
        var roots = FamilyRoots()
        guard let root else { return roots }
        let catalog = try ARTIndex<BufferManager>(source: store, root: root)
        roots.catalog = catalog
        for item in try catalog.scan(RangeQuery(prefix: [])) {
            guard case .entry(let key, let value) = item else { continue }
            if key == nextIDKey {
                guard value.count == 4 else { throw corrupted("next family id of \(value.count) bytes") }
                roots.nextID = UInt32(littleEndian: value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                continue
            }
            guard value.count == 12, let name = String(validating: key, as: UTF8.self) else {
                throw corrupted("entry \(key) is not a family")
            }
            let id = FamilyID(rawValue: UInt32(littleEndian: value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
            let blob = UInt64(littleEndian: value.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt64.self) })
            guard id != .default, blob != 0, roots.members[id] == nil else { throw corrupted("family \(name) has id \(id.rawValue), root \(blob)") }
            let index = try ARTIndex<BufferManager>(source: store, root: BlobID(rawValue: blob))
            roots.members[id] = Member(id: id, name: name, index: index)
            roots.ids[name] = id
        }
        guard roots.members.keys.allSatisfy({ $0.rawValue < roots.nextID }) else {
            throw corrupted("next family id \(roots.nextID) is not above every family's")
        }
        return roots
    }

    private static func corrupted(_ reason: String) -> HoltError {
        .corrupted(what: "family catalog", reason: reason)
    }

    /// The tree of family `id`.
    /// - Throws: `.familyDropped(name:)` when no such family exists any more.
    func index(of id: FamilyID, name: String) throws(HoltError) -> ARTIndex<BufferManager> {
        guard let member = members[id] else { throw .familyDropped(name: name) }
        return member.index
    }

    /// Creates family `id` named `name`: a root blob with an empty tree and its catalog entry
    /// (and the catalog itself for the first family). Blobs change; nothing is logged.
    mutating func create(_ id: FamilyID, name: String, in store: BufferManager) throws(HoltError) {
        precondition(id != .default && members[id] == nil && ids[name] == nil, "family \(id) created twice")
        let catalog: ARTIndex<BufferManager>
        if let existing = self.catalog { catalog = existing } else { catalog = try ARTIndex<BufferManager>.create(in: store) }
        self.catalog = catalog
        let index = try ARTIndex<BufferManager>.create(in: store)
        var entry: [UInt8] = []
        withUnsafeBytes(of: id.rawValue.littleEndian) { entry.append(contentsOf: $0) }
        withUnsafeBytes(of: index.root.rawValue.littleEndian) { entry.append(contentsOf: $0) }
        try catalog.put(Array(name.utf8), entry)
        nextID = max(nextID, id.rawValue + 1)
        try catalog.put(Self.nextIDKey, Self.bytes(nextID))
        members[id] = Member(id: id, name: name, index: index)
        ids[name] = id
    }

    /// Takes back the blob changes of `create(id, ...)` (its log append failed): `previous` is
    /// the table before it, which the tree keeps.
    func undoCreate(_ id: FamilyID, previous: FamilyRoots, in store: BufferManager) throws(HoltError) {
        guard let member = members[id], let catalog else { return }
        for blob in try member.index.reachableBlobs() { try store.free(blob) }
        if previous.catalog == nil {
            for blob in try catalog.reachableBlobs() { try store.free(blob) }
        } else {
            try catalog.remove(Array(member.name.utf8))
            try catalog.put(Self.nextIDKey, Self.bytes(previous.nextID))
        }
    }

    /// Removes family `id` from the table and the catalog; returns it, for `free(_:in:)` once
    /// the drop is logged (or `undoRemove` when the log refuses it).
    mutating func remove(_ id: FamilyID) throws(HoltError) -> Member {
        guard let member = members.removeValue(forKey: id), let catalog else {
            preconditionFailure("drop of \(id), which is not a member")
        }
        ids[member.name] = nil
        try catalog.remove(Array(member.name.utf8))
        return member
    }

    /// Puts the catalog entry of `member` back (its drop's log append failed).
    func undoRemove(_ member: Member) throws(HoltError) {
        var entry: [UInt8] = []
        withUnsafeBytes(of: member.id.rawValue.littleEndian) { entry.append(contentsOf: $0) }
        withUnsafeBytes(of: member.index.root.rawValue.littleEndian) { entry.append(contentsOf: $0) }
        try catalog?.put(Array(member.name.utf8), entry)
    }

    /// Frees every blob of a removed family's tree: their ids come back after the next
    /// checkpoint, their slots once no durable checkpoint uses them (as any freed blob's).
    static func free(_ member: Member, in store: BufferManager) throws(HoltError) {
        for blob in try member.index.reachableBlobs() { try store.free(blob) }
    }

    /// Applies a logged batch that names families, or creates or drops one, again at open.
    /// - Throws: `.corrupted(what: "log record N", ...)` when it does not apply (an unknown
    ///   family, a condition that fails), `.io`.
    mutating func redo(_ items: [LoggedItem], lsn: UInt64, defaultIndex: ARTIndex<BufferManager>) throws(HoltError) {
        func broken(_ reason: String) -> HoltError { .corrupted(what: "log record \(lsn)", reason: reason) }
        var applier = FamilyBatchApplier()
        for (position, item) in items.enumerated() {
            switch item {
            case .op(let family, let op):
                let index: ARTIndex<BufferManager>
                if family == .default { index = defaultIndex } else {
                    guard let member = members[family] else { throw broken("an op of \(family), which does not exist") }
                    index = member.index
                }
                let slot = applier.slot(of: family, index: index)
                do throws(HoltError) { try applier.perform(op, slot: slot, at: position) } catch {
                    switch error {
                    case .conditionFailed, .invalidKey: throw broken("the batch does not apply: \(error)")
                    default: throw error
                    }
                }
            case .createFamily(let id, let name):
                guard id != .default, members[id] == nil, let text = String(validating: name, as: UTF8.self), ids[text] == nil else {
                    throw broken("creation of \(id) that exists or has a bad name")
                }
                try create(id, name: text, in: defaultIndex.source)
            case .dropFamily(let id):
                guard members[id] != nil else { throw broken("drop of \(id), which does not exist") }
                let member = try remove(id)
                try Self.free(member, in: defaultIndex.source)
            }
        }
    }

    /// Checks invariants 1-4 and walks every family's tree and the catalog.
    func verify() -> [String] {
        var problems: [String] = []
        if members.count != ids.count { problems.append("family table: \(members.count) members, \(ids.count) names") }
        for (id, member) in members {
            if ids[member.name] != id { problems.append("family \(member.name): named \(ids[member.name].map(\.description) ?? "nothing")") }
            if id == .default || id.rawValue >= nextID { problems.append("family \(member.name): id \(id.rawValue), next \(nextID)") }
            problems += member.index.verify().map { "family \(member.name): \($0)" }
        }
        guard let catalog else {
            if !members.isEmpty { problems.append("families without a catalog") }
            return problems
        }
        problems += catalog.verify().map { "family catalog: \($0)" }
        do throws(HoltError) {
            let loaded = try Self.load(catalog: catalog.root, in: catalog.source)
            let stored = loaded.members.mapValues { "\($0.name) \($0.index.root)" }
            let held = members.mapValues { "\($0.name) \($0.index.root)" }
            if stored != held || loaded.nextID != nextID {
                problems.append("family catalog holds \(stored) next \(loaded.nextID), the table \(held) next \(nextID)")
            }
        } catch {
            problems.append("family catalog: \(error)")
        }
        return problems
    }

    private static func bytes(_ value: UInt32) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
