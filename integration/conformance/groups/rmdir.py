import os

from harness import Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, make
from common import path_errors

g = Group("rmdir")


@g.case("rmdir removes empty directories")
def _(t):
    os.mkdir("p", 0o755)
    for m in (0o755, 0o000, 0o1777, 0o2755):
        os.mkdir("p/d", m)
        n = os.lstat("p").st_nlink
        b = t.snap("p")
        t.e(0, "rmdir of an empty mode %04o dir" % m, os.rmdir, "p/d")
        t.ok(not os.path.lexists("p/d"), "rmdir %04o: gone" % m)
        t.eq(os.lstat("p").st_nlink, n - 1, "rmdir %04o: parent nlink drops by one" % m)
        t.times(b, "p", "rmdir %04o: parent" % m, m=True, c=True)
    os.mkdir("tr", 0o755)
    t.e(0, "rmdir with a trailing slash ok", os.rmdir, "tr/")
    os.mkdir("open", 0o755)
    fd = os.open("open", os.O_RDONLY)
    t.e(0, "rmdir of a dir that is open ok", os.rmdir, "open")
    t.eq(os.fstat(fd).st_nlink, 0, "removed open dir has nlink 0")
    t.e(2, "creating inside a removed dir ENOENT", os.mkdir, "x", 0o755, dir_fd=fd)
    os.close(fd)


@g.case("rmdir refuses non-empty directories and non-directories")
def _(t):
    for k in TYPES:
        os.mkdir("ne_" + k, 0o755)
        make(k, "ne_%s/child" % k, target="x")
        # ext4, tmpfs, xfs and btrfs all use ENOTEMPTY for rmdir
        t.e(39, "rmdir of a dir containing a %s ENOTEMPTY" % k, os.rmdir, "ne_" + k)
    for k in NONDIR_TYPES:
        make(k, "nd_" + k, target="ne_reg")
        t.e(20, "rmdir of a %s ENOTDIR" % k, os.rmdir, "nd_" + k)
        t.ok(os.path.lexists("nd_" + k), "failed rmdir left the %s" % k)
    os.mkdir("d", 0o755)
    t.e(22, "rmdir . EINVAL", os.rmdir, ".")
    t.e(22, "rmdir d/. EINVAL", os.rmdir, "d/.")
    t.e(39, "rmdir .. ENOTEMPTY", os.rmdir, "..")
    t.e(39, "rmdir d/.. ENOTEMPTY", os.rmdir, "d/..")
    os.symlink("d", "ld")
    t.e(20, "rmdir of a symlink to a dir ENOTDIR", os.rmdir, "ld")
    t.e(20, "rmdir of a symlink to a dir with a trailing slash ENOTDIR", os.rmdir, "ld/")
    t.ok(os.path.isdir("d"), "the target dir survived")
    t.e(2, "rmdir of a missing dir ENOENT", os.rmdir, "nx")


@g.case("rmdir permissions and sticky directories")
def _(t):
    t.open_dir()
    for own, grp, m, who, exp in ((0, 0, 0o755, "other, parent 0755", 13),
                                   (0, 0, 0o777, "other, parent 0777", 0),
                                   (0, 0, 0o773, "other, parent 0773", 0),
                                   (0, 0, 0o776, "other, parent 0776 (no search)", 13),
                                   (0, G1, 0o757, "group, parent 0757", 13),
                                   (0, G1, 0o070, "group, parent 0070", 0),
                                   (U1, 0, 0o577, "owner, parent 0577", 13),
                                   (U1, 0, 0o700, "owner, parent 0700", 0)):
        p = "p%d_%o" % (own, m)
        os.mkdir(p, 0o755)
        os.mkdir(p + "/d", 0o755)
        os.chown(p, own, grp)
        os.chmod(p, m)
        t.ue(exp, "rmdir as %s %s" % (who, "EACCES" if exp else "ok"), U1, G1, os.rmdir, p + "/d")
    os.mkdir("st", 0o1777)
    for downer, caller, exp, what in ((U2, U1, 1, "other user's dir EPERM"),
                                      (U1, U1, 0, "own dir ok"),
                                      (0, U1, 1, "root's dir EPERM")):
        d = "st/d%d_%d" % (downer, caller)
        os.mkdir(d, 0o777)
        os.chown(d, downer, downer)
        t.ue(exp, "sticky parent: " + what, caller, caller, os.rmdir, d)
    os.mkdir("st2", 0o1777)
    os.chown("st2", U1, G1)
    os.mkdir("st2/d", 0o755)
    t.ue(0, "sticky parent owned by caller: removing root's dir ok", U1, G1, os.rmdir, "st2/d")


@g.case("path resolution errors")
def _(t):
    os.chmod(".", 0o777)
    path_errors(t, "rmdir", os.rmdir, prep=lambda p: os.mkdir(p, 0o755))
