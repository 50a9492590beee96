// Protects getxattr against torn values: a value over 256 bytes lives in parts outside the inode
// record, and a reader racing a writer that replaces it must get one whole value, old or new,
// never parts of both; also when the value moves between the record and the parts, and when it
// is removed (then ENODATA is a fine answer).
import Foundation
import HoltEngine
import Synchronization
import Testing

@testable import HoltFS

@Suite struct XattrConcurrencyTests {
    /// Runs `writer` (with the number of its round) in one thread while `reader` runs in another,
    /// until the writer has done `rounds` rounds; returns what the reader reported.
    private static func race(
        rounds: Int, writer: @escaping @Sendable (Int) throws -> Void, reader: @escaping @Sendable () -> String?
    ) -> [String] {
        let done = Atomic<Bool>(false)
        let problems = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            if worker == 0 {
                defer { done.store(true, ordering: .sequentiallyConsistent) }
                for round in 0..<rounds {
                    do { try writer(round) } catch {
                        problems.withLock { $0.append("writer: \(error)") }
                        return
                    }
                }
            } else {
                while !done.load(ordering: .sequentiallyConsistent) {
                    if let problem = reader() {
                        problems.withLock { $0.append(problem) }
                        return
                    }
                }
            }
        }
        return problems.withLock { $0 }
    }

    /// What is wrong with `value` read while the writer stores whole values of one repeated byte
    /// (of lengths in `lengths`), or nil when it is one of them.
    private static func problem(with value: [UInt8], lengths: Set<Int>) -> String? {
        guard let first = value.first else { return lengths.contains(0) ? nil : "an empty value" }
        guard lengths.contains(value.count) else { return "a value of \(value.count) bytes" }
        guard let other = value.firstIndex(where: { $0 != first }) else { return nil }
        return "a torn value: \(value.count) bytes, \(first) up to byte \(other), then \(value[other])"
    }

    @Test func aBigValueIsNeverReadTornWhileItIsReplaced() throws {
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        let fs = f.fs
        let name = Array("user.big".utf8)
        try fs.setxattr(node, name: name, value: [UInt8](repeating: UInt8(ascii: "a"), count: 65_536), mode: .either)
        let problems = Self.race(rounds: 2000, writer: { round in
            let byte = UInt8(ascii: round % 2 == 0 ? "b" : "a")
            try fs.setxattr(node, name: name, value: [UInt8](repeating: byte, count: 65_536), mode: .replace)
        }, reader: {
            do {
                return Self.problem(with: try fs.getxattr(node, name: name), lengths: [65_536])
            } catch {
                return "getxattr: \(error)"
            }
        })
        #expect(problems.isEmpty, "\(problems)")
        f.check()
    }

    @Test func aValueMovingBetweenRecordAndPartsOrRemovedIsReadWhole() throws {
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        let fs = f.fs
        let name = Array("user.v".utf8)
        // Lengths: inline (100), one part (20,000), two parts (40,000 and 65,536); sometimes removed.
        let lengths = [100, 20_000, 40_000, 65_536]
        let problems = Self.race(rounds: 2000, writer: { round in
            if round % 7 == 6 {
                try? fs.removexattr(node, name: name)
                return
            }
            let byte = UInt8(truncatingIfNeeded: round % 251 + 1)
            try fs.setxattr(node, name: name, value: [UInt8](repeating: byte, count: lengths[round % 4]), mode: .either)
        }, reader: {
            do throws(FSError) {
                return Self.problem(with: try fs.getxattr(node, name: name), lengths: Set(lengths))
            } catch .noAttribute {
                return nil
            } catch {
                return "getxattr: \(error)"
            }
        })
        #expect(problems.isEmpty, "\(problems)")
        f.check()
    }
}
