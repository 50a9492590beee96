/// The change feed: the committed batches after a position (`ChangeFeed`), and the registered
/// consumers for whom the log keeps what they have not read.
///
/// Retention: a checkpoint trims the log through its LSN, except the segments holding batches
/// after the lowest position a registered consumer acknowledged or an open feed delivered; those
/// stay as long as they hold at most `Options.changeRetentionBytes` of records. Past that bound
/// the oldest go anyway, and the consumer behind them gets `HoltError.changesNotHeld` when it
/// reads on. docs/DESIGN.md ("The change feed") says more.
extension Tree {
    /// The LSN of the last batch the change feed can deliver now: the last durable batch
    /// (under `.none`, the last applied).
    public var lastCommittedLSN: LSN { LSN(log.feedHorizon) }

    /// The committed batches after `position`, in commit order: those the log still holds, then
    /// each new one as it commits.
    ///
    /// - Parameter position: The LSN of the last batch the caller already has (`LSN.zero`: from
    ///   the first batch the log holds; `lastCommittedLSN`: only what commits from now on).
    /// - Returns: An open feed. It pins the log from its position until closed or released.
    /// - Throws: `.changesNotHeld` when `position` is past the last batch or before the oldest
    ///   batch the log holds (a checkpoint trimmed it); `.closed`.
    public func changes(after position: LSN) throws(HoltError) -> ChangeFeed {
        try checkFeedPosition(position.rawValue)
        return ChangeFeed(log: log, registry: changeFeeds, after: position.rawValue, consumer: nil)
    }

    /// The committed batches after what consumer `name` last acknowledged (`acknowledge`).
    ///
    /// - Returns: An open feed whose `consumer` is `name`.
    /// - Throws: `.noSuchConsumer`; `.changesNotHeld` when the consumer fell behind the retention
    ///   bound (the batches after its position are gone); `.closed`.
    public func changes(forConsumer name: String) throws(HoltError) -> ChangeFeed {
        let position = try changeFeeds.position(of: name)
        try checkFeedPosition(position)
        return ChangeFeed(log: log, registry: changeFeeds, after: position, consumer: name)
    }

    /// Registers consumer `name` at `position` (or moves it there), durably: from now on the log
    /// keeps the batches after its acknowledged position, within `Options.changeRetentionBytes`,
    /// across restarts.
    ///
    /// - Parameters:
    ///   - name: 1 to 255 bytes of UTF-8 without NUL.
    ///   - position: The last batch it already has.
    /// - Throws: `.invalidKey` for a bad name; `.changesNotHeld` when the log does not hold the
    ///   batches after `position`; `.io`; `.closed`.
    public func registerConsumer(_ name: String, after position: LSN) throws(HoltError) {
        try checkFeedPosition(position.rawValue)
        try changeFeeds.register(name, at: position.rawValue)
    }

    /// Records, durably, that consumer `name` has every batch through `position`: the log may
    /// drop them at the next checkpoint. A lower position than the last one does nothing.
    /// - Throws: `.noSuchConsumer`, `.io`, `.closed`.
    public func acknowledge(consumer name: String, through position: LSN) throws(HoltError) {
        try withOpenState { () throws(HoltError) in }
        try changeFeeds.acknowledge(name, through: position.rawValue)
    }

    /// Forgets consumer `name`, durably: the log keeps nothing more for it.
    /// - Throws: `.noSuchConsumer`, `.io`, `.closed`.
    public func unregisterConsumer(_ name: String) throws(HoltError) {
        try withOpenState { () throws(HoltError) in }
        try changeFeeds.unregister(name)
    }

    /// The registered consumers and the last position each acknowledged.
    public var consumers: [String: LSN] { changeFeeds.consumers.mapValues { LSN($0) } }

    /// Record bytes the log keeps now only for change-feed consumers (within the retention bound).
    public var changeRetainedBytes: Int { log.retainedBytes }

    /// Throws unless the log holds every batch after `position` (up to the last appended).
    private func checkFeedPosition(_ position: UInt64) throws(HoltError) {
        try withOpenState { () throws(HoltError) in }
        let last = log.lastLSN
        let heldAfter = log.heldAfter
        guard position <= last, position >= heldAfter else {
            throw .changesNotHeld(after: position, heldAfter: heldAfter, lastLSN: last)
        }
    }
}
