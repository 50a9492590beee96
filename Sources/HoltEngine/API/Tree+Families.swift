/// Column families on the tree: creating, opening, listing and dropping them, the batches that
/// span them, and the reads of a family other than the default one. The table of families is
/// `FamilyRoots` (`Tree.families`); docs/DESIGN.md, "Column families", says why it is built so.
extension Tree {
    /// The name of the default family.
    public static let defaultFamilyName = "default"
    /// The longest family name, in bytes of UTF-8.
    public static let maxFamilyNameLength = 255

    /// The default family: the keys `Tree`'s own methods read and write.
    public var defaultFamily: Family { Family(name: Self.defaultFamilyName, id: .default, tree: self) }

    /// Opens the column family named `name`.
    ///
    /// - Parameters:
    ///   - name: The family's name; `"default"` is the default family.
    ///   - createIfMissing: Whether to create the family when it does not exist (as
    ///     `createFamily(named:)`, durably).
    /// - Returns: A handle to the family.
    /// - Throws: `.noSuchFamily` (when missing and not `createIfMissing`), `.invalidFamilyName`,
    ///   `.closed`, and what `createFamily(named:)` throws.
    public func family(named name: String, createIfMissing: Bool = false) throws(HoltError) -> Family {
        if name == Self.defaultFamilyName { return defaultFamily }
        try Self.validate(familyName: name)
        while true {
            let found = try withoutWriters { () throws(HoltError) -> FamilyID? in families.withLock { $0.ids[name] } }
            if let id = found { return Family(name: name, id: id, tree: self) }
            guard createIfMissing else { throw .noSuchFamily(name: name) }
            do throws(HoltError) { return try createFamily(named: name) } catch {
                // Another thread created it between the look and the creation: open that one.
                guard case .familyExists = error else { throw error }
            }
        }
    }

    /// Creates the column family `name`, empty, durably: its creation is one log record (and a
    /// new root blob); when this returns it survives a crash as `Options.sync` promises for any
    /// batch.
    ///
    /// Names are Swift strings: two names that are canonically equivalent (`"é"` precomposed or
    /// not) are the same family; the catalog keeps the bytes of the spelling that created it.
    ///
    /// - Returns: A handle to the new family.
    /// - Throws: `.familyExists` (also for `"default"`), `.invalidFamilyName` (empty, longer
    ///   than `maxFamilyNameLength` bytes, or holding a NUL), and what `apply(_:)` throws for
    ///   writes (`.io`, `.previousIOFailure`, `.closed`).
    @discardableResult
    public func createFamily(named name: String) throws(HoltError) -> Family {
        if name == Self.defaultFamilyName { throw .familyExists(name: name) }
        try Self.validate(familyName: name)
        var created: FamilyID? = nil
        let commit = try commit { () throws(HoltError) -> UInt64? in
            try flushWriteBuffer()
            let previous = families.withLock { $0 }
            guard previous.ids[name] == nil else { throw .familyExists(name: name) }
            let id = FamilyID(rawValue: previous.nextID)
            var updated = previous
            do throws(HoltError) { try updated.create(id, name: name, in: store) } catch {
                failed = true
                throw error
            }
            let payload = BatchCodec.encodeCreate(id, name: Array(name.utf8))
            let lsn: UInt64
            do throws(HoltError) {
                lsn = try log.append(payloadSize: payload.count, freesSpace: false, writeWhenLarge: false) {
                    $0.append(contentsOf: payload)
                }
            } catch {
                do throws(HoltError) { try updated.undoCreate(id, previous: previous, in: store) } catch { failed = true }
                throw error
            }
            families.withLock { $0 = updated }
            appliedLSN = lsn
            created = id
            return lsn
        }
        try waitUntilDurable(commit)
        guard let created else { preconditionFailure("a creation that logged nothing") }
        return Family(name: name, id: created, tree: self)
    }

