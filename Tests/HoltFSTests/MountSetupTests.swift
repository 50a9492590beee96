// Protects HoltMount's refusals that need no mount: a missing mount point and one that is not a
// directory each throw a one-line FSError naming the path; errno values of the mapping.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct MountSetupTests {
    @Test func missingOrNonDirectoryMountpointIsRefused() throws {
        let f = try FSFixture()
        let missing = f.directory + "/nope"
        #expect {
            _ = try HoltMount(tree: f.tree, mountpoint: missing, options: MountOptions(installSignalHandlers: false))
        } throws: { error in
            guard let error = error as? FSError, case .badMountpoint(let path, _) = error else { return false }
            return path == missing && !error.description.contains("\n") && error.description.contains(missing)
        }
        let file = f.directory + "/file"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        #expect {
            _ = try HoltMount(tree: f.tree, mountpoint: file, options: MountOptions(installSignalHandlers: false))
        } throws: { error in
            (error as? FSError)?.description == "mount point \(file): not a directory"
        }
    }

    @Test func errnoMapping() {
        #expect(FSError.notFound.errno == ENOENT)
        #expect(FSError.exists.errno == EEXIST)
        #expect(FSError.notEmpty.errno == ENOTEMPTY)
        #expect(FSError.noAttribute.errno == ENODATA)
        #expect(FSError.bufferTooSmall.errno == ERANGE)
        #expect(FSError.engine(.io(errno: ENOSPC, operation: "write")).errno == ENOSPC)
        #expect(FSError.engine(.io(errno: EIO, operation: "write")).errno == EIO)
        #expect(FSError.engine(.previousIOFailure).errno == EIO)
        #expect(FSError.engine(.keyTooLong(length: 70_000, limit: 65_535)).errno == ENAMETOOLONG)
        #expect(!FSError.notFound.description.isEmpty)
    }
}
