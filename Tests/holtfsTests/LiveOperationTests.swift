// Protects the command-line side of operating a live mount that needs no mount: --log-level and
// --metrics (and their -o forms) are parsed and checked in one line, metrics addresses are
// parsed strictly, stats reports survive the JSON round trip the control socket makes, and the
// durations `holtfs stats` prints have a unit and three significant digits.
import Testing

@testable import holtfs

@Suite struct LiveOperationTests {
    @Test func logLevelAndMetricsComeFromFlagsOrOptions() throws {
        let defaults = try ChosenSettings(command: try MountOptionTests.mount([]), options: [:])
        #expect(defaults.logLevel == .info && defaults.metrics == nil)
        let list = try MountOptionList.parse(["log_level=debug,metrics=127.0.0.1:9100,ro"])
        #expect(list.settings == ["log-level": "debug", "metrics": "127.0.0.1:9100"] && list.fuseOptions == ["ro"])
        let fromOptions = try ChosenSettings(command: try MountOptionTests.mount([]), options: list.settings)
        #expect(fromOptions.logLevel == .debug)
        #expect(fromOptions.metrics == MetricsAddress(host: "127.0.0.1", port: 9100, isIPv6: false))
        let fromFlags = try ChosenSettings(
            command: try MountOptionTests.mount(["--log-level", "error", "--metrics", "[::1]:0"]), options: [:])
        #expect(fromFlags.logLevel == .error && fromFlags.metrics?.text == "[::1]:0")
    }

    @Test func badLogLevelsAndAddressesFailInOneLine() throws {
        func reason(_ flags: [String], _ options: [String: String] = [:]) throws -> String? {
            let command = try MountOptionTests.mount(flags)
            do {
                _ = try ChosenSettings(command: command, options: options)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(try reason(["--log-level", "loud"]) == "--log-level must be one of trace|debug|info|notice|warning|error|critical, not 'loud'")
        #expect(try reason([], ["log-level": "INFO"])?.hasPrefix("-o log-level must be one of") == true)
        #expect(try reason(["--log-level", "debug"], ["log-level": "error"]) == "--log-level debug and -o log-level=error disagree")
        for bad in ["127.0.0.1", "127.0.0.1:", ":9100", "127.0.0.1:65536", "127.0.0.1:-1", "example.com:80", "::1:9100",
                    "[::1]", "[::1]9100", "[127.0.0.1]:80", "1.2.3:80", "127.0.0.1:9100x"] {
            let text = try reason(["--metrics", bad])
            #expect(text?.hasPrefix("--metrics '\(bad)': ") == true, "\(bad): \(text ?? "accepted")")
            #expect(text?.contains("\n") == false)
        }
        #expect(try reason([], ["metrics": "nope"])?.hasPrefix("-o metrics 'nope': ") == true)
    }

    @Test func metricsAddressesParse() throws {
        #expect(try MetricsAddress.parse("localhost:9100") == MetricsAddress(host: "127.0.0.1", port: 9100, isIPv6: false))
        #expect(try MetricsAddress.parse("0.0.0.0:0").text == "0.0.0.0:0")
        #expect(try MetricsAddress.parse("[::]:9100") == MetricsAddress(host: "::", port: 9100, isIPv6: true))
    }

    @Test func daemonArgumentsCarryTheNewSettings() throws {
        var settings = try MountOptionTests.mount([]).settingsForTest()
        settings.logLevel = .debug
        settings.metrics = try MetricsAddress.parse("127.0.0.1:9100")
        let arguments = settings.daemonArguments(readyFD: 3)
        #expect(arguments.contains("--log-level") && arguments[arguments.firstIndex(of: "--log-level")! + 1] == "debug")
        #expect(arguments[arguments.firstIndex(of: "--metrics")! + 1] == "127.0.0.1:9100")
        let reparsed = try MountCommand.parse(Array(arguments.dropFirst()))
        #expect(reparsed.logLevel == "debug" && reparsed.metricsAddress == "127.0.0.1:9100")
    }

    @Test func reportsSurviveTheJSONRoundTrip() {
        let report = StatsReport(
            database: "/db", state: "mounted", mountpoint: "/mnt", pid: 42, uptimeSeconds: 1.5, version: "x",
            logLevel: "info", metrics: "http://127.0.0.1:9100/metrics",
            requests: ["create": .init(count: 3, errors: 1, totalNanoseconds: 30, meanNanoseconds: 10, p50Nanoseconds: 8, p99Nanoseconds: 12)],
            filesystem: .init(openFiles: 1, openDirectories: 2, kernelNodes: 3))
        let line = report.json()
        #expect(!line.contains("\n"))
        #expect(StatsReport.decode(Array(line.utf8)) == report)
        let text = report.text()
        #expect(text.contains("state: mounted at /mnt (daemon pid 42, up 1.5 s, log level info)"))
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("  create ") && $0.contains(" 3 ") })
    }

    @Test func durationsHaveAUnitAndThreeDigits() {
        #expect(StatsReport.duration(nanoseconds: 850) == "850 ns")
        #expect(StatsReport.duration(nanoseconds: 12_345) == "12.3 us")
        #expect(StatsReport.duration(nanoseconds: 1_200_000) == "1.20 ms")
        #expect(StatsReport.duration(nanoseconds: 456_000_000) == "456 ms")
        #expect(StatsReport.duration(nanoseconds: 2_000_000_000) == "2.00 s")
        #expect(StatsReport.duration(seconds: 42) == "42.0 s")
        #expect(StatsReport.duration(seconds: 187) == "3m 07s")
        #expect(StatsReport.duration(seconds: 7387) == "2h 03m 07s")
    }
}

extension MountCommand {
    /// Settings without the checks that touch the machine (mount point, /dev/fuse).
    func settingsForTest() throws -> MountSettings {
        MountSettings(
            database: "/db", mountpoint: "/mnt", sync: .always, syncIntervalMilliseconds: 1000, syncMode: .always,
            fuseOptions: [], userFuseOptions: [], logPath: "/db/holtfs.log", cacheMegabytes: 256, maxFileSize: 1 << 40)
    }
}
