/// What `WriteAheadLog.replay(after:_:)` found: how much it replayed and what torn tail it cut.
struct ReplayReport: Equatable, Sendable {
    /// Records passed to the replay body (those with an LSN above the checkpoint).
    var recordsReplayed = 0
    /// Intact records found in the log, replayed or not.
    var recordsFound = 0
    /// Segment files read.
    var segments = 0
    /// Bytes cut off the end of the log: a torn or damaged tail (a write a crash interrupted).
    var bytesCut = 0
    /// Why the tail was cut, when it was (`nil` when the log ended cleanly).
    var cutReason: String?
    /// The LSN of the last intact record, or of the last LSN the log accounts for when it has
    /// none (0 for a new log). The next append gets `lastLSN + 1`.
    var lastLSN: UInt64 = 0
    /// The previous last LSN of the oldest segment left: every record after it is in the log.
    var heldAfter: UInt64 = 0
}
