// Protects the filesystem layer's public surface.
import Testing
@testable import HoltFS

@Suite struct HoltFSSurfaceTests {
    @Test func versionIsSet() {
        #expect(!HoltFS.version.isEmpty)
    }
}
