#if canImport(Glibc)
import Glibc
#endif

/// The keys every system is loaded with: one deterministic generator, path-shaped keys like a
/// real namespace's metadata, `t{0..9}/bucket{0..9}/dNNNN/dNNNN/name-NNNNNNNN[-suffix]`,
/// 30 to 90 bytes, with 64-byte values.
///
/// The directory shapes the workloads need (at the default one million keys):
/// - `t0/bucket0/d0000`, the *big* directory: 100 subdirectories of exactly 1,000 files each
///   (100,000 descendants); those 100 are the thousand-file directories `list` reads;
/// - `t0/bucket0/d0001`, the *single* directory: exactly one key below it;
/// - 10 *mixed* directories `t{j}/bucket1/d0000/d0000`: 500 files and 500 subdirectories of 10
///   files each (1,000 direct children, also read by `list`);
/// - the rest in directories of 10 to 10,000 files (log-uniform sizes) under `bucket2`...`bucket9`.
///
/// Smaller key counts (down to `minimumKeyCount`) scale the numbers of thousand-file and mixed
/// directories down, keeping every directory's own shape.
struct Dataset: Sendable {
    /// The counts of the fixed directories, which scale with the key count.
    struct Shape: Sendable, Equatable {
        /// Directories of exactly 1,000 files, all below the big directory (100 at 1M keys).
        let thousandFileDirectories: Int
        /// Mixed directories of 500 files and 500 subdirectories (10 at 1M keys).
        let mixedDirectories: Int

        static let filesPerThousandDirectory = 1_000
        static let mixedFiles = 500
        static let mixedSubdirectories = 500
        static let filesPerMixedSubdirectory = 10
        static let smallestOtherDirectory = 10
        static let largestOtherDirectory = 10_000

        /// The shape for `keyCount` keys: 100 and 10 at one million, proportionally fewer below.
        init(keyCount: Int) {
            thousandFileDirectories = min(100, max(2, keyCount / 10_000))
            mixedDirectories = min(10, max(1, keyCount / 100_000))
        }

        /// Keys below the big directory.
        var bigDescendants: Int { thousandFileDirectories * Self.filesPerThousandDirectory }
        /// Keys in (and below) one mixed directory.
        static var keysPerMixedDirectory: Int { mixedFiles + mixedSubdirectories * filesPerMixedSubdirectory }
        /// Keys in the fixed directories (big, single, mixed).
        var fixedKeys: Int { bigDescendants + 1 + mixedDirectories * Self.keysPerMixedDirectory }
    }

    static let defaultKeyCount = 1_000_000
    static let minimumKeyCount = 10_000
    static let defaultSeed: UInt64 = 0x686F_6C74  // "holt"
    static let valueLength = 64
    static let shortestKey = 30
    static let longestKey = 90

    /// Every key, in generation order (grouped by directory); `keys[i]`'s value is `value(i)`.
    let keys: [[UInt8]]
    /// The seed the keys came from.
    let seed: UInt64
    /// The fixed directories' counts.
    let shape: Shape
    /// The directory with 100,000 descendants (no trailing slash).
    let bigDirectory: [UInt8]
    /// The directory with one descendant.
    let singleDirectory: [UInt8]
    /// The thousand-file directories (below `bigDirectory`).
    let thousandFileDirectories: [[UInt8]]
    /// The mixed directories.
    let mixedDirectories: [[UInt8]]
    /// Every directory that holds files directly, with its number of files.
    let fileDirectories: [(path: [UInt8], files: Int)]
    /// The directory (absent from the data) under which `durable-put` writes its new keys.
    let durableDirectory: [UInt8]

    /// Where `rename-prefix` moves `bigDirectory` (and back): a sibling nothing else uses.
    var bigRenameTarget: [UInt8] { Array("t0/bucket0/d0003".utf8) }
    /// Where `rename-prefix-1` moves `singleDirectory` (and back).
    var singleRenameTarget: [UInt8] { Array("t0/bucket0/d0004".utf8) }

    /// The directories `list` reads: the thousand-file ones and the mixed ones, each with 1,000
    /// direct children.
    var listedDirectories: [[UInt8]] { thousandFileDirectories + mixedDirectories }

