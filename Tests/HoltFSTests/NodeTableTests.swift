// Protects the node table: paths follow renames through parent pointers, forget drops nodes at
// zero lookups, unlinked nodes detach, hard-linked files share one node, invariants hold.
import Testing

@testable import HoltFS

@Suite struct NodeTableTests {
    @Test func pathsFollowParentsAndRenames() {
        let table = NodeTable()
        let a = table.remember(parent: .root, name: Array("a".utf8), ino: 2)
        let b = table.remember(parent: a, name: Array("b".utf8), ino: 3)
        let c = table.remember(parent: b, name: Array("c".utf8), ino: 4)
        #expect(table.location(of: c) == .path(Array("a/b/c".utf8)))
        #expect(table.location(of: .root) == .path([]))
        table.move(parent: .root, name: Array("a".utf8), to: .root, newName: Array("z".utf8), exchange: false)
        #expect(table.location(of: c) == .path(Array("z/b/c".utf8)))
        #expect(table.remember(parent: a, name: Array("b".utf8), ino: 3) == b)
        #expect(table.invariantViolations().isEmpty)
    }

    @Test func cachedParentKeysFollowEveryChange() {
        // Random renames, exchanges, detaches and forgets of directories and files; after each,
        // every node's location is what a walk to the root gives (the cache is never stale).
        var generator = SeededGenerator(defaultSeed: 0x5EED_7AB1)
        let table = NodeTable()
        var nodes: [NodeID] = [.root]
        var names: [NodeID: (parent: NodeID, name: [UInt8])] = [:]
        for step in 0..<2000 {
            let choice = Int.random(in: 0..<10, using: &generator)
            let parent = nodes.randomElement(using: &generator)!
            let name = Array("n\(Int.random(in: 0..<6, using: &generator))".utf8)
            switch choice {
            case 0..<4:
                let id = table.remember(parent: parent, name: name, ino: UInt64(step + 2))
                if !nodes.contains(id) { nodes.append(id) }
                names[id] = (parent, name)
            case 4..<7:
                guard let (from, fromName) = names.values.randomElement(using: &generator) else { continue }
                table.move(parent: from, name: fromName, to: parent, newName: name, exchange: choice == 6)
            case 7:
                guard let (from, fromName) = names.values.randomElement(using: &generator) else { continue }
                table.detach(parent: from, name: fromName)
            default:
                guard let id = nodes.randomElement(using: &generator), id != .root else { continue }
                table.forget(id, count: 1)
            }
            for id in nodes { _ = table.location(of: id) }
            let problems = table.invariantViolations()
            #expect(problems.isEmpty, "step \(step), seed \(generator.seed): \(problems)")
            if !problems.isEmpty { return }
        }
    }

    @Test func forgetDropsAtZero() {
        let table = NodeTable()
        let a = table.remember(parent: .root, name: Array("a".utf8), ino: 2)
        _ = table.remember(parent: .root, name: Array("a".utf8), ino: 2)
        table.forget(a, count: 1)
        #expect(table.node(a) != nil)
        table.forget(a, count: 1)
        #expect(table.node(a) == nil)
        #expect(table.child(of: .root, named: Array("a".utf8)) == nil)
        table.forget(.root, count: 100)
        #expect(table.node(.root) != nil)
        #expect(table.invariantViolations().isEmpty)
    }

    @Test func renameOverExistingDetachesAndExchangeSwaps() {
        let table = NodeTable()
        let a = table.remember(parent: .root, name: Array("a".utf8), ino: 2)
        let b = table.remember(parent: .root, name: Array("b".utf8), ino: 3)
        table.move(parent: .root, name: Array("a".utf8), to: .root, newName: Array("b".utf8), exchange: true)
        #expect(table.location(of: a) == .path(Array("b".utf8)))
        #expect(table.location(of: b) == .path(Array("a".utf8)))
        table.move(parent: .root, name: Array("a".utf8), to: .root, newName: Array("b".utf8), exchange: false)
        #expect(table.location(of: b) == .path(Array("b".utf8)))
        #expect(table.location(of: a) == .detached(ino: 2))
        #expect(table.invariantViolations().isEmpty)
    }

    @Test func sharedNodesAreFoundByIno() {
        let table = NodeTable()
        let a = table.remember(parent: .root, name: Array("a".utf8), ino: 7)
        #expect(table.share(a, ino: 7) == a)
        #expect(table.location(of: a) == .detached(ino: 7))
        #expect(table.remember(parent: .root, name: Array("other".utf8), ino: 7, shared: true) == a)
        #expect(table.node(a)?.lookups == 3)
        #expect(table.invariantViolations().isEmpty)
        table.forget(a, count: 3)
        #expect(table.node(a) == nil)
        #expect(table.invariantViolations().isEmpty)
    }
}
