// Protects writers in parallel (`Options.parallelWriters`): batches of puts from several threads
// are applied at once, yet each stays whole to every reader (lock-free gets, forEach under the
// shared lock), batches that share keys leave them as the last one logged set them, splits
// under several writers lose nothing, the final state matches an oracle before and after a
// reopen, and a process killed while they run loses no acknowledged batch.
import Foundation
import Synchronization
import Testing

@testable import HoltEngine

@Suite struct ParallelWriterTests {
    /// Key `index` of group `group`: one batch writes every key of a group with one stamp.
    static func groupKey(_ group: Int, _ index: Int) -> [UInt8] { Array("p/g\(group)/k\(index)".utf8) }

    /// A stamp as a value: 8 little-endian bytes, then `padding` bytes.
    static func stamped(_ stamp: UInt64, padding: Int = 40) -> [UInt8] {
        withUnsafeBytes(of: stamp.littleEndian) { Array($0) } + [UInt8](repeating: 0x61, count: padding)
    }

    static func stamp(_ value: [UInt8]) -> UInt64 {
        var stamp: UInt64 = 0
        for shift in 0..<8 { stamp |= UInt64(value[shift]) << (8 * UInt64(shift)) }
        return stamp
    }

    static let keysPerGroup = 12
    static let groupsPerWriter = 8
    /// Written by every writer: batches on it wait for each other's keys.
    static let sharedGroup = 10_000

    /// Writer `writer`'s batch number `number`: every key of one of its groups set to a stamp
    /// that grows with `number`, fresh keys that grow the tree (splits), and, one batch in
    /// four, the shared group.
    static func batch(writer: Int, number: Int) -> (group: Int, ops: [TxnOp]) {
        let group = writer * groupsPerWriter + number % groupsPerWriter
        let stamp = UInt64(number + 1)
        var ops: [TxnOp] = (0..<keysPerGroup).map { .put(key: groupKey(group, $0), value: stamped(stamp)) }
        for fresh in 0..<20 {
            ops.append(.put(key: Array("f/w\(writer)/d\(number % 37)/n\(number)-\(fresh)".utf8), value: stamped(stamp, padding: 120)))
        }
        if number % 4 == 0 {
            let shared = (UInt64(writer) << 32) | stamp
            ops += (0..<keysPerGroup).map { .put(key: groupKey(sharedGroup, $0), value: stamped(shared)) }
        }
        return (group, ops)
    }

