/// Keys shaped like real paths: a few top directories, shared prefixes, deep and wide
/// directories, and some long names that force long compressed paths.
struct PathKeys {
    var random: SeededGenerator

    mutating func directory() -> [UInt8] {
        let depth = Int.random(in: 1...4, using: &random)
        var parts: [String] = []
        for level in 0..<depth {
            let fanout = level == 0 ? 3 : 6
            parts.append("d\(level)\(Int.random(in: 0..<fanout, using: &random))")
        }
        return Array(parts.joined(separator: "/").utf8)
    }

    mutating func name() -> [UInt8] {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return Array(String(repeating: "long-name-", count: Int.random(in: 5...30, using: &random)).utf8)
            + Array("\(Int.random(in: 0..<50, using: &random))".utf8)
        case 1: return [UInt8.random(in: 1...255, using: &random)].map { $0 == 0x2F ? 0x2E : $0 }
        default: return Array("f\(Int.random(in: 0..<40, using: &random))".utf8)
        }
    }

    mutating func key() -> [UInt8] {
        directory() + [0x2F] + name()
    }

    mutating func value() -> [UInt8] {
        let length = Int.random(in: 0..<10, using: &random) == 0 ? Int.random(in: 100...3000, using: &random) : Int.random(in: 0...64, using: &random)
        return (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
}
