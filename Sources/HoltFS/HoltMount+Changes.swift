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

/// Registered consumers of the mount's feed (`holtfs watch --name`): the log keeps what they
/// have not acknowledged, across remounts, within the engine's retention bound.
extension HoltMount {
    /// The last LSN consumer `name` acknowledged, or `nil` when it is not registered.
    public func consumerPosition(_ name: String) -> LSN? {
        filesystem.tree.consumers[name]
    }

    /// Registers consumer `name` at `position` (or moves it there), durably (`Tree.registerConsumer`).
    /// - Throws: `.engine(.changesNotHeld)`, `.engine(.invalidKey)` for a bad name, `.engine(.io)`.
    public func registerConsumer(_ name: String, after position: LSN) throws(FSError) {
        do throws(HoltError) { try filesystem.tree.registerConsumer(name, after: position) } catch { throw .engine(error) }
    }

    /// Records, durably, that consumer `name` has every batch through `position` (`Tree.acknowledge`).
    /// - Throws: `.engine(.noSuchConsumer)`, `.engine(.io)`.
    public func acknowledge(consumer name: String, through position: LSN) throws(FSError) {
        do throws(HoltError) { try filesystem.tree.acknowledge(consumer: name, through: position) } catch { throw .engine(error) }
    }
}
