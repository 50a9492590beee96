extension WriteAheadLog {
    /// Counters of a write-ahead log since it was opened.
    struct Statistics: Equatable, Sendable {
        /// Records appended.
        var records = 0
        /// Bytes appended (records with their headers and CRCs).
        var bytes = 0
        /// `pwrite` calls that wrote buffered records to a segment.
        var writes = 0
        /// `fdatasync` calls on segments.
        var syncs = 0
        /// Records made durable by those syncs (a group commit's size, summed).
        var syncedRecords = 0
        /// The most records one `fdatasync` made durable.
        var largestGroup = 0
        /// Segments started (at a size limit, a trim or an LSN jump).
        var segmentsStarted = 0
        /// Segment files removed by `trim`.
        var segmentsRemoved = 0
        /// Appends refused with `ENOSPC` because no room could be allocated.
        var spaceRefusals = 0

        /// The mean number of records one `fdatasync` made durable.
        var meanGroupSize: Double { syncs == 0 ? 0 : Double(syncedRecords) / Double(syncs) }
    }
}
