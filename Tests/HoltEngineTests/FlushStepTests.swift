// Protects the write buffer's flush in steps (`Tree.flushWriteBufferStep`, docs/DESIGN.md "The
// write buffer"): a step applies one key range from where the last one ended, about its share
// of the keys, and the steps sweep the key space; a writer past the bound applies a step, not
// the whole buffer, and the buffer's oldest batch moves on; and a checkpoint that keeps the buffered batches in the log (its LSN before
// the oldest of them, the index already holding some of their ops) loses nothing when the
// process is killed and the log replayed over it.
import Foundation
import Testing
@testable import HoltEngine

@Suite struct FlushStepTests {
    @Test("Steps sweep the keys: each a range from where the last ended, about its share of the sweep", arguments: SeededGenerator.seeds(6))
    func stepsSweepTheKeys(seed: UInt64) {
        var keys = PathKeys(random: SeededGenerator(seed: seed))
        let buffer = WriteBuffer()
        var firstLSN: [[UInt8]: UInt64] = [:]
        var cursor: [UInt8]? = nil
        var steps = 0, wraps = 0
        // A sweep's ranges are cut when it starts, each about a step's share of the keys then;
        // keys added since go to their ranges too.
        var sweepStart = 0, addedSinceSweep = 0
        for lsn in UInt64(1)...60 {
            // A batch of puts and deletes, new keys and buffered ones, then a step when the
            // buffer holds 200 keys or more (the last 20 batches: steps until empty).
            let ops: [TxnOp] = lsn > 40 ? [] : (0..<30).map { _ in
                let key = !firstLSN.isEmpty && Int.random(in: 0..<5, using: &keys.random) == 0
                    ? firstLSN.keys.randomElement(using: &keys.random)! : keys.key()
                return Int.random(in: 0..<6, using: &keys.random) == 0 ? .delete(key: key) : .put(key: key, value: keys.value())
            }
            ops.withUnsafeBufferPointer { buffer.insert($0, lsn: lsn) }
            for op in ops where firstLSN[op.putOrDeleteKey] == nil {
                firstLSN[op.putOrDeleteKey] = lsn
                addedSinceSweep += 1
            }
            guard !buffer.isEmpty, lsn > 40 || buffer.count >= 200 else { continue }
            #expect(buffer.oldestLSN() == firstLSN.values.min())
            let (ops2, next) = buffer.stepOps(count: firstLSN.count / 8, from: cursor)
            let taken = Set(ops2.map(\.putOrDeleteKey))
            // The buffered keys from the cursor on (from the first when none lies past it), up to
            // `next` (to the last when nil).
            let sorted = firstLSN.keys.sorted(by: KeyOrder.precedes)
            var first = cursor.flatMap { c in sorted.firstIndex { !KeyOrder.precedes($0, c) } } ?? 0
            let newSweep = cursor == nil || !sorted.contains(where: { !KeyOrder.precedes($0, cursor!) })
            if newSweep {
                first = 0
                if steps > 0 { wraps += 1 }
                sweepStart = firstLSN.count
                addedSinceSweep = 0
            }
            let end = next.flatMap { n in sorted.firstIndex { !KeyOrder.precedes($0, n) } } ?? sorted.count
            #expect(taken == Set(sorted[first..<end]), "step \(steps): not the range from the cursor to the next")
            #expect(!taken.isEmpty && taken.count <= Swift.max(2, sweepStart / 4) + addedSinceSweep,
                    "\(taken.count) of \(firstLSN.count) keys taken (\(sweepStart) at the sweep's start, \(addedSinceSweep) added since)")
            buffer.remove(ops2)
            for key in taken { firstLSN[key] = nil }
            #expect(buffer.count == firstLSN.count)
            cursor = next
            steps += 1
        }
        while !buffer.isEmpty {
            let (ops, next) = buffer.stepOps(count: 8, from: cursor)
            buffer.remove(ops)
            cursor = next
        }
        #expect(buffer.oldestLSN() == nil && buffer.bytes == 0)
        #expect(steps >= 16 && wraps >= 1, "\(steps) steps, \(wraps) sweeps")
    }

    @Test("A key that left the buffer another way and came back is taken once")
    func aKeyThatCameBackIsTakenOnce() {
        let buffer = WriteBuffer()
        let keys = (0..<40).map { Array("dir/key\($0 + 10)".utf8) }
        let first = keys.map { TxnOp.put(key: $0, value: [1]) }
        first.withUnsafeBufferPointer { buffer.insert($0, lsn: 1) }
        // A sweep starts: its first range goes.
        var (ops, cursor) = buffer.stepOps(count: 5, from: nil)
        buffer.remove(ops)
        var taken = ops.map(\.putOrDeleteKey)
        // A batch that names the last key flushes it, then a later batch buffers it again.
        let last = keys.max(by: KeyOrder.precedes)!
        let (flushed, _) = buffer.ops(under: BufferFootprint([TxnOp.delete(key: last)]))
        buffer.remove(flushed)
        let again = [TxnOp.put(key: last, value: [2])]
        again.withUnsafeBufferPointer { buffer.insert($0, lsn: 2) }
        var rest: [TxnOp] = []
        while cursor != nil {
            (ops, cursor) = buffer.stepOps(count: 5, from: cursor)
            buffer.remove(ops)
            rest += ops
        }
        taken += rest.map(\.putOrDeleteKey)
        #expect(taken.count == keys.count && Set(taken) == Set(keys), "each key once")
        #expect(rest.map(\.putOrDeleteKey) == rest.map(\.putOrDeleteKey).sorted(by: KeyOrder.precedes))
        #expect(rest.contains { if case .put(last, [2]) = $0 { true } else { false } })
        #expect(buffer.isEmpty)
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
        // One step: about an eighth of the keys applied (fewer when the sweep reaches the last
        // key), the crossing batch's 20 came in.
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
        let ack = AckFile(path + ".ack")
        var left: Int? = nil
        for (number, batch) in WriteBufferTests.crashBatches(seed: seed, count: 5_000).enumerated() {
            try ack.apply(number) { () throws(HoltError) in try tree.apply(batch) }
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
        let acked = AckFile.count(path + ".ack")
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(tree.recovery.replayedBatches > 0, "nothing replayed: the checkpoint kept no batch")
        #expect(try tree.verify().isEmpty, "seed \(seed)")
        var oracle = Oracle()
        for batch in WriteBufferTests.crashBatches(seed: seed, count: acked) { _ = oracle.apply(batch) }
        #expect(try tree.range(RangeQuery()) == oracle.range(RangeQuery()), "seed \(seed): \(acked) acked batches, database differs")
    }
}
