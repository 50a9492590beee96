// TEMPORARY: the HoltFS API promised by branch `fs`, stubbed so this branch builds before it lands.
// Delete this file when merging `fs` (the real types in HoltFS then take over).
import HoltEngine

/// Stub of HoltFS.MountOptions.
struct MountOptions: Sendable {
    var fuseOptions: [String]
    var maxFileSize: UInt64
    init(fuseOptions: [String] = [], maxFileSize: UInt64 = 1 << 40) {
        self.fuseOptions = fuseOptions
        self.maxFileSize = maxFileSize
    }
}

/// Stub of HoltFS.FSError.
enum FSError: Error, CustomStringConvertible {
    case notBuilt
    var description: String { "the mount is not built yet (branch fs not merged)" }
}

/// Stub of HoltFS.HoltMount.
final class HoltMount: @unchecked Sendable {
    init(tree: Tree, mountpoint: String, options: MountOptions) throws(FSError) { throw .notBuilt }
    func run() throws(FSError) {}
    func unmount() {}
}

/// Stub of HoltFS.FSCheck.
enum FSCheck {
    static func check(tree: Tree) -> [String] { [] }
}

/// Stub of HoltFS.FSDump.
enum FSDump {
    static func describe(key: [UInt8], value: [UInt8]) -> String {
        "\(String(decoding: key, as: UTF8.self)) (\(value.count) bytes)"
    }
}
