import os
import stat

from harness import FMT, Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, G3, make, mode, uerr, as_user
from common import path_errors

g = Group("chmod")
CHMOD_TYPES = ("reg", "dir", "fifo", "sock", "chr", "blk")
MODES = (0o000, 0o001, 0o010, 0o100, 0o400, 0o644, 0o755, 0o777, 0o1777, 0o2755, 0o4755, 0o6777, 0o7777)


@g.case("chmod sets every mode bit on every file type")
def _(t):
    for k in CHMOD_TYPES:
        make(k, k)
        for m in MODES:
            os.chmod(k, m)
            t.mode_is(k, m, "chmod %s %04o" % (k, m))
        t.eq(stat.S_IFMT(os.lstat(k).st_mode), FMT[k], "chmod %s keeps the file type" % k)


@g.case("fchmod on an open fd")
def _(t):
    make("reg", "f")
    fd = os.open("f", os.O_RDONLY)
    for m in (0o600, 0o4700, 0o0):
        os.fchmod(fd, m)
        t.mode_is("f", m, "fchmod reg %04o" % m)
    os.close(fd)
    t.e(9, "fchmod on a closed fd EBADF", os.fchmod, fd, 0o644)
    t.e(9, "fchmod on fd -1 EBADF", os.fchmod, -1, 0o644)
    fd = os.open("f", os.O_PATH)
    t.e(9, "fchmod on an O_PATH fd EBADF", os.fchmod, fd, 0o644)
    os.close(fd)


@g.case("chmod follows symlinks; the umask does not apply")
def _(t):
    make("reg", "f")
    os.symlink("f", "l")
    lm = mode("l")
    os.chmod("l", 0o600)
    t.mode_is("f", 0o600, "chmod through symlink changes the target")
    t.eq(mode("l"), lm, "chmod through symlink leaves the link's own mode")
    old = os.umask(0o077)
    try:
        os.chmod("f", 0o777)
    finally:
        os.umask(old)
    t.mode_is("f", 0o777, "umask 077 does not affect chmod 0777")
    os.symlink("nowhere", "dangling")
    t.e(2, "chmod on a dangling symlink ENOENT", os.chmod, "dangling", 0o644)


@g.case("chmod updates ctime only (node and parent)")
def _(t):
    os.mkdir("p", 0o755)
    for k in CHMOD_TYPES:
        n = "p/" + k
        make(k, n)
        b = t.snap(n, "p")
        os.chmod(n, 0o640)
        t.times(b, n, "chmod %s" % k, a=False, m=False, c=True)
        t.times(b, "p", "chmod %s parent" % k, m=False, c=False)
    b = t.snap("p/reg")
    os.chmod("p/reg", 0o640)  # same mode again: still a successful chmod
    t.times(b, "p/reg", "chmod to the same mode", m=False, c=True)


@g.case("only the owner (or root) may chmod")
def _(t):
    t.open_dir()
    for k in CHMOD_TYPES:
        make(k, k, 0o644)
        t.ue(1, "non-owner chmod %s EPERM" % k, U1, G1, os.chmod, k, 0o600)
        t.mode_is(k, 0o644, "failed chmod %s left the mode" % k)
        os.chown(k, U1, G1)
        t.ue(0, "owner chmod %s ok" % k, U1, G1, os.chmod, k, 0o600)
        t.mode_is(k, 0o600, "owner chmod %s applied" % k)
        t.ue(1, "other user chmod %s (owned by %d) EPERM" % (k, U1), U2, G2, os.chmod, k, 0o644)
        t.e(0, "root chmod of %s owned by another user" % k, os.chmod, k, 0o755)
    # group membership gives no right to chmod
    make("reg", "gf", 0o664)
    os.chown("gf", 0, G1)
    t.ue(1, "group member chmod EPERM", U1, G1, os.chmod, "gf", 0o600)
    # a 0777 mode does not grant chmod either
    os.chmod("gf", 0o777)
    t.ue(1, "chmod of a 0777 file by non-owner EPERM", U1, G1, os.chmod, "gf", 0o600)


@g.case("setgid dropped when owner is not in the file's group")
def _(t):
    t.open_dir()
    for k in ("reg", "dir"):
        make(k, k + "1", 0o755)
        os.chown(k + "1", U1, G2)
        t.ue(0, "%s: owner outside group sets 02755" % k, U1, G1, os.chmod, k + "1", 0o2755)
        t.mode_is(k + "1", 0o755, "%s: setgid silently cleared (owner not in group)" % k)
        make(k, k + "2", 0o755)
        os.chown(k + "2", U1, G3)
        t.ue(0, "%s: owner in supplementary group sets 02755" % k, U1, G1, os.chmod, k + "2", 0o2755,
             groups=[G1, G3])
        t.mode_is(k + "2", 0o2755, "%s: setgid kept (owner in supplementary group)" % k)
        make(k, k + "3", 0o755)
        os.chown(k + "3", U1, G1)
        t.ue(0, "%s: owner in primary group sets 06755" % k, U1, G1, os.chmod, k + "3", 0o6755)
        t.mode_is(k + "3", 0o6755, "%s: setuid+setgid kept (owner in group)" % k)
        make(k, k + "4", 0o755)
        os.chown(k + "4", U1, G2)
        os.chmod(k + "4", 0o2755)
        t.mode_is(k + "4", 0o2755, "%s: root may set setgid for any group" % k)
    # sticky bit on a regular file by a non-root owner is allowed on Linux
    make("reg", "st", 0o644)
    os.chown("st", U1, G1)
    t.ue(0, "non-root owner sets sticky bit on a file", U1, G1, os.chmod, "st", 0o1644)
    t.mode_is("st", 0o1644, "sticky bit on a file kept")


@g.case("path resolution errors")
def _(t):
    path_errors(t, "chmod", lambda p: os.chmod(p, 0o600), prep=lambda p: make("reg", p))
