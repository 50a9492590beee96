import Synchronization

/// Numbers for the temporary keys of exchanges, unique within the process.
private let temporaryCounter = Atomic<UInt64>(0)

extension Filesystem {
    /// Moves `name` in `parent` to `newName` in `newParent`. The FUSE op is `rename`.
    ///
    /// One batch: a file moves with one `.rename`, a directory with one `.renamePrefix` (its whole
    /// subtree, at a cost independent of its size); a replaced destination is removed; both
    /// parents' times and nlinks change. `.exchange` swaps the two through a temporary reserved key.
    ///
    /// - Throws: `.notFound`, `.exists` (`.noReplace`), `.invalidArgument` (into its own subtree,
    ///   both flags), `.notEmpty`, `.isDirectory` (file over directory), `.notDirectory`
    ///   (directory over file), `.nameTooLong`, `.engine`.
    func rename(
        _ parent: NodeID, _ name: [UInt8], to newParent: NodeID, _ newName: [UInt8], flags: RenameFlags
    ) throws(FSError) {
        guard name.count <= Self.maxNameLength else { throw .nameTooLong }
        try Self.validate(name: newName)
        guard flags.isSubset(of: [.noReplace, .exchange]), flags != [.noReplace, .exchange] else {
            throw .invalidArgument
        }
        let moved = try transact(.exclusive, { () throws(FSError) -> (Batch, Bool) in
            let sourceDirectory = try resolveDirectory(parent)
            let targetDirectory = parent == newParent ? sourceDirectory : try resolveDirectory(newParent)
            let sourceKey = Self.childKey(of: sourceDirectory.pathKey!, name: name)
            let targetKey = Self.childKey(of: targetDirectory.pathKey!, name: newName)
            guard let source = try resolve(key: sourceKey) else { throw .notFound }
            let target = try resolve(key: targetKey)
            if sourceKey == targetKey { return (Batch(), false) }
            let slash = UInt8(ascii: "/")
            if source.isDirectory, targetKey.starts(with: sourceKey + [slash]) { throw .invalidArgument }
            let now = Self.now()
            var batch = Batch()
            try checkKeyLengths(renaming: source, from: sourceKey, to: targetKey, exchangingWith: flags.contains(.exchange) ? target : nil, into: &batch)
            var sourceParentDelta = 0, targetParentDelta = 0

            if flags.contains(.exchange) {
                guard let target else { throw .notFound }
                if target.isDirectory, sourceKey.starts(with: targetKey + [slash]) { throw .invalidArgument }
                let parking = ReservedKeys.temporary(temporaryCounter.wrappingAdd(1, ordering: .relaxed).oldValue)
                try move(source, from: sourceKey, to: parking, now: now, into: &batch)
                try move(target, from: targetKey, to: sourceKey, now: now, into: &batch)
                try move(source, from: parking, to: targetKey, now: now, into: &batch, guarded: true)
                let sourceCounts = source.isDirectory
                let targetCounts = target.isDirectory
                if sourceCounts != targetCounts {
                    let delta = sourceCounts ? 1 : -1
                    sourceParentDelta -= delta
                    targetParentDelta += delta
                }
            } else {
                if let target {
                    if flags.contains(.noReplace) { throw .exists }
                    if let a = source.record, let b = target.record, a.ino == b.ino, a.kind != .directory {
                        return (Batch(), false)
                    }
                    if source.isDirectory, !target.isDirectory { throw .notDirectory }
                    if !source.isDirectory, target.isDirectory { throw .isDirectory }
                    try removeName(target, now: now, into: &batch)
                    if target.isDirectory { targetParentDelta -= 1 }
                } else {
                    batch.guardValue(targetKey, nil)
                    batch.guardNoDescendants(targetKey)
                }
                try move(source, from: sourceKey, to: targetKey, now: now, into: &batch)
                if source.isDirectory {
                    sourceParentDelta -= 1
                    targetParentDelta += 1
                }
            }
            if sourceDirectory.pathKey == targetDirectory.pathKey {
                try updateParent(sourceDirectory, now: now, linkDelta: sourceParentDelta + targetParentDelta, into: &batch)
            } else {
                try updateParent(sourceDirectory, now: now, linkDelta: sourceParentDelta, into: &batch)
                try updateParent(targetDirectory, now: now, linkDelta: targetParentDelta, into: &batch)
            }
            return (batch, true)
        }, committed: { moved in
            if moved {
                nodes.move(parent: parent, name: name, to: newParent, newName: newName, exchange: flags.contains(.exchange))
            }
        })
        guard moved else { return }
        try sweepGarbage()
    }

    /// Adds to `batch` the move of node `node` (read at `from`) to the free key `to`, with its
    /// ctime set to `now`. `guarded` skips the guards when `from` is a key the batch just wrote.
    private func move(
        _ node: Resolved, from: [UInt8], to: [UInt8], now: Int64, into batch: inout Batch, guarded: Bool = false
    ) throws(FSError) {
        if !guarded { batch.guardValue(from, node.pathValue) }
        switch node.storage {
        case .prefix:
            batch.renamePrefix(from: from, to: to, else: .notEmpty)
        case .plain:
            batch.rename(from: from, to: to)
        case .record(let recordKey, let bytes, var record):
            if record.kind == .directory {
                batch.renamePrefix(from: from, to: to, else: .notEmpty)
            } else {
                batch.rename(from: from, to: to)
            }
            record.ctime = now
            if recordKey == node.pathKey {
                batch.put(to, record.encoded())
            } else if !guarded {
                batch.guardValue(recordKey, bytes)
                batch.put(recordKey, record.encoded())
            }
        }
    }
}
