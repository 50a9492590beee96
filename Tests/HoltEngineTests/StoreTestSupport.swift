// Shared helpers of the store tests: temporary database directories, a seeded generator, and
// blob contents a test can recognise again.
import Foundation
import Testing
@testable import HoltEngine

/// A fresh directory under /tmp, removed with everything in it when the value goes away.
final class StoreTemporaryDirectory {
    /// The directory's path.
    let path: String

    init() {
        var template = Array("/tmp/holt-store-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The database directory inside it (created by the store).
    var database: String { path + "/db" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The seeded generator of the store tests.
typealias StoreRandom = SeededGenerator


/// Recognisable blob contents: the ART area filled with one byte derived from (id, version),
/// with the id and version spelled out at its start.
enum StorePattern {
    /// The fill byte of `id` at `version`.
    static func byte(_ id: BlobID, _ version: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: id.rawValue &* 31 &+ version &* 7 &+ 1)
    }

    /// Writes the pattern into a blob's bytes.
    static func fill(_ bytes: UnsafeMutableRawPointer, _ id: BlobID, _ version: UInt64) {
        let start = BlobGeometry.artHeaderOffset
        memset(bytes + start, Int32(byte(id, version)), BlobGeometry.blobSize - start)
        bytes.storeBytes(of: id.rawValue, toByteOffset: start, as: UInt64.self)
        bytes.storeBytes(of: version, toByteOffset: start + 8, as: UInt64.self)
    }

    /// The version a blob's bytes hold, or `nil` when they are not a whole pattern of `id`
    /// (sampled every 4 KiB, plus the last byte).
    static func version(_ bytes: UnsafeRawPointer, _ id: BlobID) -> UInt64? {
        let start = BlobGeometry.artHeaderOffset
        guard bytes.load(fromByteOffset: start, as: UInt64.self) == id.rawValue else { return nil }
        let version = bytes.load(fromByteOffset: start + 8, as: UInt64.self)
        let expected = byte(id, version)
        var offset = start + 16
        while offset < BlobGeometry.blobSize {
            if bytes.load(fromByteOffset: offset, as: UInt8.self) != expected { return nil }
            offset += 4093
        }
        if bytes.load(fromByteOffset: BlobGeometry.blobSize - 1, as: UInt8.self) != expected { return nil }
        return version
    }
}

extension BufferManager {
    /// Writes pattern (`id`, `version`) into blob `id`.
    func put(_ id: BlobID, version: UInt64) throws(HoltError) {
        try write(id) { (bytes) throws(HoltError) in StorePattern.fill(bytes, id, version) }
    }

    /// The pattern version blob `id` holds (`nil`: not a pattern of it).
    func version(of id: BlobID) throws(HoltError) -> UInt64? {
        try read(id) { (bytes) throws(HoltError) in StorePattern.version(bytes, id) }
    }
}

/// Flips one bit of the byte at `offset` in file `path`.
func storeFlipByte(path: String, offset: Int) throws {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let byte = try #require(try handle.read(upToCount: 1)).first ?? 0
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: [byte ^ 0x10])
}
