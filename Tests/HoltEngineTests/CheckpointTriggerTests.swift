// Protects when the tree checkpoints by itself: past `checkpointLogBytes` of log only when the
// checkpoint would write no more blob bytes than the log bytes it trims, and past twice that
// always (the bound on replay at open).
import Testing
@testable import HoltEngine

@Suite struct CheckpointTriggerTests {
    /// Puts `key(i)` for i = 0, 1, ... until the log has taken `logBytes` bytes since open.
    func fill(_ tree: Tree, untilLog logBytes: Int, keys: Int, from start: inout Int) throws {
        while try tree.statistics().logBytes < logBytes {
            try tree.put(Array("dir/key-\(start % keys)".utf8), [UInt8](repeating: UInt8(start % 251), count: 200))
            start += 1
        }
        // Checkpoints run on the background thread: let it finish what the puts asked of it.
        tree.waitForCheckpointer()
    }

    @Test func aCheckpointThatWouldWriteMoreThanTheLogWaitsForTwiceTheThreshold() throws {
        let dir = try TemporaryDirectory("ckpt-trigger")
        let threshold = 256 << 10
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none, checkpointLogBytes: threshold))
        defer { try? tree.close() }
        var next = 0
        // Past the threshold, one dirty 512 KiB blob (at least) against < 512 KiB of log: no checkpoint.
        try fill(tree, untilLog: threshold * 3 / 2, keys: 1_000_000, from: &next)
        #expect(try tree.statistics().checkpoints == 0)
        // Past twice the threshold: a checkpoint, whatever it writes.
        try fill(tree, untilLog: threshold * 2 + (16 << 10), keys: 1_000_000, from: &next)
        let checkpoints = try tree.statistics().checkpoints
        #expect(checkpoints == 1)
        #expect(try tree.verify() == [])
    }

    @Test func aCheckpointThatWritesLessThanTheLogRunsAtTheThreshold() throws {
        let dir = try TemporaryDirectory("ckpt-trigger")
        let threshold = 1 << 20
        let tree = try Tree.open(path: dir.path, options: Options(sync: .none, checkpointLogBytes: threshold))
        defer { try? tree.close() }
        var next = 0
        // 100 keys overwritten again and again: one dirty blob (512 KiB) against 1 MiB of log.
        try fill(tree, untilLog: threshold - (16 << 10), keys: 100, from: &next)
        #expect(try tree.statistics().checkpoints == 0)
        try fill(tree, untilLog: threshold + (16 << 10), keys: 100, from: &next)
        let checkpoints = try tree.statistics().checkpoints
        #expect(checkpoints == 1)
        #expect(try tree.get(Array("dir/key-7".utf8)) != nil)
    }
}