    /// Generates `keyCount` keys from `seed`.
    static func generate(keyCount: Int, seed: UInt64 = defaultSeed) -> Dataset {
        precondition(keyCount >= minimumKeyCount, "at least \(minimumKeyCount) keys")
        let shape = Shape(keyCount: keyCount)
        var builder = Builder(seed: seed, capacity: keyCount)

        let big = path("t0", "bucket0", directory(0))
        var thousand: [[UInt8]] = []
        for index in 0..<shape.thousandFileDirectories {
            let dir = big + slash + directoryBytes(index)
            builder.addFiles(in: dir, count: Shape.filesPerThousandDirectory)
            thousand.append(dir)
        }
        let single = path("t0", "bucket0", directory(1))
        builder.addFiles(in: single + slash + directoryBytes(0), count: 1)
        var mixed: [[UInt8]] = []
        for index in 0..<shape.mixedDirectories {
            let dir = path("t\(index % 10)", "bucket1", directory(index / 10), directory(0))
            builder.addFiles(in: dir, count: Shape.mixedFiles)
            for sub in 0..<Shape.mixedSubdirectories {
                builder.addFiles(in: dir + slash + directoryBytes(sub), count: Shape.filesPerMixedSubdirectory)
            }
            mixed.append(dir)
        }

        var remaining = keyCount - builder.keys.count
        var usedSlots = Set<Int>()
        while remaining > 0 {
            let size = builder.nextDirectorySize(remaining: remaining)
            var slot: (tenant: Int, bucket: Int, upper: Int, lower: Int)
            repeat {
                slot = (builder.rng.below(10), 2 + builder.rng.below(8), builder.rng.below(50), builder.rng.below(10_000))
            } while !usedSlots.insert(((slot.tenant * 10 + slot.bucket) * 50 + slot.upper) * 10_000 + slot.lower).inserted
            let dir = path("t\(slot.tenant)", "bucket\(slot.bucket)", directory(slot.upper), directory(slot.lower))
            builder.addFiles(in: dir, count: size)
            remaining -= size
        }
        return Dataset(
            keys: builder.keys, seed: seed, shape: shape, bigDirectory: big, singleDirectory: single,
            thousandFileDirectories: thousand, mixedDirectories: mixed, fileDirectories: builder.directories,
            durableDirectory: path("t0", "bucket0", directory(2)))
    }

