// s3-metadata: the metadata of an object store bucket, listed the way S3's ListObjectsV2 lists it,
// through HoltEngine's public API: a prefix, a delimiter that rolls "folders" up into common
// prefixes, max-keys, and a continuation token that resumes a listing where the last page ended
// (the last position, passed back as `startAfter`).
//
//   swift run s3-metadata [DB-DIRECTORY]
import Foundation
import HoltEngine

let (path, temporary) = databasePath(example: "s3-metadata")
defer { if temporary { try? FileManager.default.removeItem(atPath: path) } }

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// One page of a listing, as ListObjectsV2 returns it.
struct ListPage {
    var contents: [(key: String, meta: String)] = []
    var commonPrefixes: [String] = []
    var isTruncated = false
    var nextContinuationToken: String?
}

/// The continuation token: the hex of the last position (opaque to the client).
func token(_ position: [UInt8]) -> String { position.map { String(format: "%02x", $0) }.joined() }
func position(_ token: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = token.startIndex
    while index < token.endIndex {
        let next = token.index(index, offsetBy: 2)
        out.append(UInt8(token[index..<next], radix: 16)!)
        index = next
    }
    return out
}

/// ListObjectsV2(bucket, prefix, delimiter, max-keys, continuation-token): one range query.
/// Keys are `<bucket>/<object key>`; a common prefix counts toward max-keys, as in S3.
func listObjects(
    _ tree: Tree, bucket: String, prefix: String, delimiter: Character?, maxKeys: Int, continuationToken: String?
) throws -> ListPage {
    let base = bytes(bucket + "/")
    let query = RangeQuery(
        prefix: base + bytes(prefix), startAfter: continuationToken.map(position),
        delimiter: delimiter.map { UInt8(ascii: $0.unicodeScalars.first!) }, limit: maxKeys + 1)
    let items = try tree.range(query)
    var page = ListPage()
    for item in items.prefix(maxKeys) {
        switch item {
        case .entry(let key, let value): page.contents.append((text(Array(key[base.count...])), text(value)))
        case .commonPrefix(let bytes): page.commonPrefixes.append(text(Array(bytes[base.count...])))
        }
    }
    // One item more than asked tells whether another page follows.
    if items.count > maxKeys, let last = items.prefix(maxKeys).last {
        page.isTruncated = true
        page.nextContinuationToken = token(last.position)
    }
    return page
}

/// Lists every page and prints each; returns (objects, prefixes, pages).
@discardableResult
func listAll(_ tree: Tree, bucket: String, prefix: String, delimiter: Character?, maxKeys: Int) throws -> (Int, Int, Int) {
    print("ListObjectsV2 bucket=\(bucket) prefix=\(prefix) delimiter=\(delimiter.map(String.init) ?? "(none)") max-keys=\(maxKeys)")
    var tokenIn: String? = nil
    var objects = 0, prefixes = 0, pages = 0
    repeat {
        let page = try listObjects(tree, bucket: bucket, prefix: prefix, delimiter: delimiter, maxKeys: maxKeys, continuationToken: tokenIn)
        pages += 1
        objects += page.contents.count
        prefixes += page.commonPrefixes.count
        let shown = page.contents.map(\.key) + page.commonPrefixes.map { $0 + " (prefix)" }
        print("  page \(pages): \(shown.joined(separator: ", "))\(page.isTruncated ? "; truncated, next token \(page.nextContinuationToken!)" : "")")
        tokenIn = page.nextContinuationToken
    } while tokenIn != nil
    print("  total: \(objects) objects, \(prefixes) common prefixes in \(pages) pages")
    return (objects, prefixes, pages)
}

do {
    print("s3-metadata: object listings from a holt database at \(path)")
    let tree = try Tree.open(path: path)
    var ops: [TxnOp] = []
    var objects: [String] = ["index.html", "robots.txt"]
    for year in [2023, 2024] {
        for month in 1...3 {
            for image in 1...2 { objects.append(String(format: "photos/%d/%02d/img%04d.jpg", year, month, image)) }
        }
    }
    objects += ["photos/cover.jpg", "videos/intro.mp4"]
    for (index, key) in objects.enumerated() {
        ops.append(.put(key: bytes("bucket-a/" + key), value: bytes("etag=\(String(format: "%08x", index &* 2_654_435_761 & 0xFFFF_FFFF)) size=\(1000 + index)")))
    }
    ops.append(.put(key: bytes("bucket-b/other.txt"), value: bytes("etag=0 size=1")))
    try tree.apply(ops)
    print("put \(ops.count) objects in two buckets")

    // The bucket's top level: two objects and two "folders".
    try listAll(tree, bucket: "bucket-a", prefix: "", delimiter: "/", maxKeys: 3)
    // One folder, paged two at a time.
    try listAll(tree, bucket: "bucket-a", prefix: "photos/", delimiter: "/", maxKeys: 2)
    // A folder's whole subtree, flat (no delimiter), five keys a page.
    try listAll(tree, bucket: "bucket-a", prefix: "photos/2024/", delimiter: nil, maxKeys: 5)
    // HEAD object.
    let head = try tree.get(bytes("bucket-a/photos/2024/02/img0001.jpg")).map(text) ?? "(absent)"
    print("HEAD photos/2024/02/img0001.jpg -> \(head)")
    // DELETE a "folder": its keys go with one prefix move to a trash key, then one range delete.
    try tree.renamePrefix(from: bytes("bucket-a/photos/2023"), to: bytes("trash/photos-2023"))
    let trash = try tree.range(prefix: bytes("trash/")).map { TxnOp.delete(key: $0.position) }
    try tree.apply(trash)
    print("DELETE photos/2023/: \(trash.count) keys moved aside by one renamePrefix, then deleted in one batch")
    try listAll(tree, bucket: "bucket-a", prefix: "photos/", delimiter: "/", maxKeys: 10)
    try tree.close()
    print("s3-metadata: ok")
} catch {
    print("s3-metadata: failed: \(error)")
    exit(1)
}

func databasePath(example: String) -> (String, Bool) {
    if CommandLine.arguments.count > 1 { return (CommandLine.arguments[1], false) }
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(example)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))").path
    return (directory, true)
}
