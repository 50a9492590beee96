#if canImport(Glibc)
import Glibc
#endif

/// How a database's space on disk is used (`Tree.spaceStatistics()`).
///
/// *Allocated* bytes are what the file system has given the files (`st_blocks × 512`, what `du`
/// counts): holes punched into the blob file are not allocated. *Live* bytes are the ART node
/// bytes that hold the keys and values now; *dead* bytes are node bytes freed inside blobs and not
/// yet compacted away.
public struct SpaceStatistics: Sendable, Equatable {
    /// The blob file's size (`ls -l`).
    public var fileBytes: Int
    /// The bytes the blob file occupies on disk.
    public var allocatedBytes: Int
    /// The bytes the log occupies on disk.
    public var logBytes: Int
    /// The bytes the map and the manifest occupy on disk.
    public var metadataBytes: Int
    /// Blobs in use.
    public var blobs: Int
    /// Slots of the blob file that hold no blob (punched out: they take no disk space).
    public var freeSlots: Int
    /// Bytes of live nodes in the blobs.
    public var liveBytes: Int
    /// Bytes of freed nodes inside blobs, not yet compacted.
    public var deadBytes: Int

    /// Everything the database occupies on disk (what `du` of its directory says, lock and
    /// control files aside).
    public var databaseBytes: Int { allocatedBytes + logBytes + metadataBytes }

    /// `databaseBytes ÷ liveBytes` (0 for an empty tree).
    public var amplification: Double { liveBytes == 0 ? 0 : Double(databaseBytes) / Double(liveBytes) }
}

/// What `Tree.compact()` did.
public struct CompactionReport: Sendable, Equatable {
    /// Bytes the database occupied on disk before and after.
    public var bytesBefore: Int, bytesAfter: Int
    /// The blob file's size before and after.
    public var fileBytesBefore: Int, fileBytesAfter: Int
    /// Blobs whose dead bytes were squeezed out.
    public var blobsCompacted: Int
    /// Blobs moved toward the front of the file.
    public var blobsMoved: Int

    /// The bytes given back to the file system (0 when the database grew meanwhile).
    public var reclaimedBytes: Int { max(0, bytesBefore - bytesAfter) }
}