    /// `count` keys that are absent but lie in existing directories (odd file numbers, where
    /// every stored key has an even one), drawn with `seed`.
    func missingKeys(count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        var result: [[UInt8]] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            let dir = fileDirectories[rng.below(fileDirectories.count)].path
            result.append(Self.fileKey(in: dir, number: 2 * rng.below(50_000_000) + 1, rng: &rng))
        }
        return result
    }

    /// The indices `0..<keys.count` in a random order drawn with `seed`.
    func shuffledIndices(seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        var order = (0..<Int32(keys.count)).map { $0 }
        order.shuffle(using: &rng)
        return order
    }

    /// `count` indices drawn uniformly (with repetition) with `seed`.
    func randomIndices(count: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(rng.below(keys.count)) }
    }

    /// The key the `index`th durable put of thread `thread` writes: fresh, under `durableDirectory`.
    func durableKey(thread: Int, index: Int) -> [UInt8] {
        var key = durableDirectory + Self.slash + Self.directoryBytes(thread) + Self.slash + Array("name-".utf8)
        Self.appendDigits(2 * index, width: 8, to: &key)
        return key
    }

    /// Where the fixed-time writers of `workload` put their new keys: a directory of its own
    /// (`t0/bucket0/d0005` for `read-with-writer`, `d0006` for `put-1-thread`, `d0007` for
    /// `put-2-threads`), absent from the data and from every other workload.
    func writerDirectory(_ workload: Workload) -> [UInt8] {
        let number: Int
        switch workload {
        case .readWithWriter: number = 5
        case .putOneThread: number = 6
        case .putTwoThreads: number = 7
        default: preconditionFailure("\(workload.rawValue) writes no new keys")
        }
        return Self.path("t0", "bucket0", Self.directory(number))
    }

    /// The key the `index`th put of writer `writer` writes below `directory`:
    /// `directory/wW/dNNNN/name-NNNNNNNN`, 1,000 files per `dNNNN` directory, so each writer
    /// fills its own directories (writers never share one).
    static func writerKey(in directory: [UInt8], writer: Int, index: Int) -> [UInt8] {
        var key = directory
        key.reserveCapacity(directory.count + 24)
        key.append(contentsOf: "/w".utf8)
        appendDigits(writer, width: 1, to: &key)
        key.append(contentsOf: slash)
        key.append(contentsOf: directoryBytes(index / 1_000))
        key.append(contentsOf: "/name-".utf8)
        appendDigits(index, width: 8, to: &key)
        return key
    }

    /// Writes the 64-byte value of key `index` into `buffer` (which holds at least 64 bytes):
    /// the index in little-endian, then bytes derived from it.
    @inline(__always)
    static func writeValue(index: Int, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: UInt64(index).littleEndian, as: UInt64.self)
        for offset in 8..<valueLength {
            buffer[offset] = UInt8(truncatingIfNeeded: index &* 31 &+ offset)
        }
    }

    /// The 64-byte value of key `index`, as a new array.
    static func value(index: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: valueLength) { buffer, count in
            writeValue(index: index, into: UnsafeMutableRawBufferPointer(buffer))
            count = valueLength
        }
    }

    // MARK: Building keys

    private static let slash: [UInt8] = [UInt8(ascii: "/")]
    private static let suffixAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789._".utf8)

    /// Accumulates keys and their directories while `generate` runs.
    private struct Builder {
        var rng: SplitMix64
        var keys: [[UInt8]] = []
        var directories: [(path: [UInt8], files: Int)] = []

        init(seed: UInt64, capacity: Int) {
            rng = SplitMix64(seed: seed)
            keys.reserveCapacity(capacity)
        }

        /// Adds `count` files with distinct even numbers to `dir`.
        mutating func addFiles(in dir: [UInt8], count: Int) {
            let salt = rng.below(10_000), step = 1 + rng.below(4_000)
            for index in 0..<count {
                keys.append(Dataset.fileKey(in: dir, number: 2 * (salt + index * step), rng: &rng))
            }
            directories.append((dir, count))
        }

        /// A log-uniform size in 10...10,000 that leaves either nothing or at least 10 keys.
        mutating func nextDirectorySize(remaining: Int) -> Int {
            let smallest = Shape.smallestOtherDirectory, largest = Shape.largestOtherDirectory
            let fraction = Double(rng.next() >> 11) / Double(1 << 53)
            var size = Int(exp(log(Double(smallest)) + fraction * log(Double(largest) / Double(smallest))))
            size = min(max(size, smallest), largest)
            if remaining <= largest && size > remaining - smallest {
                size = remaining
            } else if remaining - size < smallest {
                size = remaining - smallest
            }
            return size
        }
    }

    /// `dir/name-NNNNNNNN`, with a random `-suffix` on about half the keys, at most 90 bytes.
    private static func fileKey(in dir: [UInt8], number: Int, rng: inout SplitMix64) -> [UInt8] {
        var key = dir
        key.reserveCapacity(longestKey)
        key.append(contentsOf: slash)
        key.append(contentsOf: "name-".utf8)
        appendDigits(number, width: 8, to: &key)
        let room = longestKey - key.count - 1
        if room > 0 && rng.below(2) == 0 {
            key.append(UInt8(ascii: "-"))
            for _ in 0..<(1 + rng.below(room)) {
                key.append(suffixAlphabet[rng.below(suffixAlphabet.count)])
            }
        }
        return key
    }

    /// `components` joined by `/`.
    private static func path(_ components: String...) -> [UInt8] {
        Array(components.joined(separator: "/").utf8)
    }

    /// `dNNNN`.
    private static func directory(_ number: Int) -> String {
        var bytes = Array("d".utf8)
        appendDigits(number, width: 4, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `dNNNN` as bytes.
    private static func directoryBytes(_ number: Int) -> [UInt8] {
        Array(directory(number).utf8)
    }

    /// Appends `value` in decimal, zero-padded to `width` digits.
    private static func appendDigits(_ value: Int, width: Int, to bytes: inout [UInt8]) {
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width)
        var rest = value, position = width - 1
        while rest > 0 && position >= 0 {
            digits[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            position -= 1
        }
        bytes.append(contentsOf: digits)
    }
}
