import Foundation

/// The machine a run happened on, as BENCHMARKS.md and the JSON record it.
struct Machine: Sendable {
    let cpuModel: String
    let cpus: Int
    let memoryBytes: Int
    let kernel: String
    let date: String

    /// Reads /proc/cpuinfo, /proc/meminfo and uname.
    static func current() -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memoryKiB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal") }
            .flatMap { $0.split(separator: " ").dropFirst().first }
            .flatMap { Int($0) } ?? 0
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let formatter = ISO8601DateFormatter()
        return Machine(
            cpuModel: model, cpus: sysconf(Int32(_SC_NPROCESSORS_ONLN)), memoryBytes: memoryKiB * 1024,
            kernel: kernel, date: formatter.string(from: Date()))
    }
}
