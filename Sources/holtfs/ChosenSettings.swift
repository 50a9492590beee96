import HoltFS
import Logging

/// holtfs's own mount settings, each taken from its long option (`--cache-mb 64`), from `-o`
/// (`-o cache-mb=64`), or from its default, and checked.
///
/// Giving a setting both ways is allowed when the two agree; when they differ the mount is
/// refused rather than one silently winning.
struct ChosenSettings: Equatable {
    /// `--sync` / `-o sync=`; default `always`.
    var sync: MountCommand.SyncChoice = .always
    /// `--sync-interval-ms` / `-o sync-interval-ms=`; default 1000.
    var syncIntervalMilliseconds = 1000
    /// `--cache-mb` / `-o cache-mb=`; default 256.
    var cacheMegabytes = 256
    /// `--max-file-size` / `-o max-file-size=`, in bytes; default 1 TiB.
    var maxFileSize: UInt64 = 1 << 40
    /// `--log` / `-o log=`, as given; `nil` means DB/holtfs.log.
    var logPath: String?
    /// `--log-level` / `-o log-level=`; default `info`.
    var logLevel: Logger.Level = .info
    /// `--metrics` / `-o metrics=`; `nil` (the default) serves no metrics.
    var metrics: MetricsAddress?

    /// The largest `--cache-mb` accepted (16 TiB).
    static let cacheMegabytesLimit = 1 << 24

    /// The defaults of every setting.
    init() {}

    /// The settings `command`'s long options and the `-o` settings `options` (by name, as
    /// `MountOptionList` sorted them) give.
    ///
    /// - Throws: A one-line failure naming the setting as it was spelled (`--cache-mb` or
    ///   `-o cache-mb`) when a value is malformed or out of range, or when the two spellings disagree.
    init(command: MountCommand, options: [String: String]) throws(MountOptionList.Failure) {
        typealias Failure = MountOptionList.Failure
        if case let (text, spelled)? = try Self.pick("sync", flag: command.sync?.rawValue, options: options) {
            guard let choice = MountCommand.SyncChoice(rawValue: text) else {
                throw Failure(reason: "\(spelled) must be always, periodic or none, not '\(text)'")
            }
            sync = choice
        }
        if case let (text, spelled)? = try Self.pick(
            "sync-interval-ms", flag: command.syncIntervalMilliseconds.map { String($0) }, options: options)
        {
            guard let value = Int(text), value > 0 else { throw Failure(reason: "\(spelled) must be positive, not \(text)") }
            syncIntervalMilliseconds = value
        }
        if case let (text, spelled)? = try Self.pick("cache-mb", flag: command.cacheMegabytes.map { String($0) }, options: options) {
            guard let value = Int(text), value > 0, value < Self.cacheMegabytesLimit else {
                throw Failure(reason: "\(spelled) must be between 1 and \(Self.cacheMegabytesLimit), not \(text)")
            }
            cacheMegabytes = value
        }
        if case let (text, spelled)? = try Self.pick("max-file-size", flag: command.maxFileSizeArgument, options: options) {
            guard let value = MountSettings.parseSize(text), value > 0 else {
                throw Failure(reason: "\(spelled) must be a positive size like 4096, 64M or 1T, not '\(text)'")
            }
            guard value <= MountOptions.largestMaxFileSize else {
                throw Failure(reason: "\(spelled) must be at most 128T (2^32 chunks of 32 KiB), not '\(text)'")
            }
            maxFileSize = value
        }
        if case let (text, _)? = try Self.pick("log", flag: command.logPath, options: options) {
            logPath = text
        }
        if case let (text, spelled)? = try Self.pick("log-level", flag: command.logLevel, options: options) {
            guard let level = Logger.Level(rawValue: text) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: "|")
                throw Failure(reason: "\(spelled) must be one of \(levels), not '\(text)'")
            }
            logLevel = level
        }
        if case let (text, spelled)? = try Self.pick("metrics", flag: command.metricsAddress, options: options) {
            metrics = try MetricsAddress.parse(text, spelled: spelled)
        }
    }

    /// The text of setting `name` and how it was spelled, from `--name` (`flag`) or `-o name=`;
    /// `nil` when neither gave it.
    ///
    /// - Throws: A failure when both gave it with different texts.
    static func pick(_ name: String, flag: String?, options: [String: String]) throws(MountOptionList.Failure)
        -> (text: String, spelled: String)?
    {
        switch (flag, options[name]) {
        case (nil, nil):
            return nil
        case (let flag?, nil):
            return (flag, "--\(name)")
        case (nil, let option?):
            return (option, "-o \(name)")
        case (let flag?, let option?):
            guard flag == option else {
                throw MountOptionList.Failure(reason: "--\(name) \(flag) and -o \(name)=\(option) disagree")
            }
            return (flag, "--\(name)")
        }
    }
}
