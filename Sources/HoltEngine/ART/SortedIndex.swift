/// An `OrderedIndex` over one sorted array in memory: the reference the ART is checked against,
/// and the index a tree uses until the ART stands on blobs.
final class SortedIndex: OrderedIndex {
    private var keys: [[UInt8]] = []
    private var values: [[UInt8]] = []

    init() {}

    /// The position of `key`, or where it would be inserted.
    private func position(of key: [UInt8]) -> (index: Int, found: Bool) {
        var low = 0, high = keys.count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid].lexicographicallyPrecedes(key) { low = mid + 1 } else { high = mid }
        }
        return (low, low < keys.count && keys[low] == key)
    }

    func get(_ key: [UInt8]) -> [UInt8]? {
        let (i, found) = position(of: key)
        return found ? values[i] : nil
    }

    func put(_ key: [UInt8], _ value: [UInt8]) -> [UInt8]? {
        let (i, found) = position(of: key)
        if found {
            let old = values[i]
            values[i] = value
            return old
        }
        keys.insert(key, at: i)
        values.insert(value, at: i)
        return nil
    }

    func remove(_ key: [UInt8]) -> [UInt8]? {
        let (i, found) = position(of: key)
        guard found else { return nil }
        keys.remove(at: i)
        return values.remove(at: i)
    }

    func hasKeys(withPrefix prefix: [UInt8]) -> Bool {
        let (i, _) = position(of: prefix)
        return i < keys.count && keys[i].starts(with: prefix)
    }

    func moveKeys(withPrefix from: [UInt8], to: [UInt8]) {
        let start = position(of: from).index
        var end = start
        while end < keys.count && keys[end].starts(with: from) { end += 1 }
        let moved = (start..<end).map { (to + keys[$0][from.count...], values[$0]) }
        keys.removeSubrange(start..<end)
        values.removeSubrange(start..<end)
        for (key, value) in moved { _ = put(key, value) }
    }

    func scan(_ query: RangeQuery) -> [RangeItem] {
        var items: [RangeItem] = []
        let limit = query.limit ?? Int.max
        var i = position(of: query.prefix).index
        // Strictly after the resume point: one at or after the prefix (the prefix itself
        // included, which leaves out the prefix's own key) moves the start past it.
        if let after = query.startAfter, !after.lexicographicallyPrecedes(query.prefix) {
            let (j, found) = position(of: after)
            i = max(i, found ? j + 1 : j)
        }
        while i < keys.count, items.count < limit, keys[i].starts(with: query.prefix) {
            let key = keys[i]
            if let delimiter = query.delimiter,
               let cut = key[query.prefix.count...].firstIndex(of: delimiter) {
                let common = Array(key[...cut])
                if let after = query.startAfter, !after.lexicographicallyPrecedes(common) {
                    // This common prefix was returned before the resume point: skip its subtree.
                } else {
                    items.append(.commonPrefix(common))
                }
                i = position(of: common + [0xFF, 0xFF, 0xFF, 0xFF]).index
                while i < keys.count && keys[i].starts(with: common) { i += 1 }
                continue
            }
            items.append(.entry(key: key, value: values[i]))
            i += 1
        }
        return items
    }

    func verify() -> [String] {
        var problems: [String] = []
        for i in keys.indices.dropFirst() where !keys[i - 1].lexicographicallyPrecedes(keys[i]) {
            problems.append("keys out of order at \(i)")
        }
        return problems
    }

    /// Every entry in key order (for snapshots and tests).
    var entries: [(key: [UInt8], value: [UInt8])] { Array(zip(keys, values)) }
}
