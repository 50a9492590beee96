// Protects how `holtfs stats` and `holtfs compact` print space: the space section survives the
// JSON round trip the control socket makes and prints every figure, the compaction report reads
// as one line with binary units, and byte counts carry a unit.
@testable import HoltEngine
import Testing

@testable import holtfs

@Suite struct SpaceReportTests {
    static let space = SpaceStatistics(
        fileBytes: 770 << 20, allocatedBytes: 8 << 20, logBytes: 3 << 20, metadataBytes: 12_288, blobs: 16,
        freeSlots: 1524, liveBytes: 5 << 20, deadBytes: 2 << 20)

    @Test func byteCountsCarryABinaryUnit() {
        #expect(ByteCount.text(0) == "0 B")
        #expect(ByteCount.text(1023) == "1023 B")
        #expect(ByteCount.text(1024) == "1.0 KiB")
        #expect(ByteCount.text(12_373_196) == "11.8 MiB")
        #expect(ByteCount.text(797_151_846) == "760.2 MiB")
        #expect(ByteCount.text(3 << 30) == "3.0 GiB")
        #expect(ByteCount.text(-2048) == "-2.0 KiB")
    }

    @Test func spaceSectionRoundTripsAndPrintsEveryFigure() throws {
        let report = StatsReport(database: "/db", state: "offline", space: StatsReport.Space(Self.space))
        let decoded = try #require(StatsReport.decode(Array(report.json().utf8)))
        #expect(decoded == report)
        let space = try #require(decoded.space)
        #expect(space.databaseBytes == (8 << 20) + (3 << 20) + 12_288)
        #expect(space.amplification == Self.space.amplification)
        let text = report.text()
        for expected in [
            "space: database bytes \(space.databaseBytes) (11.0 MiB), amplification 2.20",
            "  live bytes: 5242880 (5.0 MiB)", "  dead bytes: 2097152 (2.0 MiB)",
            "  blob file: 807403520 (770.0 MiB), allocated 8388608 (8.0 MiB); 16 blobs, 1524 free slots",
            "  log bytes: 3145728 (3.0 MiB)", "  map and manifest bytes: 12288 (12.0 KiB)",
        ] {
            #expect(text.split(separator: "\n").contains(Substring(expected)), "\(expected) not in:\n\(text)")
        }
    }

    @Test func compactionReportIsOneLine() throws {
        let compaction = CompactionReport(
            bytesBefore: 809_500_000, bytesAfter: 12_373_196, fileBytesBefore: 770 << 20, fileBytesAfter: 8 << 20,
            blobsCompacted: 3, blobsMoved: 12)
        let report = CompactReport(compaction, database: "/db", state: "mounted", seconds: 1.5)
        #expect(report.reclaimedBytes == 809_500_000 - 12_373_196)
        #expect(report.text() == "reclaimed 760.2 MiB: 772.0 MiB → 11.8 MiB on disk (blob file 770.0 MiB → 8.0 MiB), 12 blobs moved, 3 compacted")
        #expect(CompactReport.decode(Array(report.json().utf8)) == report)
        #expect(!report.json().contains("\n"))
        let grown = CompactionReport(bytesBefore: 1, bytesAfter: 2, fileBytesBefore: 0, fileBytesAfter: 0, blobsCompacted: 0, blobsMoved: 1)
        #expect(CompactReport(grown, database: "/db", state: "offline", seconds: 0).text()
            == "reclaimed 0 B: 1 B → 2 B on disk (blob file 0 B → 0 B), 1 blob moved, 0 compacted")
    }
}
