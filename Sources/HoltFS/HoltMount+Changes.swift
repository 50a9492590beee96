import HoltEngine

/// The mount's change feed: what `holtfs watch` reads through the daemon's control socket.
extension HoltMount {
    /// The committed batches of the mounted tree after `position` (`Tree.changes(after:)`);
    /// turn them into namespace events with a `NamespaceTranslator`.
    /// - Throws: `.engine(.changesNotHeld)` when the log does not hold the batches after
    ///   `position`, `.engine(.closed)`.
    public func changes(after position: LSN) throws(FSError) -> ChangeFeed {
        do throws(HoltError) { return try filesystem.tree.changes(after: position) } catch { throw .engine(error) }
    }

    /// The LSN of the last batch the feed can deliver now (`Tree.lastCommittedLSN`).
    public var lastCommittedLSN: LSN { filesystem.tree.lastCommittedLSN }
}
