import os
import stat

from harness import Group, TYPES, U1, G1, G3, make, now_ns, as_user
from common import path_errors

g = Group("symlink")
TARGETS = ("a", "f", "/", "/etc/passwd", "../..", "./x/../y", "nowhere/at/all", "sp ace", "tab\tnew\nline",
           "\u00e9t\u00e9", "x" * 255, "d/" * 100 + "e", "y" * 1023, ("z/" * 2047) + "z")


@g.case("symlink stores the target verbatim")
def _(t):
    for i, tg in enumerate(TARGETS):
        n = "l%02d" % i
        os.symlink(tg, n)
        s = os.lstat(n)
        t.eq(os.readlink(n), tg, "symlink target %d (%d bytes) read back" % (i, len(os.fsencode(tg))))
        t.eq((stat.S_ISLNK(s.st_mode), s.st_size), (True, len(os.fsencode(tg))),
             "symlink %d: type symlink, st_size is the target length" % i)
    raw = bytes(range(1, 256)).replace(b"/", b"")
    os.symlink(raw, b"lraw")
    t.eq(os.readlink(b"lraw"), raw, "symlink target with every non-NUL byte")
    t.e(2, "empty symlink target ENOENT", os.symlink, "", "empty")
    t.e(36, "symlink target of 4096 bytes ENAMETOOLONG", os.symlink, "t" * 4096, "toolong")
    t.e(0, "symlink target of 4095 bytes ok", os.symlink, "t" * 4095, "longest")
    t.eq(len(os.readlink("longest")), 4095, "4095-byte target read back")


@g.case("symlink ownership, mode and umask")
def _(t):
    for um in (0o000, 0o022, 0o777):
        old = os.umask(um)
        try:
            os.symlink("x", "u%o" % um)
        finally:
            os.umask(old)
        t.eq(stat.S_IMODE(os.lstat("u%o" % um).st_mode), 0o777, "symlink mode 0777 with umask %04o" % um)
    t.open_dir()
    t.ue(0, "symlink as another user", U1, G1, os.symlink, "x", "byuser")
    s = os.lstat("byuser")
    t.eq((s.st_uid, s.st_gid), (U1, G1), "symlink owned by the caller")
    os.mkdir("sg", 0o777)
    os.chown("sg", 0, G3)
    os.chmod("sg", 0o2777)
    as_user(U1, G1, os.symlink, "x", "sg/l")
    t.eq(os.lstat("sg/l").st_gid, G3, "symlink in a setgid dir takes the dir's group")
    os.mkdir("ro", 0o755)
    t.ue(13, "symlink in a dir without write permission EACCES", U1, G1, os.symlink, "x", "ro/l")


@g.case("symlink timestamps and nlink")
def _(t):
    os.mkdir("p", 0o755)
    b = t.snap("p")
    t0 = now_ns()
    os.symlink("target", "p/l")
    t.recent("p/l", "new symlink", t0)
    t.times(b, "p", "symlink: parent", m=True, c=True)
    t.eq(os.lstat("p").st_nlink, 2, "symlink does not change the parent's nlink")
    t.eq(os.lstat("p/l").st_nlink, 1, "new symlink nlink 1")
    b = t.snap("p/l")
    os.readlink("p/l")
    t.times(b, "p/l", "readlink", m=False, c=False)


@g.case("symlink EEXIST and resolution")
def _(t):
    for k in TYPES:
        make(k, "e_" + k, target="x")
        t.e(17, "symlink over an existing %s EEXIST" % k, os.symlink, "y", "e_" + k)
    t.e(17, "symlink over a dangling symlink EEXIST", os.symlink, "y", "e_symlink")
    t.eq(os.readlink("e_symlink"), "x", "failed symlink left the old link")
    os.mkdir("d", 0o755)
    with open("d/f", "w") as f:
        f.write("data")
    os.symlink("d", "ld")
    os.symlink("ld/f", "lf")
    os.symlink("lf", "lf2")
    with open("lf2") as f:
        t.eq(f.read(), "data", "a chain of symlinks resolves")
    os.symlink("../d/f", "d/up")
    with open("d/up") as f:
        t.eq(f.read(), "data", "relative targets resolve from the link's directory")
    t.e(0, "stat follows a symlink to a dir", os.stat, "ld")
    t.ok(os.path.isdir("ld/") and os.path.islink("ld"), "trailing slash follows the link")
    os.symlink("self", "self")
    t.e(40, "stat of a self loop ELOOP", os.stat, "self")
    t.e(0, "lstat of a self loop ok", os.lstat, "self")
    os.symlink("nowhere", "dangling")
    t.e(2, "stat of a dangling symlink ENOENT", os.stat, "dangling")
    t.e(22, "readlink of a regular file EINVAL", os.readlink, "d/f")
    t.e(22, "readlink of a directory EINVAL", os.readlink, "d")
    t.e(2, "readlink of a missing name ENOENT", os.readlink, "nx")


@g.case("path resolution errors (link name)")
def _(t):
    path_errors(t, "symlink", lambda p: os.symlink("target", p), create=True)