    @Test func parallelBatchesStayWholeAndMatchTheOracle() throws { try MallocQuiet.allocating {
        let long = ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] != nil
        let dir = try TemporaryDirectory("parallel-writers")
        let options = Options(cacheBytes: 256 << 20, sync: .none, checkpointLogBytes: 1 << 20)
        let tree = try Tree.open(path: dir.path, options: options)
        let writers = 4, readers = 2
        let batchesPerWriter = long ? 6_000 : 600
        let problems = Locked<[String]>([])
        let writersDone = Atomic<Int>(0)
        let checks = Atomic<Int>(0)
        let threads = (0..<(writers + readers)).map { thread in PlainThread {
            do {
                if thread < writers {
                    for number in 0..<batchesPerWriter { try tree.apply(Self.batch(writer: thread, number: number).ops) }
                    writersDone.add(1, ordering: .sequentiallyConsistent)
                    return
                }
                var random = SeededGenerator(seed: 11 + UInt64(thread))
                while writersDone.load(ordering: .sequentiallyConsistent) < writers {
                    // Key by key without a lock: a group's keys were written by one batch each
                    // time, with growing stamps, so reading them in order never goes back.
                    let group = Int(random.next() % UInt64(writers * Self.groupsPerWriter))
                    var last: UInt64 = 0
                    for index in 0..<Self.keysPerGroup {
                        guard let value = try tree.get(Self.groupKey(group, index)) else {
                            if last > 0 { problems.withLock { $0.append("group \(group) key \(index) gone after stamp \(last)") } }
                            continue
                        }
                        let stamp = Self.stamp(value)
                        if stamp < last { problems.withLock { $0.append("group \(group) key \(index): stamp \(stamp) after \(last)") } }
                        last = stamp
                    }
                    // Under the shared lock, one time in eight (a reader under the lock keeps
                    // parallel batches from starting: they are then applied one at a time):
                    // one stamp across a group, the shared one included.
                    if random.next() % 8 == 0 { for checked in [group, Self.sharedGroup] {
                        var stamps = Set<UInt64>()
                        var count = 0
                        try tree.forEach(RangeQuery(prefix: Array("p/g\(checked)/".utf8))) { view in
                            stamps.insert(Self.stamp(Array(view.value)))
                            count += 1
                            return true
                        }
                        if stamps.count > 1 || (count != 0 && count != Self.keysPerGroup) {
                            problems.withLock { $0.append("group \(checked): \(count) keys, stamps \(stamps.sorted())") }
                        }
                    } }
                    checks.add(1, ordering: .relaxed)
                }
            } catch {
                problems.withLock { $0.append("thread \(thread): \(error)") }
                writersDone.add(writers, ordering: .sequentiallyConsistent)
            }
        } }
        for thread in threads { thread.join() }
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
        #expect(checks.load(ordering: .relaxed) > 0)
        let stats = try tree.statistics()
        #expect(stats.parallelBatches > writers * batchesPerWriter / 10, "batches in parallel: \(stats.parallelBatches)")
        #expect(stats.parallelBatchesBesideAnother > 0, "no two batches were ever applied at once")

        // The oracle: every batch's puts in each writer's order; the shared group holds one
        // writer's last batch on it, whole.
        var oracle = [[UInt8]: [UInt8]]()
        for writer in 0..<writers {
            for number in 0..<batchesPerWriter {
                for case .put(let key, let value) in Self.batch(writer: writer, number: number).ops
                where !key.starts(with: Array("p/g\(Self.sharedGroup)/".utf8)) {
                    oracle[key] = value
                }
            }
        }
        func check(_ tree: Tree, _ when: String) throws {
            #expect(try tree.verify().isEmpty, "\(when)")
            var found = 0
            var sharedStamps = Set<UInt64>()
            try tree.forEach(RangeQuery()) { view in
                let key = Array(view.key), value = Array(view.value)
                if key.starts(with: Array("p/g\(Self.sharedGroup)/".utf8)) {
                    sharedStamps.insert(Self.stamp(value))
                } else {
                    found += 1
                    if oracle[key] != value { problems.withLock { $0.append("\(when): \(String(decoding: key, as: UTF8.self)) differs") } }
                }
                return true
            }
            #expect(found == oracle.count, "\(when): \(found) keys, \(oracle.count) expected")
            #expect(sharedStamps.count == 1, "\(when): shared group stamps \(sharedStamps)")
            #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
        }
        try check(tree, "before reopening")
        try tree.close()
        let reopened = try Tree.open(path: dir.path, options: options)
        defer { try? reopened.close() }
        try check(reopened, "after reopening")
    } }

    @Test func serialBatchesAndReadersUnderTheLockInterleaveWithParallelOnes() throws {
        // Batches with conditions, deletes and renames beside parallel puts: each waits for the
        // parallel batches in flight and none starts meanwhile; the counter keys stay exact.
        let dir = try TemporaryDirectory("parallel-mixed")
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 64 << 20, sync: .none, checkpointLogBytes: 256 << 10))
        defer { try? tree.close() }
        let problems = Locked<[String]>([])
        let rounds = 400
        let threads = (0..<3).map { thread in PlainThread {
            do {
                for number in 0..<rounds {
                    switch thread {
                    case 0, 1:
                        try tree.apply(Self.batch(writer: thread, number: number).ops)
                    default:
                        // A counter under a condition, a rename and a delete: serial batches.
                        let key = Array("c/counter".utf8)
                        let old = try tree.get(key)
                        let next = (old.map(Self.stamp) ?? 0) + 1
                        var ops: [TxnOp] = [.put(key: key, value: Self.stamped(next))]
                        if let old { ops.insert(.expect(key: key, .value(old)), at: 0) } else { ops.insert(.expect(key: key, .absent), at: 0) }
                        try tree.apply(ops)
                        try tree.apply([.put(key: Array("c/from".utf8), value: [1])])
                        try tree.apply([.rename(from: Array("c/from".utf8), to: Array("c/to\(number)".utf8))])
                        try tree.apply([.delete(key: Array("c/to\(number)".utf8))])
                    }
                }
            } catch {
                problems.withLock { $0.append("thread \(thread): \(error)") }
            }
        } }
        for thread in threads { thread.join() }
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
        #expect(try tree.get(Array("c/counter".utf8)).map(Self.stamp) == UInt64(rounds))
        #expect(try tree.range(RangeQuery(prefix: Array("c/".utf8))).count == 1)
        for writer in 0..<2 {
            let last = Self.batch(writer: writer, number: rounds - 1)
            for case .put(let key, let value) in last.ops where !key.starts(with: Array("p/g\(Self.sharedGroup)/".utf8)) {
                #expect(try tree.get(key) == value)
            }
        }
        #expect(try tree.verify().isEmpty)
    }

    @Test func parallelWritersCanBeTurnedOff() throws {
        let dir = try TemporaryDirectory("parallel-off")
        var options = Options(cacheBytes: 16 << 20, sync: .none)
        options.parallelWriters = false
        let tree = try Tree.open(path: dir.path, options: options)
        defer { try? tree.close() }
        try tree.apply(Self.batch(writer: 0, number: 0).ops)
        #expect(try tree.statistics().parallelBatches == 0)
    }

    /// The child of the kill test: four threads apply their batches with `.always` and append
    /// each acknowledged batch number to their ack file, then the process kills itself.
    static func runChild(path: String) throws {
        let tree = try Tree.open(path: path, options: Options(cacheBytes: 32 << 20, sync: .always, checkpointLogBytes: 256 << 10))
        let threads = (0..<4).map { writer in PlainThread {
            let ack = AckFile(path + ".ack\(writer)")
            for number in 0..<300 {
                try? ack.apply(number) { () throws(HoltError) in try tree.apply(Self.batch(writer: writer, number: number).ops) }
            }
        } }
        for thread in threads { thread.join() }
        kill(getpid(), SIGKILL)
    }

    @Test func aKilledProcessKeepsEveryAcknowledgedParallelBatch() async throws {
        let dir = try TemporaryDirectory("parallel-kill")
        let path = dir.appending("db")
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String] in
            Failpoints.arm("store.afterBlobWrite", .kill, onHit: 40)
            try ParallelWriterTests.runChild(path: path)
        }
        let tree = try Tree.open(path: path, options: Options(sync: .none))
        defer { try? tree.close() }
        #expect(try tree.verify().isEmpty)
        var acknowledged = 0
        for writer in 0..<4 {
            let acked = AckFile.count(path + ".ack\(writer)")
            acknowledged += acked
            // Every acknowledged batch of this writer is there; its groups hold stamps at least
            // as new as its last acknowledged batch on them, and each group is whole.
            for number in 0..<acked {
                let (_, ops) = Self.batch(writer: writer, number: number)
                for case .put(let key, let value) in ops where key.starts(with: Array("f/".utf8)) {
                    #expect(try tree.get(key) == value, "writer \(writer) batch \(number)")
                }
            }
            for group in (writer * Self.groupsPerWriter)..<((writer + 1) * Self.groupsPerWriter) {
                let stamps = Set(try tree.range(RangeQuery(prefix: Array("p/g\(group)/".utf8))).compactMap { item -> UInt64? in
                    if case .entry(_, let value) = item { return Self.stamp(value) }
                    return nil
                })
                #expect(stamps.count <= 1, "group \(group) torn: \(stamps)")
            }
        }
        #expect(acknowledged > 0)
    }
}
