// Protects the tree's concurrency: batches stay atomic to readers while writers and the
// background checkpointer run (a reader summing every account inside one forEach always finds
// the same total), the final state matches an oracle, and a read never waits for a checkpoint
// (a checkpoint stopped half-way at a failpoint does not keep a get from answering).
import Foundation
import Synchronization
import Testing

@testable import HoltEngine

@Suite struct TreeConcurrencyTests {
    /// The key of account `index`.
    static func account(_ index: Int) -> [UInt8] { Array(String(format: "bank/%04d", index).utf8) }

    /// An account's balance as 8 little-endian bytes.
    static func balance(_ value: Int64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    static func decode(_ bytes: some Collection<UInt8>) -> Int64 {
        var value: Int64 = 0
        for (shift, byte) in bytes.enumerated() { value |= Int64(byte) << (8 * shift) }
        return value
    }

    @Test func transfersStayAtomicToReadersWhileCheckpointsRun() throws {
        let long = ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] != nil
        let dir = try TemporaryDirectory("tree-concurrency")
        // A small log threshold: the background checkpointer runs many times during the test.
        let tree = try Tree.open(path: dir.path, options: Options(cacheBytes: 8 << 20, sync: .none, checkpointLogBytes: 64 << 10))
        let accounts = 500, initial: Int64 = 1_000
        try tree.apply((0..<accounts).map { .put(key: Self.account($0), value: Self.balance(initial)) })
        let total = Int64(accounts) * initial
        let transfersPerWriter = long ? 20_000 : 1_000
        let writers = 2, readers = 2
        let problems = Locked<[String]>([])
        let finalBalances = Locked<[Int64]>(Array(repeating: initial, count: accounts))
        let writersDone = Atomic<Int>(0)
        let sums = Atomic<Int>(0)
        // Plain threads, all at once (concurrentPerform may run them two by two on two cores).
        let threads = (0..<(writers + readers)).map { thread in PlainThread {
            if thread < writers {
                var random = SeededGenerator(seed: 7 + UInt64(thread))
                for _ in 0..<transfersPerWriter {
                    // Read two balances, then move 1..10 units with guards on both (retry on a race).
                    let from = Int(random.next() % UInt64(accounts)), to = Int(random.next() % UInt64(accounts))
                    if from == to { continue }
                    let amount = Int64(random.next() % 10) + 1
                    while true {
                        do {
                            guard let a = try tree.get(Self.account(from)), let b = try tree.get(Self.account(to)) else {
                                problems.withLock { $0.append("account missing") }
                                return
                            }
                            try tree.apply([
                                .expect(key: Self.account(from), .value(a)), .expect(key: Self.account(to), .value(b)),
                                .put(key: Self.account(from), value: Self.balance(Self.decode(a) - amount)),
                                .put(key: Self.account(to), value: Self.balance(Self.decode(b) + amount)),
                            ])
                            finalBalances.withLock { $0[from] -= amount; $0[to] += amount }
                            break
                        } catch HoltError.conditionFailed {
                            continue
                        } catch {
                            problems.withLock { $0.append("transfer: \(error)") }
                            return
                        }
                    }
                }
                writersDone.add(1, ordering: .sequentiallyConsistent)
            } else {
                while writersDone.load(ordering: .sequentiallyConsistent) < writers {
                    var sum: Int64 = 0, count = 0
                    do {
                        try tree.forEach(RangeQuery(prefix: Array("bank/".utf8))) { item in
                            sum += Self.decode(item.value)
                            count += 1
                            return true
                        }
                    } catch {
                        problems.withLock { $0.append("forEach: \(error)") }
                        return
                    }
                    if sum != total || count != accounts {
                        problems.withLock { $0.append("a reader saw \(count) accounts holding \(sum), not \(accounts) holding \(total)") }
                    }
                    sums.add(1, ordering: .relaxed)
                }
            }
        } }
        for thread in threads { thread.join() }
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0.prefix(5) })")
        #expect(sums.load(ordering: .relaxed) > 0)
        tree.waitForCheckpointer()
        #expect(try tree.statistics().checkpoints > 0, "the checkpointer never ran: the test checked nothing about it")
        let expected = finalBalances.withLock { $0 }
        for index in 0..<accounts {
            #expect(try tree.get(Self.account(index)).map { Self.decode($0) } == expected[index])
        }
        #expect(try tree.verify() == [])
        try tree.close()
        // And after a reopen (checkpoint + log replay).
        let reopened = try Tree.open(path: dir.path)
        for index in 0..<accounts {
            #expect(try reopened.get(Self.account(index)).map { Self.decode($0) } == expected[index])
        }
        try reopened.close()
    }

    @Test func aReadDoesNotWaitForACheckpoint() async throws {
        let dir = try TemporaryDirectory("tree-read-during-checkpoint")
        await #expect(processExitsWith: .success) { [path = dir.path as String] in
            let tree = try Tree.open(path: path, options: Options(sync: .none))
            for index in 0..<2_000 { try tree.put(Array("k/\(index)".utf8), Array(repeating: 1, count: 100)) }
            // A checkpoint that stops after writing its blobs, before its manifest.
            Failpoints.arm("checkpoint.beforeManifestWrite", .block)
            let checkpointing = Thread { try? tree.checkpoint() }
            checkpointing.start()
            guard Failpoints.waitUntilBlocked("checkpoint.beforeManifestWrite") else { exit(2) }
            // The checkpoint is under way and holds the writer lock: reads answer all the same.
            let answered = Atomic<Bool>(false)
            let reader = Thread {
                if (try? tree.get(Array("k/7".utf8))) != nil, (try? tree.range(RangeQuery(prefix: Array("k/".utf8), limit: 10)))?.count == 10 {
                    answered.store(true, ordering: .sequentiallyConsistent)
                }
            }
            reader.start()
            let deadline = Date().addingTimeInterval(10)
            while !answered.load(ordering: .sequentiallyConsistent), Date() < deadline { usleep(1_000) }
            let ok = answered.load(ordering: .sequentiallyConsistent)
            Failpoints.resume("checkpoint.beforeManifestWrite")
            guard ok else { exit(3) }
            let end = Date().addingTimeInterval(10)
            while checkpointing.isExecuting {
                guard Date() < end else { exit(4) }
                usleep(1_000)
            }
            try tree.close()
        }
    }
}