    /// Drops the column family `name`: its keys are gone and its blobs are freed (their space
    /// is reused, and given back to the file system by the checkpoints that follow, see
    /// `compact()`). Durable and crash-safe as any batch: one log record. Handles to it throw
    /// `.familyDropped` from then on. Readers of the family finish first (the drop waits for
    /// the tree's exclusive lock, as a batch does); other families are read and written before
    /// and after it as usual.
    ///
    /// - Throws: `.noSuchFamily`, `.cannotDropDefaultFamily`, `.invalidFamilyName`, and what
    ///   `apply(_:)` throws for writes.
    public func dropFamily(named name: String) throws(HoltError) {
        if name == Self.defaultFamilyName { throw .cannotDropDefaultFamily }
        try Self.validate(familyName: name)
        let commit = try commit { () throws(HoltError) -> UInt64? in
            try flushWriteBuffer()
            var updated = families.withLock { $0 }
            guard let id = updated.ids[name] else { throw .noSuchFamily(name: name) }
            let member: FamilyRoots.Member
            do throws(HoltError) { member = try updated.remove(id) } catch {
                failed = true
                throw error
            }
            let payload = BatchCodec.encodeDrop(id)
            let lsn: UInt64
            do throws(HoltError) {
                lsn = try log.append(payloadSize: payload.count, freesSpace: true, writeWhenLarge: false) {
                    $0.append(contentsOf: payload)
                }
            } catch {
                do throws(HoltError) { try updated.undoRemove(member) } catch { failed = true }
                throw error
            }
            families.withLock { $0 = updated }
            appliedLSN = lsn
            // Logged: from here on the drop happens (a replay would redo it), so a failure to
            // free the blobs fails the tree rather than leave them half freed.
            do throws(HoltError) { try FamilyRoots.free(member, in: store) } catch {
                failed = true
                throw error
            }
            return lsn
        }
        try waitUntilDurable(commit)
    }

