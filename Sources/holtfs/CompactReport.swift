import Foundation
import HoltEngine

/// What `holtfs compact` reports: `HoltEngine.CompactionReport` with where and how long, printed
/// as one line of text or (`--json`) one JSON object. A live daemon sends it over the control
/// socket in this same encoding.
struct CompactReport: Codable, Equatable {
    /// The database directory.
    var database: String
    /// `offline` (the command opened the database) or `mounted` (the daemon compacted it).
    var state: String
    /// Bytes the database occupied on disk before and after.
    var bytesBefore: Int
    var bytesAfter: Int
    /// The blob file's size before and after.
    var fileBytesBefore: Int
    var fileBytesAfter: Int
    /// Blobs whose dead bytes were squeezed out, and blobs moved toward the front of the file.
    var blobsCompacted: Int
    var blobsMoved: Int
    /// `bytesBefore - bytesAfter`, or 0 when the database grew meanwhile.
    var reclaimedBytes: Int
    /// How long the compaction took.
    var seconds: Double

    /// The report of `report`, run on `database` (`state`) in `seconds`.
    init(_ report: CompactionReport, database: String, state: String, seconds: Double) {
        self.database = database
        self.state = state
        bytesBefore = report.bytesBefore
        bytesAfter = report.bytesAfter
        fileBytesBefore = report.fileBytesBefore
        fileBytesAfter = report.fileBytesAfter
        blobsCompacted = report.blobsCompacted
        blobsMoved = report.blobsMoved
        reclaimedBytes = report.reclaimedBytes
        self.seconds = seconds
    }

    /// One line: `reclaimed 760.2 MiB: 772.0 MiB → 11.8 MiB on disk (blob file 770.0 MiB →
    /// 8.0 MiB), 12 blobs moved, 3 compacted`.
    func text() -> String {
        "reclaimed \(ByteCount.text(reclaimedBytes)): \(ByteCount.text(bytesBefore)) → \(ByteCount.text(bytesAfter)) on disk "
            + "(blob file \(ByteCount.text(fileBytesBefore)) → \(ByteCount.text(fileBytesAfter))), "
            + "\(blobsMoved) blob\(blobsMoved == 1 ? "" : "s") moved, \(blobsCompacted) compacted"
    }

    /// The report as one line of JSON.
    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// A report decoded from the daemon's answer, or `nil`.
    static func decode(_ bytes: [UInt8]) -> CompactReport? {
        try? JSONDecoder().decode(CompactReport.self, from: Data(bytes))
    }
}
