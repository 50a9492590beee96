// session-store: web sessions with expiry times, through HoltEngine's public API.
// Each session is a key `session/<id>` whose value holds its user and its expiry time; a sweep
// finds the expired ones with one range scan and deletes them in one batch whose `.expect`
// conditions make sure no session is deleted after someone refreshed it. The clock is simulated
// (a fixed "now"), so the output is the same on every run.
//
//   swift run session-store [DB-DIRECTORY]
import Foundation
import HoltEngine

let (path, temporary) = databasePath(example: "session-store")
defer { if temporary { try? FileManager.default.removeItem(atPath: path) } }

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// A session's value: `user=<name>;expires=<ms since the epoch>`.
struct Session {
    var user: String
    var expires: Int64

    var encoded: [UInt8] { bytes("user=\(user);expires=\(expires)") }

    init(user: String, expires: Int64) {
        self.user = user
        self.expires = expires
    }

    init?(_ value: [UInt8]) {
        var user: String?
        var expires: Int64?
        for field in text(value).split(separator: ";") {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            if parts[0] == "user" { user = parts[1] }
            if parts[0] == "expires" { expires = Int64(parts[1]) }
        }
        guard let user, let expires else { return nil }
        self.init(user: user, expires: expires)
    }
}

/// The expired sessions at `now`, with the value each was read with (one range scan; the body
/// copies what it keeps and never calls the tree).
func expired(_ tree: Tree, now: Int64) throws -> [(key: [UInt8], value: [UInt8])] {
    var found: [(key: [UInt8], value: [UInt8])] = []
    try tree.forEach(RangeQuery(prefix: bytes("session/"))) { view in
        let value = [UInt8](view.value)
        if let session = Session(value), session.expires <= now { found.append(([UInt8](view.key), value)) }
        return true
    }
    return found
}

do {
    print("session-store: sessions with expiry times in a holt database at \(path)")
    let tree = try Tree.open(path: path)
    let now: Int64 = 1_700_000_000_000  // the simulated clock, ms
    let minute: Int64 = 60_000
    // Ten sessions; the odd ones expire before `now`.
    var batch: [TxnOp] = []
    for index in 0..<10 {
        let expires = index % 2 == 1 ? now - Int64(index) * minute : now + Int64(index + 1) * minute
        let session = Session(user: "user\(index)", expires: expires)
        // .expect(.absent): a session id is never reused; the batch fails as a whole if one is.
        batch.append(.expect(key: bytes("session/s\(index)"), .absent))
        batch.append(.put(key: bytes("session/s\(index)"), value: session.encoded))
    }
    try tree.apply(batch)
    print("created 10 sessions in one batch")

    // Creating s3 again: refused by its .expect, nothing of the batch applied.
    if let (index, key) = try refusal({
        try tree.apply([
            .put(key: bytes("session/s100"), value: Session(user: "late", expires: now + minute).encoded),
            .expect(key: bytes("session/s3"), .absent),
            .put(key: bytes("session/s3"), value: Session(user: "intruder", expires: now + minute).encoded),
        ])
    }) {
        let absent = try tree.get(bytes("session/s100")) == nil
        print("create session/s3 again: refused (condition of op \(index) on \(text(key))); session/s100 not written either: \(absent)")
    }

    // The sweep: find the expired sessions, then delete them in one batch, each guarded by the
    // value it was read with.
    var stale = try expired(tree, now: now)
    print("expired at now: \(stale.count) (\(stale.map { text($0.key) }.joined(separator: ", ")))")

    // Meanwhile user1 logs in again: the session is refreshed (a compare-and-swap on its value).
    let refreshedKey = bytes("session/s1")
    let old = try require(try tree.get(refreshedKey))
    try tree.apply([.expect(key: refreshedKey, .value(old)), .put(key: refreshedKey, value: Session(user: "user1", expires: now + 30 * minute).encoded)])
    print("refreshed session/s1 until now + 30 min")

    // The sweep's batch now fails: session/s1 no longer holds the value the scan saw.
    var sweep = stale.flatMap { [TxnOp.expect(key: $0.key, .value($0.value)), .delete(key: $0.key)] }
    if let (index, key) = try refusal({ try tree.apply(sweep) }) {
        print("sweep: refused at op \(index) (\(text(key)) changed since the scan); nothing deleted")
    }
    // Scan again and sweep what is still expired.
    stale = try expired(tree, now: now)
    sweep = stale.flatMap { [TxnOp.expect(key: $0.key, .value($0.value)), .delete(key: $0.key)] }
    try tree.apply(sweep)
    print("swept \(stale.count) expired sessions in one batch")

    let left = try tree.range(prefix: bytes("session/"))
    print("sessions left: \(left.count) (\(left.map { text($0.position) }.joined(separator: ", ")))")
    print("expired at now + 3 min: \(try expired(tree, now: now + 3 * minute).count)")
    try tree.close()
    print("session-store: ok")
} catch {
    print("session-store: failed: \(error)")
    exit(1)
}

/// Runs `batch`; returns the op index and key of the condition that refused it, nil when it applied.
func refusal(_ batch: () throws -> Void) throws -> (Int, [UInt8])? {
    do {
        try batch()
        return nil
    } catch let error as HoltError {
        guard case .conditionFailed(let index, let key, _) = error else { throw error }
        return (index, key)
    }
}

/// `#require` for a script: the value, or an error.
func require<T>(_ value: T?) throws -> T {
    guard let value else { throw HoltError.invalidKey(reason: "missing value") }
    return value
}

func databasePath(example: String) -> (String, Bool) {
    if CommandLine.arguments.count > 1 { return (CommandLine.arguments[1], false) }
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(example)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))").path
    return (directory, true)
}