    /// The names of the column families, the default one included, in bytewise order.
    /// - Throws: `.closed`.
    public func familyNames() throws(HoltError) -> [String] {
        let names = try withoutWriters { () throws(HoltError) -> [String] in families.withLock { Array($0.ids.keys) } }
        return (names + [Self.defaultFamilyName]).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// Applies `ops`, which may name several column families, atomically, as one log record:
    /// all of them or, when a condition fails, none (in any family). Returns when the batch is
    /// as durable as `Options.sync` asks. Ops of one family run in their order and see each
    /// other's effects; a prefix rename moves keys within its family only.
    ///
    /// - Throws: what `apply(_: [TxnOp])` throws (`.conditionFailed` names the op's position in
    ///   `ops`), `.familyDropped` when an op names a dropped family (nothing applied),
    ///   `.noSuchFamily` when it names a family of another tree.
    public func apply(_ ops: [FamilyOp]) throws(HoltError) {
        try waitUntilDurable(applyDeferringDurability(ops))
    }

    /// `apply(_: [FamilyOp])` without waiting for durability: see `applyDeferringDurability(_: [TxnOp])`.
    /// - Throws: what `apply(_: [FamilyOp])` throws before its wait.
    public func applyDeferringDurability(_ ops: [FamilyOp]) throws(HoltError) -> Commit {
        if ops.allSatisfy({ $0.family.isDefault && $0.family.tree === self }) {
            return try applyDeferringDurability(ops.map(\.op))
        }
        var scoped: [ScopedOp] = []
        scoped.reserveCapacity(ops.count)
        // The families touched, in order of first touch (few: a linear search beats hashing).
        var touched: [(id: FamilyID, name: String)] = []
        for op in ops {
            guard op.family.tree === self else { throw .noSuchFamily(name: op.family.name) }
            try Self.validate(op.op)
            let id = op.family.id
            let slot: Int
            if let last = touched.last, last.id == id { slot = touched.count - 1 }
            else if let found = touched.firstIndex(where: { $0.id == id }) { slot = found }
            else { touched.append((id, op.family.name)); slot = touched.count - 1 }
            scoped.append(ScopedOp(family: id, op: op.op, slot: slot))
        }
        return try commit { () throws(HoltError) -> UInt64? in try applyFamiliesLocked(scoped, touched: touched) }
    }

    /// `applyLocked` for a batch whose ops name families (`touched`, in slot order). Call
    /// holding `writer` and `lock` exclusively. Returns the batch's LSN, nil when it changed nothing.
    private func applyFamiliesLocked(_ ops: [ScopedOp], touched: [(id: FamilyID, name: String)]) throws(HoltError) -> UInt64? {
        // Lock-free readers (`get`) read only the default family: a batch that changes it is
        // shown to them as `applyLocked` shows one; the other families are read under `lock`.
        // The default family's buffered puts and deletes of the keys the batch names go to its
        // index first (`WriteBuffer`).
        if !writeBuffer.isEmpty {
            try flushWriteBuffer(under: BufferFootprint(ops.lazy.filter { $0.family == .default }.map(\.op)))
        }
        let touchesDefault = touched.contains { $0.id == .default }
        let movesPrefixes = touchesDefault && ops.contains { if $0.family == .default, case .renamePrefix = $0.op { true } else { false } }
        let installing = touchesDefault ? InstallingBatch(exclusive: movesPrefixes, ops: ops.count) : nil
        var applier = FamilyBatchApplier(defaultVisibility: movesPrefixes ? nil : installing)
        let roots = families.withLock { $0 }
        for family in touched {
            let tree = family.id == .default ? self.index : try roots.index(of: family.id, name: family.name)
            _ = applier.slot(of: family.id, index: tree)
        }
        let slot = installing.map { visibility.begin($0) }
        defer { if let slot { visibility.end(slot) } }
        return try install(&applier, installing, payloadSize: BatchCodec.encodedSize(ops),
            perform: { (applier) throws(HoltError) in
                try ops.withUnsafeBufferPointer { (buffer) throws(HoltError) in
                    for position in buffer.indices {
                        try applier.perform(buffer[position].op, slot: buffer[position].slot, at: position)
                    }
                }
            },
            encode: { BatchCodec.encode(ops, into: &$0) })
    }

    /// Runs `body` with the tree of `family` (not the default one) under the shared lock: no
    /// batch changes it meanwhile and no drop frees its blobs.
    /// - Throws: `.familyDropped`, `.closed`, and what `body` throws.
    func readFamily<R>(_ family: Family, _ body: (ARTIndex<BufferManager>) throws(HoltError) -> R) throws(HoltError) -> R {
        try withoutWriters { () throws(HoltError) -> R in
            let index = try families.withLock { (roots) throws(HoltError) in try roots.index(of: family.id, name: family.name) }
            return try body(index)
        }
    }

    /// The families' part of `verify()` (call holding `writer` and `lock`): the table and every
    /// family's tree (`FamilyRoots.verify`), and that every blob the store holds belongs to
    /// exactly one tree (the default one, the catalog or a family): a blob of none is leaked (a
    /// drop that did not free it), a blob of two is shared.
    func verifyFamilies() -> [String] {
        let roots = families.withLock { $0 }
        var problems = roots.verify()
        do throws(HoltError) {
            var owner: [BlobID: String] = [:]
            var trees: [(String, ARTIndex<BufferManager>)] = [("the default family", index)]
            if let catalog = roots.catalog { trees.append(("the family catalog", catalog)) }
            for member in roots.members.values { trees.append(("family \(member.name)", member.index)) }
            for (name, tree) in trees {
                for blob in try tree.reachableBlobs() {
                    if let other = owner[blob] { problems.append("\(blob) is in \(name) and in \(other)") }
                    owner[blob] = name
                }
            }
            for blob in store.blobUsages().keys where owner[blob] == nil {
                problems.append("\(blob) belongs to no tree (leaked)")
            }
        } catch {
            problems.append("blob ownership: \(error)")
        }
        return problems
    }

    /// Checks a family name: not empty, at most `maxFamilyNameLength` bytes, no NUL.
    static func validate(familyName name: String) throws(HoltError) {
        let bytes = name.utf8.count
        guard bytes > 0 else { throw .invalidFamilyName(reason: "a family name may not be empty") }
        guard bytes <= maxFamilyNameLength else {
            throw .invalidFamilyName(reason: "a family name of \(bytes) bytes is longer than \(maxFamilyNameLength)")
        }
        guard !name.utf8.contains(0) else { throw .invalidFamilyName(reason: "a family name may not contain a NUL byte") }
    }
}
