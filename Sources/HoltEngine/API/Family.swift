/// A column family: one of several independent keyspaces in one database, with a tree of its
/// own, sharing the database's log, cache and checkpoints.
///
/// Every database has the *default* family (`Tree.defaultFamily`, named `"default"`): the keys
/// that `Tree`'s own methods read and write. Others are created, opened, listed and dropped by
/// name (`Tree.createFamily(named:)`, `Tree.family(named:createIfMissing:)`,
/// `Tree.familyNames()`, `Tree.dropFamily(named:)`). A family's keys, ranges and prefix renames
/// never reach another family's: the same key in two families is two keys. One batch may span
/// families atomically (`Tree.apply(_: [FamilyOp])`).
///
/// ```swift
/// let tree = try Tree.open(path: "db")
/// let inodes = try tree.family(named: "inodes", createIfMissing: true)
/// try tree.apply([
///     FamilyOp(tree.defaultFamily, .put(key: Array("a/b".utf8), value: Array("7".utf8))),
///     FamilyOp(inodes, .put(key: Array("7".utf8), value: Array("record".utf8))),
/// ])
/// ```
///
/// A handle is cheap and may be used from any thread. Once its family is dropped (through any
/// handle or by name), every call throws `.familyDropped`, even if a family of the same name is
/// created again (that one is another family; open it anew). Reads of a family other than the
/// default one run under the tree's shared lock (`Tree.range` does too); the default family's
/// `get` and `hasKeys` read without it, as `Tree.get` does.
public final class Family: Sendable {
    /// The family's name (`"default"` for the default family).
    public let name: String
    /// The database the family belongs to.
    public let tree: Tree
    /// The family's number in the log and the catalog.
    let id: FamilyID

    init(name: String, id: FamilyID, tree: Tree) {
        self.name = name
        self.id = id
        self.tree = tree
    }

    /// Whether this is the default family (the keys of `Tree`'s own methods).
    public var isDefault: Bool { id == .default }

    // MARK: Reads

    /// The value stored at `key` in this family, or `nil` when there is none.
    /// - Returns: A copy of the value; the caller owns it.
    /// - Throws: `.familyDropped`, `.closed`, `.corrupted`, `.io`.
    public func get(_ key: [UInt8]) throws(HoltError) -> [UInt8]? {
        if isDefault { return try tree.get(key) }
        return try tree.readFamily(self) { (index) throws(HoltError) in try index.get(key) }
    }

    /// Whether any key of this family starts with `prefix`.
    /// - Throws: `.familyDropped`, `.closed`, `.corrupted`, `.io`.
    public func hasKeys(withPrefix prefix: [UInt8]) throws(HoltError) -> Bool {
        if isDefault { return try tree.hasKeys(withPrefix: prefix) }
        return try tree.readFamily(self) { (index) throws(HoltError) in try index.hasKeys(withPrefix: prefix) }
    }

    /// The items of `query` in this family, in key order (as `Tree.range(_:)`); a range never
    /// leaves its family.
    /// - Returns: At most `query.limit` items, copied: the caller owns the arrays.
    /// - Throws: `.familyDropped`, `.closed`, `.corrupted`, `.io`.
    public func range(_ query: RangeQuery) throws(HoltError) -> [RangeItem] {
        if isDefault { return try tree.range(query) }
        return try tree.readFamily(self) { (index) throws(HoltError) in try index.scan(query) }
    }

    /// The items below `prefix` after `startAfter`, at most `limit`, rolled up at `delimiter`,
    /// in this family. The same as `range(RangeQuery(...))`.
    /// - Throws: `.familyDropped`, `.closed`, `.corrupted`, `.io`.
    public func range(
        prefix: [UInt8] = [], startAfter: [UInt8]? = nil, delimiter: UInt8? = nil, limit: Int? = nil
    ) throws(HoltError) -> [RangeItem] {
        try range(RangeQuery(prefix: prefix, startAfter: startAfter, delimiter: delimiter, limit: limit))
    }

    /// Calls `body` with each item of `query` in this family, borrowed, as `Tree.forEach(_:_:)`
    /// does (the same rules: the view is valid only during the call, and `body` must not call
    /// the tree except `get` of the default family).
    /// - Throws: `.familyDropped`, `.closed`, `.corrupted`, `.io`, and what `body` throws.
    public func forEach(_ query: RangeQuery, _ body: (RangeView) throws(HoltError) -> Bool) throws(HoltError) {
        if isDefault { return try tree.forEach(query, body) }
        try tree.readFamily(self) { (index) throws(HoltError) in _ = try index.visit(query, body) }
    }

    // MARK: Writes

    /// Sets `key` to `value` in this family. A batch of one op; see `Tree.apply(_:)` for what it throws.
    public func put(_ key: [UInt8], _ value: [UInt8]) throws(HoltError) {
        try apply([.put(key: key, value: value)])
    }

    /// Removes `key` from this family; removing an absent key does nothing. A batch of one op.
    public func delete(_ key: [UInt8]) throws(HoltError) {
        try apply([.delete(key: key)])
    }

    /// Moves the value at `from` to `to` in this family. Throws `.conditionFailed` when `from` is absent.
    public func rename(from: [UInt8], to: [UInt8]) throws(HoltError) {
        try apply([.rename(from: from, to: to)])
    }

    /// Moves `from` and everything below `from/` to `to`, inside this family (see `TxnOp.renamePrefix`).
    public func renamePrefix(from: [UInt8], to: [UInt8]) throws(HoltError) {
        try apply([.renamePrefix(from: from, to: to)])
    }

    /// Applies `ops` to this family atomically, as one log record (see `Tree.apply(_:)`).
    /// - Throws: what `Tree.apply(_:)` throws, and `.familyDropped`.
    public func apply(_ ops: [TxnOp]) throws(HoltError) {
        if isDefault { return try tree.apply(ops) }
        try tree.apply(ops.map { FamilyOp(self, $0) })
    }
}

/// An op and the column family it applies to: the element of a batch that spans families
/// (`Tree.apply(_: [FamilyOp])`).
public struct FamilyOp: Sendable {
    /// The family the op applies to.
    public let family: Family
    /// The op; its keys are keys of `family`.
    public let op: TxnOp

    /// `op`, to be applied to `family`.
    public init(_ family: Family, _ op: TxnOp) {
        self.family = family
        self.op = op
    }
}
