// Protects the command line conventions of holtfs that need no mount: the `holtfs DB MNT -o ...`
// form mount.fuse3 runs, the sorting of -o options into holtfs settings, mount(8)'s options
// (ignored) and FUSE options, how a setting given twice is resolved, the FUSE defaults for root
// and for other users (allow_other, dev, suid), and the fuse.conf reading.
import Testing

@testable import holtfs

@Suite struct MountOptionTests {
    @Test func helperFormBecomesTheMountSubcommand() {
        #expect(MountHelperForm.normalized(["/var/db", "/mnt/x", "-o", "rw,sync=periodic"])
            == ["mount", "/var/db", "/mnt/x", "-o", "rw,sync=periodic"])
        #expect(MountHelperForm.normalized(["-o", "ro", "db", "mnt"]) == ["mount", "-o", "ro", "db", "mnt"])
        // Subcommands, help and the root's own options stay as they are.
        for arguments in [["mount", "db", "mnt"], ["umount", "mnt"], ["check", "db"], ["stats", "db"], ["dump", "db"],
                          ["help", "mount"], ["--help"], ["--version"], []] {
            #expect(MountHelperForm.normalized(arguments) == arguments)
        }
        #expect(MountHelperForm.normalized(["./check", "mnt"]) == ["mount", "./check", "mnt"])
        #expect(MountHelperForm.normalized(["", "mnt"]) == ["mount", "", "mnt"])
    }

    @Test func helperFormParsesAsAMount() throws {
        let parsed = try HoltfsCommand.parseAsRoot(
            MountHelperForm.normalized(["db", "mnt", "-o", "rw,sync=periodic,noauto", "-o", "cache-mb=64"]))
        let mount = try #require(parsed as? MountCommand)
        #expect(mount.database == "db" && mount.mountpoint == "mnt")
        #expect(mount.optionArguments == ["rw,sync=periodic,noauto", "cache-mb=64"])
    }

    @Test func optionsAreSortedIntoSettingsIgnoredAndFuse() throws {
        let list = try MountOptionList.parse([
            "rw,sync=periodic,sync_interval_ms=50,cache-mb=64,noauto,nofail,_netdev,defaults,x-systemd.automount",
            "comment=systemd.automount,user,users,auto,allow_other,nodev,sync,max-file-size=1G,log=/var/log/h.log,X-mount.mkdir",
        ])
        #expect(list.settings == [
            "sync": "periodic", "sync-interval-ms": "50", "cache-mb": "64", "max-file-size": "1G", "log": "/var/log/h.log",
        ])
        #expect(list.ignored == [
            "noauto", "nofail", "_netdev", "defaults", "x-systemd.automount", "comment=systemd.automount", "user", "users",
            "auto", "X-mount.mkdir",
        ])
        // A bare `sync` is the kernel's flag; unknown options are libfuse's to judge.
        #expect(list.fuseOptions == ["rw", "allow_other", "nodev", "sync"])
        #expect(try MountOptionList.parse(["no_such_option_xyz"]).fuseOptions == ["no_such_option_xyz"])
        #expect(try MountOptionList.parse(["sync=none", "sync=always"]).settings == ["sync": "always"])
        #expect(try MountOptionList.parse([]) == MountOptionList())
    }

    @Test func malformedOptionsAreRefusedInOneLine() {
        for arguments in [["a,,b"], [""], [","], ["cache-mb"], ["sync="], ["log="], ["ro,with blank"]] {
            let failure = Self.failure(arguments)
            #expect(failure != nil, "\(arguments)")
            #expect(failure?.reason.contains("\n") == false)
        }
    }

    @Test func settingsComeFromFlagsOrOptionsOrDefaults() throws {
        let defaults = try ChosenSettings(command: try Self.mount([]), options: [:])
        #expect(defaults == ChosenSettings())
        #expect(defaults.sync == .always && defaults.syncIntervalMilliseconds == 1000 && defaults.cacheMegabytes == 256)
        #expect(defaults.maxFileSize == 1 << 40 && defaults.logPath == nil)

        let fromOptions = try ChosenSettings(
            command: try Self.mount([]),
            options: ["sync": "periodic", "sync-interval-ms": "50", "cache-mb": "64", "max-file-size": "1M", "log": "l"])
        #expect(fromOptions.sync == .periodic && fromOptions.syncIntervalMilliseconds == 50)
        #expect(fromOptions.cacheMegabytes == 64 && fromOptions.maxFileSize == 1 << 20 && fromOptions.logPath == "l")

        let fromFlags = try ChosenSettings(command: try Self.mount(["--sync", "none", "--cache-mb", "8"]), options: [:])
        #expect(fromFlags.sync == .none && fromFlags.cacheMegabytes == 8)
        // Both ways, agreeing: fine.
        let both = try ChosenSettings(command: try Self.mount(["--sync", "none"]), options: ["sync": "none"])
        #expect(both.sync == .none)
    }

    @Test func badOrConflictingSettingsNameHowTheyWereSpelled() throws {
        func reason(_ flags: [String], _ options: [String: String]) throws -> String? {
            let command = try Self.mount(flags)
            do {
                _ = try ChosenSettings(command: command, options: options)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(try reason([], ["sync": "sometimes"]) == "-o sync must be always, periodic or none, not 'sometimes'")
        #expect(try reason([], ["cache-mb": "0"])?.hasPrefix("-o cache-mb must be between 1 and") == true)
        #expect(try reason(["--cache-mb", "0"], [:])?.hasPrefix("--cache-mb must be between 1 and") == true)
        #expect(try reason([], ["sync-interval-ms": "-5"]) == "-o sync-interval-ms must be positive, not -5")
        #expect(try reason([], ["max-file-size": "1.5G"])?.hasPrefix("-o max-file-size must be a positive size") == true)
        #expect(try reason(["--sync", "periodic"], ["sync": "none"]) == "--sync periodic and -o sync=none disagree")
    }

    @Test func fuseDefaultsForRootAndForOtherUsers() throws {
        let root = try MountSettings.fuseOptions(userOptions: [], isRoot: true, userAllowOther: false, database: "/d")
        #expect(root == ["default_permissions", "fsname=/d", "subtype=holtfs", "allow_other", "dev", "suid"])
        // mount.fuse3 adds dev,suid to every mount; nodev,nosuid bring libfuse's defaults back.
        let restricted = try MountSettings.fuseOptions(
            userOptions: ["rw", "nodev", "nosuid"], isRoot: true, userAllowOther: false, database: "/d")
        #expect(restricted == ["default_permissions", "fsname=/d", "subtype=holtfs", "allow_other", "rw", "nodev", "nosuid"])
        let allowRoot = try MountSettings.fuseOptions(userOptions: ["allow_root"], isRoot: true, userAllowOther: false, database: "/d")
        #expect(!allowRoot.contains("allow_other") && allowRoot.contains("allow_root"))

        // Not root: no allow_other unless fuse.conf allows it; dev and suid dropped (fusermount3 ignores them).
        let user = try MountSettings.fuseOptions(
            userOptions: ["rw", "dev", "suid"], isRoot: false, userAllowOther: false, database: "/home/u/db")
        #expect(user == ["default_permissions", "fsname=/home/u/db", "subtype=holtfs", "rw"])
        let allowed = try MountSettings.fuseOptions(userOptions: [], isRoot: false, userAllowOther: true, database: "/d")
        #expect(allowed.contains("allow_other"))
        for option in ["allow_other", "allow_root"] {
            #expect(throws: MountOptionList.Failure.self) {
                try MountSettings.fuseOptions(userOptions: [option], isRoot: false, userAllowOther: false, database: "/d")
            }
        }
        // A database path with a comma or a backslash stays one option for libfuse.
        let odd = try MountSettings.fuseOptions(userOptions: [], isRoot: true, userAllowOther: false, database: "/a,b\\c")
        #expect(odd[1] == "fsname=/a\\,b\\\\c")
        let named = try MountSettings.fuseOptions(userOptions: ["fsname=meta"], isRoot: true, userAllowOther: false, database: "/d")
        #expect(named.filter { $0.hasPrefix("fsname=") } == ["fsname=meta"])
    }

    @Test func fuseConfReading() {
        #expect(FuseConfiguration.allowsOther(text: "# comment\nuser_allow_other\n"))
        #expect(FuseConfiguration.allowsOther(text: "  user_allow_other  # trailing\n"))
        #expect(!FuseConfiguration.allowsOther(text: "#user_allow_other\nmount_max = 1000\n"))
        #expect(!FuseConfiguration.allowsOther(text: ""))
        #expect(!FuseConfiguration.userAllowOther(path: "/nonexistent/fuse.conf"))
    }

    /// A `holtfs mount db mnt` command with `flags`.
    static func mount(_ flags: [String]) throws -> MountCommand {
        try MountCommand.parse(["db", "mnt"] + flags)
    }

    /// The failure parsing `arguments` throws, if any.
    static func failure(_ arguments: [String]) -> MountOptionList.Failure? {
        do {
            _ = try MountOptionList.parse(arguments)
            return nil
        } catch {
            return error
        }
    }
}
