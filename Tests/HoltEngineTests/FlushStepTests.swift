// Protects the write buffer's flush in steps (`Tree.flushWriteBufferStep`, docs/DESIGN.md "The
// write buffer"): a step applies one key range from the oldest entry's key, about its share of
// the keys, and moves the buffer's oldest batch on; a writer past the bound applies a step, not
// the whole buffer; and a checkpoint that keeps the buffered batches in the log (its LSN before
// the oldest of them, the index already holding some of their ops) loses nothing when the
// process is killed and the log replayed over it.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct FlushStepTests {
    @Test("A step takes a key range from the oldest entry's key on, about its share", arguments: SeededGenerator.seeds(6))
    func aStepIsARangeFromTheOldestKey(seed: UInt64) {
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        let buffer = WriteBuffer()
        var firstLSN: [[UInt8]: UInt64] = [:]
        for lsn in UInt64(1)...40 {
            let ops: [TxnOp] = (0..<50).map { _ in
                let key = !firstLSN.isEmpty && Int.random(in: 0..<5, using: &keys.random) == 0
                    ? firstLSN.keys.randomElement(using: &keys.random)! : keys.key()
                return Int.random(in: 0..<6, using: &keys.random) == 0 ? .delete(key: key) : .put(key: key, value: keys.value())
            }
            ops.withUnsafeBufferPointer { buffer.insert($0, lsn: lsn) }
            for op in ops { if case .put(let key, _) = op { firstLSN[key] = firstLSN[key] ?? lsn } else if case .delete(let key) = op { firstLSN[key] = firstLSN[key] ?? lsn } }
        }
        var steps = 0
        while !buffer.isEmpty {
            let oldest = firstLSN.values.min()!
            #expect(buffer.oldestLSN() == oldest)
            let ops = buffer.stepOps(count: firstLSN.count / 8)
            let taken = Set(ops.map { op -> [UInt8] in
                switch op { case .put(let key, _), .delete(let key): return key; default: return [] }
            })
            // A range of the buffered keys that starts at a key of the oldest batch.
            let sorted = firstLSN.keys.sorted { $0.lexicographicallyPrecedes($1) }
            let start = taken.min { $0.lexicographicallyPrecedes($1) }
            let first = start.flatMap { sorted.firstIndex(of: $0) }
            #expect(start.flatMap { firstLSN[$0] } == oldest, "the step does not start at the oldest batch's key")
            #expect(first.map { taken == Set(sorted[$0..<($0 + taken.count)]) } == true, "the step is not a range")
            #expect(!taken.isEmpty && taken.count <= Swift.max(2, firstLSN.count / 4), "\(taken.count) of \(firstLSN.count) keys taken")
            buffer.remove(ops)
            for key in taken { firstLSN[key] = nil }
            #expect(buffer.count == firstLSN.count)
            steps += 1
        }
        #expect(buffer.oldestLSN() == nil && buffer.bytes == 0)
        #expect(steps >= 8, "\(steps) steps")
    }

    @Test func aWriterPastTheBoundAppliesOneRange() throws {
        let dir = try TemporaryDirectory("wbuf-step")
        let tree = try Tree.open(path: dir.path, options: WriteBufferTests.options())
        defer { try? tree.close() }
        var keys = PathKeys(random: SeededGenerator(seed: 5))
        var before = 0
        while try tree.statistics().writeBufferFlushes == 0 {
            before = try tree.statistics().writeBufferKeys
            try tree.apply((0..<20).map { _ in .put(key: keys.key(), value: keys.value()) })
        }
        let after = try tree.statistics().writeBufferKeys
        // One step of 8 KiB of 64: about an eighth of the keys applied (fewer when the oldest
        // batch's key is near the end), the crossing batch's 20 came in.
        #expect(after > before / 2 && after < before + 20, "\(before) keys buffered, \(after) after one flush")
        for _ in 0..<400 { try tree.apply((0..<20).map { _ in .put(key: keys.key(), value: keys.value()) }) }
        let stats = try tree.statistics()
        #expect(stats.writeBufferFlushes >= 16, "\(stats)")
        // The oldest batch buffered moves on with the steps.
        let start = try #require(tree.writer.withLock { tree.bufferStartLSN }, "the buffer emptied")
        #expect(start > 100, "the buffer still holds batch \(start)")
    }

    /// The child: batches under `.always` (each durable when `apply` returns), acknowledged in a
    /// file; once two checkpoints kept buffered batches in the log, 50 more, then SIGKILL.
    static func runChild(path: String, seed: UInt64) throws {
        let tree = try Tree.open(path: path, options: WriteBufferTests.options(sync: .always, checkpointLogBytes: 64 << 10))
        let ack = open(path + ".ack", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var left: Int? = nil
        for (number, batch) in WriteBufferTests.crashBatches(seed: seed, count: 5_000).enumerated() {
            do { try tree.apply(batch) } catch {
                switch error {
                case .conditionFailed, .invalidKey: break
                default: throw error
                }
            }
            let line = "\(number)\n"
            _ = line.withCString { write(ack, $0, strlen($0)) }
            if left == nil, try tree.statistics().checkpointsBesideWriteBuffer >= 2 { left = 50 }
            if let count = left {
                if count == 0 { kill(getpid(), SIGKILL) }
                left = count - 1
            }
        }
        exit(3)
    }

    @Test("A kill after checkpoints that kept buffered batches loses nothing", arguments: SeededGenerator.seeds(3))
    func killAfterCheckpointsBesideTheBuffer(seed: UInt64) async throws {
        let dir = try TemporaryDirectory("wbuf-step-crash")
        let path = dir.appending("db")
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String, seed = seed as UInt64] in
            try FlushStepTests.runChild(path: path, seed: seed)
        }
        let acked = ((try? String(contentsOfFile: path + ".ack", encoding: .utf8)) ?? "").split(separator: "\n").count
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(tree.recovery.replayedBatches > 0, "nothing replayed: the checkpoint kept no batch")
        #expect(try tree.verify().isEmpty, "seed \(seed)")
        var oracle = Oracle()
        for batch in WriteBufferTests.crashBatches(seed: seed, count: acked) { _ = oracle.apply(batch) }
        #expect(try tree.range(RangeQuery()) == oracle.range(RangeQuery()), "seed \(seed): \(acked) acked batches, database differs")
    }
}
