/// The model every engine test checks against: a dictionary, with the engine's semantics for
/// batches and ranges written out the simple way.
struct Oracle {
    var entries: [[UInt8]: [UInt8]] = [:]

    /// Applies `ops` with the engine's batch rules; returns false (and changes nothing) when a
    /// condition fails or the batch is invalid.
    mutating func apply(_ ops: [TxnOp]) -> Bool {
        var next = entries
        for op in ops {
            switch op {
            case .put(let key, let value): next[key] = value
            case .delete(let key): next[key] = nil
            case .rename(let from, let to):
                guard let value = next[from] else { return false }
                next[from] = nil
                next[to] = value
            case .renamePrefix(let from, let to):
                let fromChildren = from + [0x2F], toChildren = to + [0x2F]
                if from.isEmpty || to.isEmpty || to.starts(with: fromChildren) { return false }
                let moving = next.keys.filter { $0 == from || $0.starts(with: fromChildren) }
                if moving.isEmpty { return false }
                if from == to { continue }
                if next.keys.contains(where: { $0 == to || $0.starts(with: toChildren) }) { return false }
                var moved: [[UInt8]: [UInt8]] = [:]
                for key in moving {
                    moved[to + key[from.count...]] = next[key]
                    next[key] = nil
                }
                next.merge(moved) { a, _ in a }
            case .expect(let key, let expectation):
                let holds: Bool
                switch expectation {
                case .exists: holds = next[key] != nil
                case .absent: holds = next[key] == nil
                case .value(let v): holds = next[key] == v
                case .noDescendants: holds = !next.keys.contains { $0.starts(with: key + [0x2F]) }
                case .noDescendantLongerThan(let length):
                    holds = !next.keys.contains { $0.starts(with: key + [0x2F]) && $0.count > length }
                }
                if !holds { return false }
            }
        }
        entries = next
        return true
    }

    /// The expected answer to `query`.
    func range(_ query: RangeQuery) -> [RangeItem] {
        let sorted = entries.keys.filter { $0.starts(with: query.prefix) }.sorted { $0.lexicographicallyPrecedes($1) }
        var items: [RangeItem] = []
        var lastCommon: [UInt8]? = nil
        for key in sorted {
            if items.count == (query.limit ?? Int.max) { break }
            var item = RangeItem.entry(key: key, value: entries[key]!)
            if let d = query.delimiter, let cut = key[query.prefix.count...].firstIndex(of: d) {
                let common = Array(key[...cut])
                if common == lastCommon { continue }
                lastCommon = common
                item = .commonPrefix(common)
            }
            if let after = query.startAfter, !after.lexicographicallyPrecedes(item.position) { continue }
            items.append(item)
        }
        return items
    }
}

import HoltEngine
