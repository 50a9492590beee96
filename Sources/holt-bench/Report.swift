import Foundation

/// The results as a table for stdout and as JSON for `--json`.
enum Report {
    /// One row per workload and system: ops/s, p50, p99, p99.9 and max, holt's throughput as a
    /// multiple of the system's (`holt ×`: above 1 means holt is faster), and the workload's extra
    /// figures (`read-with-writer`'s writer).
    static func table(_ results: [WorkloadResult]) -> String {
        var lines = [
            pad("workload", 18) + pad("system", 9) + padLeft("ops/s", 13) + padLeft("p50 µs", 11)
                + padLeft("p99 µs", 11) + padLeft("p99.9 µs", 11) + padLeft("max µs", 11) + padLeft("holt ×", 9)
        ]
        lines.append(String(repeating: "-", count: lines[0].count))
        for workload in Workload.allCases {
            let rows = results.filter { $0.workload == workload }
            let holt = rows.first { $0.system == "holt" }?.opsPerSecond
            for row in rows {
                let ratio = holt.map { row.opsPerSecond > 0 ? String(format: "%.2f", $0 / row.opsPerSecond) : "-" } ?? "-"
                let space = row.space.map { String(format: "  disk_bytes %d amplification %.3f", $0.diskBytes, $0.amplification) } ?? ""
                let extra = space + row.extra.sorted { $0.key < $1.key }.map { "  \($0.key) \(rate($0.value))" }.joined()
                lines.append(
                    pad(workload.rawValue, 18) + pad(row.system, 9) + padLeft(rate(row.opsPerSecond), 13)
                        + padLeft(micros(row.latency.p50), 11) + padLeft(micros(row.latency.p99), 11)
                        + padLeft(micros(row.latency.p999), 11) + padLeft(micros(row.latency.max), 11)
                        + padLeft(ratio, 9) + extra)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{"machine": {...}, "keys": N, "notes": {...}, "results": [{"workload", "system",
    /// "ops_per_sec", "p50_ns", "p99_ns", "p999_ns", "p9999_ns", "max_ns", "ops", "seconds"[, "disk_bytes",
    /// "apparent_bytes", "live_bytes", "files", "amplification"][, "extra": {...}]}]}` (the space fields on
    /// `space` rows only).
    static func json(_ results: [WorkloadResult], machine: Machine, keys: Int, notes: [String: String]) -> String {
        let machineFields = [
            "\"cpu\": \(quote(machine.cpuModel))", "\"nproc\": \(machine.cpus)",
            "\"memory_bytes\": \(machine.memoryBytes)", "\"kernel\": \(quote(machine.kernel))",
            "\"date\": \(quote(machine.date))",
        ]
        let rows = results.map { row in
            let latency = row.latency
            let extra = row.extra.isEmpty ? "" : ", \"extra\": {"
                + row.extra.sorted { $0.key < $1.key }.map { "\(quote($0.key)): \(String(format: "%.3f", $0.value))" }
                    .joined(separator: ", ") + "}"
            return "    {\"workload\": \(quote(row.workload.rawValue)), \"system\": \(quote(row.system)), "
                + "\"ops_per_sec\": \(String(format: "%.3f", row.opsPerSecond)), "
                + "\"p50_ns\": \(latency.p50), \"p99_ns\": \(latency.p99), \"p999_ns\": \(latency.p999), "
                + "\"p9999_ns\": \(latency.p9999), \"max_ns\": \(latency.max), \"ops\": \(row.ops), \"seconds\": "
                + "\(String(format: "%.6f", BenchClock.seconds(row.nanoseconds)))\(spaceFields(row.space))\(extra)}"
        }
        let noteFields = notes.sorted { $0.key < $1.key }.map { "\(quote($0.key)): \(quote($0.value))" }
        return "{\n  \"machine\": {\(machineFields.joined(separator: ", "))},\n  \"keys\": \(keys),\n"
            + "  \"notes\": {\(noteFields.joined(separator: ", "))},\n"
            + "  \"results\": [\n\(rows.joined(separator: ",\n"))\n  ]\n}\n"
    }

    /// `, "disk_bytes": ..., "apparent_bytes": ..., "live_bytes": ..., "files": ..., "amplification": ...`
    /// for a `space` row, nothing for the others.
    private static func spaceFields(_ space: SpaceFigures?) -> String {
        guard let space else { return "" }
        return ", \"disk_bytes\": \(space.diskBytes), \"apparent_bytes\": \(space.apparentBytes), "
            + "\"live_bytes\": \(space.liveBytes), \"files\": \(space.files), "
            + "\"amplification\": \(String(format: "%.4f", space.amplification))"
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Ops per second, rounded for reading.
    static func rate(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
    }

    /// Nanoseconds as microseconds.
    static func micros(_ nanoseconds: UInt64) -> String {
        let value = Double(nanoseconds) / 1_000
        return value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
    }

    /// Nanoseconds as seconds.
    static func seconds(_ nanoseconds: UInt64) -> String {
        String(format: "%.3f", BenchClock.seconds(nanoseconds))
    }

    /// `text` left-aligned in `width` columns.
    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// `text` right-aligned in `width` columns.
    private static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
