#if canImport(Glibc)
import Glibc
#endif

/// Checking a log without opening it for writing: for `Tree.verify()` and `holtfs check`.
extension WriteAheadLog {
    /// What is wrong with the log in `directory` (empty when it would replay from `checkpoint`).
    ///
    /// Reads every segment and applies replay's checks, changing nothing: a torn tail is not a
    /// problem (the next open cuts it) and is not listed. Stops at the first problem, since what
    /// follows it cannot be checked for continuity.
    /// - Parameter checkpoint: The checkpoint LSN replay would start after.
    /// - Returns: One English line per problem.
    static func verify(directory: String, after checkpoint: UInt64) -> [String] {
        do throws(HoltError) {
            var numbers = try segmentNumbers(in: directory)
            var contents: [[UInt8]] = []
            for number in numbers {
                let path = directory + "/" + LogSegment.fileName(number)
                let fd = try Syscall.open(path, flags: O_RDONLY)
                defer { try? Syscall.close(fd) }
                contents.append(try Syscall.readAll(fd, path))
            }
            if let last = contents.last, try LogSegmentScan.isTornCreation(last) {
                numbers.removeLast()
                contents.removeLast()
            }
            var previousLast: UInt64?
            for (index, number) in numbers.enumerated() {
                let scan = try LogSegmentScan.scan(
                    contents[index], number: number, isLast: index == numbers.count - 1,
                    previousLast: previousLast, checkpoint: checkpoint) { (_, _) throws(HoltError) in }
                previousLast = scan.lastLSN
            }
            return []
        } catch {
            return [error.description]
        }
    }
}
