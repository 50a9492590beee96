import os

from harness import Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, make
from common import path_errors

g = Group("unlink")


@g.case("unlink each non-directory type")
def _(t):
    os.mkdir("p", 0o755)
    for k in NONDIR_TYPES:
        make(k, "p/" + k, target="x")
        b = t.snap("p")
        t.e(0, "unlink %s" % k, os.unlink, "p/" + k)
        t.ok(not os.path.lexists("p/" + k), "unlink %s: gone" % k)
        t.times(b, "p", "unlink %s: parent" % k, m=True, c=True)
        make(k, "p/" + k, target="x")
        os.link("p/" + k, "p/" + k + ".2", follow_symlinks=False)
        b = t.snap("p/" + k + ".2")
        os.unlink("p/" + k)
        t.eq(os.lstat("p/" + k + ".2").st_nlink, 1, "unlink %s: other link's nlink drops" % k)
        t.times(b, "p/" + k + ".2", "unlink %s: surviving link" % k, m=False, c=True)


@g.case("unlink details")
def _(t):
    with open("f", "wb") as f:
        f.write(b"still here")
    os.symlink("f", "l")
    os.unlink("l")
    t.ok(os.path.isfile("f") and not os.path.lexists("l"), "unlink of a symlink removes the link, not the target")
    fd = os.open("f", os.O_RDWR)
    os.unlink("f")
    t.eq(os.pread(fd, 20, 0), b"still here", "an unlinked open file stays readable")
    os.pwrite(fd, b"!", 10)
    t.eq(os.fstat(fd).st_nlink, 0, "an unlinked open file has nlink 0")
    t.eq(os.fstat(fd).st_size, 11, "an unlinked open file stays writable")
    os.close(fd)
    os.mkdir("d", 0o755)
    t.e(21, "unlink of a directory EISDIR", os.unlink, "d")
    t.ok(os.path.isdir("d"), "failed unlink left the directory")
    t.e(2, "unlink of a missing file ENOENT", os.unlink, "nx")
    make("reg", "g")
    t.e(20, "unlink of a file with a trailing slash ENOTDIR", os.unlink, "g/")
    os.symlink("d", "ld")
    t.e(20, "unlink of a symlink to a dir with a trailing slash ENOTDIR", os.unlink, "ld/")
    t.e(0, "unlink of a symlink to a dir ok", os.unlink, "ld")
    t.ok(os.path.isdir("d"), "unlinking the symlink left the dir")
    os.symlink("nowhere", "dangling")
    t.e(0, "unlink of a dangling symlink ok", os.unlink, "dangling")
    t.e(21, "unlink . EISDIR", os.unlink, ".")
    fd = os.open(".", os.O_RDONLY)
    make("reg", "viafd")
    os.unlink("viafd", dir_fd=fd)
    t.ok(not os.path.lexists("viafd"), "unlinkat relative to a dir fd")
    os.close(fd)
    t.e(9, "unlinkat with a closed dir fd EBADF", os.unlink, "x", dir_fd=fd)


@g.case("unlink permissions and sticky directories")
def _(t):
    t.open_dir()
    for own, grp, m, who, exp in ((0, 0, 0o755, "other, parent 0755", 13),
                                   (0, 0, 0o777, "other, parent 0777", 0),
                                   (0, 0, 0o333, "other, parent 0333", 0),
                                   (0, 0, 0o776, "other, parent 0776 (no search)", 13),
                                   (0, G1, 0o757, "group, parent 0757", 13),
                                   (0, G1, 0o030, "group, parent 0030", 0),
                                   (U1, 0, 0o577, "owner, parent 0577", 13),
                                   (U1, 0, 0o300, "owner, parent 0300", 0)):
        p = "p%d_%o" % (own, m)
        os.mkdir(p, 0o755)
        make("reg", p + "/f", 0o000)   # the file's own mode does not matter
        os.chown(p, own, grp)
        os.chmod(p, m)
        t.ue(exp, "unlink as %s %s" % (who, "EACCES" if exp else "ok"), U1, G1, os.unlink, p + "/f")
    for downer, fowner, caller, exp, what in (
            (0, U2, U1, 1, "other user's file EPERM"),
            (0, U1, U1, 0, "own file ok"),
            (0, 0, U1, 1, "root's file EPERM"),
            (U1, U2, U1, 0, "other user's file in caller's dir ok"),
            (U2, 0, U1, 1, "root's file in another user's dir EPERM"),
            (U2, U2, U2, 0, "dir owner removes own file ok")):
        d = "st%d" % downer
        if not os.path.isdir(d):
            os.mkdir(d, 0o777)
            os.chown(d, downer, downer)
            os.chmod(d, 0o1777)
        for k in ("reg", "fifo", "symlink"):
            n = "%s/%s_%d_%d" % (d, k, fowner, caller)
            make(k, n, 0o666 if k != "symlink" else None, target="x")
            os.lchown(n, fowner, fowner)
            t.ue(exp, "sticky dir: unlink %s, %s" % (k, what), caller, caller, os.unlink, n)
    t.e(0, "root unlinks anything in a sticky dir", os.unlink, "st%d/reg_%d_%d" % (0, 0, U1))


@g.case("path resolution errors")
def _(t):
    os.chmod(".", 0o777)
    path_errors(t, "unlink", os.unlink, prep=lambda p: make("reg", p))
