// Protects the namespace as a whole: a seeded random sequence of create, mkdir, unlink, rmdir,
// rename (plain, NOREPLACE, EXCHANGE) and link runs against a dictionary model of paths; after
// every op the outcome (success or the exact error) agrees, listings and kinds agree, file link
// counts agree, and FSCheck finds nothing wrong. HOLT_SEED replays a run; HOLT_LONG_TESTS=1 runs longer.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct NamespaceModelTests {
    /// A node of the model: a directory, or a file identified by its inode.
    enum Node: Equatable {
        case directory
        case file(Int)
    }

    /// Paths to nodes, the root being "".
    struct Model {
        var nodes: [String: Node] = ["": .directory]
        var nextFile = 0

        static func parent(_ path: String) -> String {
            guard let slash = path.lastIndex(of: "/") else { return "" }
            return String(path[..<slash])
        }

        func children(_ path: String) -> [String] {
            nodes.keys.filter { !$0.isEmpty && Self.parent($0) == path }.sorted()
        }

        func isEmptyDirectory(_ path: String) -> Bool { children(path).isEmpty }

        func linkCount(_ id: Int) -> Int { nodes.values.filter { $0 == .file(id) }.count }

        /// Moves `from` and its subtree to `to` (which must be free).
        mutating func move(_ from: String, _ to: String) {
            let moving = nodes.filter { $0.key == from || $0.key.hasPrefix(from + "/") }
            for key in moving.keys { nodes[key] = nil }
            for (key, node) in moving { nodes[to + key.dropFirst(from.count)] = node }
        }

        /// Removes `path` and its subtree.
        mutating func remove(_ path: String) {
            for key in nodes.keys where key == path || key.hasPrefix(path + "/") { nodes[key] = nil }
        }

        /// Applies a rename the way Linux does; returns the error it answers, or nil.
        mutating func rename(_ from: String, _ to: String, _ flags: RenameFlags) -> FSError? {
            guard let source = nodes[from] else { return .notFound }
            let target = nodes[to]
            if from == to { return nil }
            if source == .directory, to.hasPrefix(from + "/") { return .invalidArgument }
            if flags.contains(.exchange) {
                guard let target else { return .notFound }
                if target == .directory, from.hasPrefix(to + "/") { return .invalidArgument }
                move(from, "\u{1}parked")
                move(to, from)
                move("\u{1}parked", to)
                return nil
            }
            if let target {
                if flags.contains(.noReplace) { return .exists }
                if case .file(let a) = source, case .file(let b) = target, a == b { return nil }
                if source == .directory, target != .directory { return .notDirectory }
                if source != .directory, target == .directory { return .isDirectory }
                if target == .directory, !isEmptyDirectory(to) { return .notEmpty }
                remove(to)
            }
            move(from, to)
            return nil
        }
    }

    @Test func randomOperationsAgreeWithTheModel() throws {
        var generator = SeededGenerator(defaultSeed: 0x5EED_0A0D)
        let long = ProcessInfo.processInfo.environment["HOLT_LONG_TESTS"] == "1"
        let steps = long ? 5000 : 600
        let f = try FSFixture()
        var model = Model()
        let names = ["a", "b", "c"]
        func randomPath() -> String {
            let depth = Int.random(in: 1...3, using: &generator)
            return (0..<depth).map { _ in names.randomElement(using: &generator)! }.joined(separator: "/")
        }
        func parentIsDirectory(_ path: String) -> Bool { model.nodes[Model.parent(path)] == .directory }

        for step in 0..<steps {
            let path = randomPath()
            guard parentIsDirectory(path) else { continue }
            let context = "step \(step) seed \(generator.seed)"
            var expected: FSError?
            var description = ""
            let outcome: Result<Void, FSError>
            switch Int.random(in: 0..<12, using: &generator) {
            case 0..<3:
                description = "create \(path)"
                if model.nodes[path] != nil { expected = .exists } else { model.nodes[path] = .file(model.nextFile); model.nextFile += 1 }
                outcome = Result { () throws(FSError) in _ = try f.create(path) }
            case 3..<5:
                description = "mkdir \(path)"
                if model.nodes[path] != nil { expected = .exists } else { model.nodes[path] = .directory }
                outcome = Result { () throws(FSError) in _ = try f.mkdir(path) }
            case 5:
                description = "unlink \(path)"
                switch model.nodes[path] {
                case nil: expected = .notFound
                case .directory: expected = .isDirectory
                case .file: model.nodes[path] = nil
                }
                outcome = Result { () throws(FSError) in try f.unlink(path) }
            case 6:
                description = "rmdir \(path)"
                switch model.nodes[path] {
                case nil: expected = .notFound
                case .file: expected = .notDirectory
                case .directory: if model.isEmptyDirectory(path) { model.nodes[path] = nil } else { expected = .notEmpty }
                }
                outcome = Result { () throws(FSError) in try f.rmdir(path) }
            case 7..<11:
                let target = randomPath()
                guard parentIsDirectory(target), model.nodes[path] != nil else { continue }
                let flags: RenameFlags = [[], [], .noReplace, .exchange].randomElement(using: &generator)!
                description = "rename \(path) \(target) \(flags.rawValue)"
                expected = model.rename(path, target, flags)
                outcome = Result { () throws(FSError) in try f.rename(path, target, flags) }
            default:
                let target = randomPath()
                guard parentIsDirectory(target), let source = model.nodes[path] else { continue }
                description = "link \(path) \(target)"
                if source == .directory {
                    expected = .notPermitted
                } else if model.nodes[target] != nil {
                    expected = .exists
                } else {
                    model.nodes[target] = source
                }
                outcome = Result { () throws(FSError) in
                    let (parent, name) = try f.split(target)
                    _ = try f.fs.link(try f.node(path), to: parent, as: name)
                }
            }
            switch outcome {
            case .success: #expect(expected == nil, "\(description): succeeded, model says \(String(describing: expected)) (\(context))")
            case .failure(let error): #expect(error == expected, "\(description): \(error), model says \(String(describing: expected)) (\(context))")
            }
            try compare(f, model, context: context + " after " + description)
            if step % 50 == 0 { f.check() }
        }
        f.check()
    }

    /// Walks the model and the filesystem and expects the same names, kinds and link counts.
    private func compare(_ f: FSFixture, _ model: Model, context: String) throws {
        var pending = [""]
        while let directory = pending.popLast() {
            let expected = model.children(directory).map { String($0.split(separator: "/").last!) }
            let listed = try f.list(directory).sorted()
            #expect(listed == expected, "listing of '\(directory)' (\(context))")
            guard listed == expected else { return }
            for child in model.children(directory) {
                let attributes = try f.stat(child)
                switch model.nodes[child]! {
                case .directory:
                    #expect(attributes.kind == .directory, "\(child) kind (\(context))")
                    let subdirectories = model.children(child).filter { model.nodes[$0] == .directory }.count
                    #expect(attributes.nlink == UInt32(2 + subdirectories), "\(child) nlink (\(context))")
                    pending.append(child)
                case .file(let id):
                    #expect(attributes.kind == .regular, "\(child) kind (\(context))")
                    #expect(attributes.nlink == UInt32(model.linkCount(id)), "\(child) nlink (\(context))")
                }
            }
        }
    }
}
