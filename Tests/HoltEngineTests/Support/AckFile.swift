#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HoltEngine

/// The acknowledgement file of a crash test's child: one line per batch that `apply` returned
/// from (applied, or refused as a whole), appended with `write(2)` so that a SIGKILL right after
/// loses none (the page cache keeps it). The parent counts the lines after the child died.
struct AckFile {
    private let fd: Int32

    /// Opens (creating) the file at `path` for appending.
    init(_ path: String) { fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644) }

    /// Applies a batch with `apply` as the child does: a refusal (a condition, a bad key) is
    /// an answer, as the oracle refuses the same batch; any other error throws. Then appends
    /// the batch's `number`.
    func apply(_ number: Int, _ apply: () throws(HoltError) -> Void) throws {
        do { try apply() } catch {
            switch error {
            case .conditionFailed, .invalidKey: break
            default: throw error
            }
        }
        let line = "\(number)\n"
        _ = line.withCString { write(fd, $0, strlen($0)) }
    }

    /// The batches acknowledged in the file at `path` (0 when it is missing).
    static func count(_ path: String) -> Int {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}
