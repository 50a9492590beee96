// Protects extended attributes: create/replace flags (EEXIST, ENODATA), get/list/remove,
// values up to 64 KiB kept outside the record, E2BIG past that, names holtfs does not keep
// answered with ENODATA (never ENOSYS), and cleanup of big values when the file goes.
import Foundation
import HoltEngine
import Testing

@testable import HoltFS

@Suite struct XattrTests {
    @Test func setGetListRemove() throws {
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        try f.fs.setxattr(node, name: Array("user.a".utf8), value: Array("1".utf8), mode: .either)
        try f.fs.setxattr(node, name: Array("user.b".utf8), value: [], mode: .create)
        expectError(.exists) { try f.fs.setxattr(node, name: Array("user.a".utf8), value: [], mode: .create) }
        expectError(.noAttribute) { try f.fs.setxattr(node, name: Array("user.c".utf8), value: [], mode: .replace) }
        try f.fs.setxattr(node, name: Array("user.a".utf8), value: Array("22".utf8), mode: .replace)
        #expect(try f.fs.getxattr(node, name: Array("user.a".utf8)) == Array("22".utf8))
        #expect(try f.fs.getxattr(node, name: Array("user.b".utf8)) == [])
        #expect(try f.fs.listxattr(node) == Array("user.a\0user.b\0".utf8))
        try f.fs.removexattr(node, name: Array("user.a".utf8))
        expectError(.noAttribute) { try f.fs.removexattr(node, name: Array("user.a".utf8)) }
        expectError(.noAttribute) { try f.fs.getxattr(node, name: Array("user.a".utf8)) }
        f.check()
    }

    @Test func namesNotKeptAnswerENODATA() throws {
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        for name in ["security.selinux", "system.posix_acl_access", "system.posix_acl_default", "security.capability"] {
            expectError(.noAttribute) { try f.fs.getxattr(node, name: Array(name.utf8)) }
        }
        expectError(.notSupported) { try f.fs.setxattr(node, name: Array("system.posix_acl_access".utf8), value: [1], mode: .either) }
        #expect(FSError.noAttribute.errno == 61)  // ENODATA, never ENOSYS (38)
        // Nodes without records have no xattrs but answer the same way.
        expectError(.noAttribute) { try f.fs.getxattr(.root, name: Array("user.x".utf8)) }
    }

    @Test func bigValuesLiveOutsideTheRecord() throws {
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        let big = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try f.fs.setxattr(node, name: Array("user.big".utf8), value: big, mode: .either)
        #expect(try f.fs.getxattr(node, name: Array("user.big".utf8)) == big)
        #expect(try f.tree.range(prefix: Array("/x/".utf8)).count == 2)
        expectError(.argumentTooBig) {
            try f.fs.setxattr(node, name: Array("user.huge".utf8), value: [UInt8](repeating: 0, count: 65_537), mode: .either)
        }
        // Many medium values overflow the inline budget and move out too.
        for index in 0..<40 {
            try f.fs.setxattr(node, name: Array("user.m\(index)".utf8), value: [UInt8](repeating: UInt8(index), count: 200), mode: .either)
        }
        for index in 0..<40 {
            #expect(try f.fs.getxattr(node, name: Array("user.m\(index)".utf8)) == [UInt8](repeating: UInt8(index), count: 200))
        }
        try f.fs.setxattr(node, name: Array("user.big".utf8), value: Array("small".utf8), mode: .replace)
        #expect(try f.fs.getxattr(node, name: Array("user.big".utf8)) == Array("small".utf8))
        f.check()
        try f.unlink("f")
        #expect(try f.tree.range(prefix: Array("/x/".utf8)).isEmpty)
        #expect(try f.tree.range(prefix: Array("/g/".utf8)).isEmpty)
        f.check()
    }

    @Test func xattrsOnDirectoriesAndPlainValues() throws {
        let f = try FSFixture(library: [.put(key: Array("plain".utf8), value: Array("v".utf8))])
        try f.mkdir("d")
        try f.fs.setxattr(try f.node("d"), name: Array("user.d".utf8), value: [1], mode: .either)
        try f.fs.setxattr(try f.node("plain"), name: Array("trusted.t".utf8), value: [2], mode: .either)
        #expect(try f.fs.getxattr(try f.node("plain"), name: Array("trusted.t".utf8)) == [2])
        #expect(try f.read("plain") == Array("v".utf8))
        f.check()
    }
}

@Suite struct XattrLimitTests {
    @Test func manyLongNamesStopBeforeTheRecordGrowsLarge() throws {
        let f = try FSFixture()
        try f.create("f")
        let node = try f.node("f")
        var stored = 0
        do {
            for index in 0..<1000 {
                let name = Array("user.".utf8) + Array(String(format: "%04d", index).utf8) + [UInt8](repeating: UInt8(ascii: "n"), count: 240)
                try f.fs.setxattr(node, name: name, value: [1, 2, 3], mode: .either)
                stored += 1
            }
        } catch {
            #expect(error == .argumentTooBig)
        }
        #expect(stored > 50 && stored < 1000)
        #expect(try f.tree.get(Array("f".utf8))!.count < 32 * 1024)
        f.check()
    }
}
