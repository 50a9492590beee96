#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

// The entry point: parse, run, and turn every failure into one line on stderr and an exit status.
// Help and --version go through ArgumentParser's own printing. `holtfs DB MNT -o ...` (the form
// mount.fuse3 runs) is `holtfs mount DB MNT -o ...` (see MountHelperForm).
let arguments = MountHelperForm.normalized(Array(CommandLine.arguments.dropFirst()))
do {
    var command = try HoltfsCommand.parseAsRoot(arguments)
    try command.run()
    exit(0)
} catch let failure as CommandFailure {
    Posix.printError(failure.description)
    exit(failure.exitCode)
} catch {
    if HoltfsCommand.exitCode(for: error) == .success { HoltfsCommand.exit(withError: error) }
    let operations = ["mount", "umount", "check", "stats", "compact", "dump", "load", "watch"]
    let operation = arguments.first.flatMap { operations.contains($0) ? $0 : nil }
    let message = CommandFailure.oneLine(HoltfsCommand.message(for: error))
    let help = operation.map { "holtfs \($0) --help" } ?? "holtfs --help"
    Posix.printError("holtfs: \(operation.map { "\($0): " } ?? "")\(message) (see \(help))")
    exit(HoltfsCommand.exitCode(for: error).rawValue)
}
