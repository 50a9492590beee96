/// The write buffer's keys filed by the key range of the current flush sweep, so that a flush
/// step takes its range without walking every buffered entry.
///
/// A sweep cuts the key space at `bounds`, chosen from a sample of the keys when it starts so
/// that each range holds about a step's share of them. Range `i` is the keys from `bounds[i -
/// 1]` (from the smallest, for range 0) up to, not including, `bounds[i]` (to the largest, for
/// the last range). Every key added goes to its range's list (a binary search over a few bounds)
/// and a step takes one list whole. A list may still hold a key that left the buffer another
/// way, or hold a key twice (it left and came back): the taker looks each key up and drops
/// repeats.
///
/// A value type with no locking of its own: `WriteBuffer` keeps it in a `Locked`.
struct SweepRanges {
    /// Where the ranges are cut, ascending.
    private(set) var bounds: [[UInt8]] = []
    /// The keys of each range: `bounds.count + 1` lists.
    private var lists: [[[UInt8]]] = [[]]

    /// The range `key` falls in: the first whose upper bound lies past it.
    func range(of key: [UInt8]) -> Int {
        var low = 0, high = bounds.count
        while low < high {
            let middle = (low + high) / 2
            if KeyOrder.precedes(key, bounds[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The range whose lower bound is `cursor`, nil when `cursor` is not a bound of this sweep.
    func range(startingAt cursor: [UInt8]) -> Int? {
        let after = range(of: cursor)
        return after > 0 && bounds[after - 1] == cursor ? after : nil
    }

    /// The number of ranges.
    var count: Int { lists.count }

    /// Files `key` in its range.
    mutating func add(_ key: [UInt8]) {
        lists[range(of: key)].append(key)
    }

    /// Starts a sweep cut at `bounds` (ascending) and files every one of `keys` anew.
    mutating func startSweep(bounds: [[UInt8]], keys: [[UInt8]]) {
        assert(zip(bounds, bounds.dropFirst()).allSatisfy { KeyOrder.precedes($0, $1) }, "bounds out of order")
        self.bounds = bounds
        lists = Array(repeating: [], count: bounds.count + 1)
        for key in keys { add(key) }
    }

    /// The keys filed in range `index`, which is left empty.
    mutating func take(_ index: Int) -> [[UInt8]] {
        defer { lists[index] = [] }
        return lists[index]
    }

    /// Forgets every key and the sweep.
    mutating func removeAll() {
        bounds = []
        lists = [[]]
    }
}
