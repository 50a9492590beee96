import os

from harness import Group, U1, G1, U2, G2, G3, make, mode, as_user
from common import path_errors

g = Group("chown")
CTYPES = ("reg", "dir", "fifo", "sock", "chr", "blk")
PAIRS = ((U1, G1), (U2, G2), (U1, G2), (0, 0), (U2, -1), (-1, G3), (-1, -1))


def owner(p):
    s = os.lstat(p)
    return (s.st_uid, s.st_gid)


@g.case("root chown sets uid and gid on every file type")
def _(t):
    for k in CTYPES:
        make(k, k)
        cur = owner(k)
        for u, gid in PAIRS:
            os.chown(k, u, gid)
            cur = (cur[0] if u == -1 else u, cur[1] if gid == -1 else gid)
            t.eq(owner(k), cur, "chown %s %d:%d" % (k, u, gid))


@g.case("chown follows symlinks, lchown does not")
def _(t):
    make("reg", "f")
    os.symlink("f", "l")
    os.chown("l", U1, G1)
    t.eq(owner("f"), (U1, G1), "chown through symlink changes the target")
    t.eq(owner("l"), (0, 0), "chown through symlink leaves the link")
    os.lchown("l", U2, G2)
    t.eq(owner("l"), (U2, G2), "lchown changes the link")
    t.eq(owner("f"), (U1, G1), "lchown leaves the target")
    os.symlink("nowhere", "dangling")
    t.e(2, "chown on a dangling symlink ENOENT", os.chown, "dangling", U1, G1)
    t.e(0, "lchown on a dangling symlink ok", os.lchown, "dangling", U1, G1)
    fd = os.open("f", os.O_RDONLY)
    os.fchown(fd, U2, G3)
    t.eq(owner("f"), (U2, G3), "fchown on an open fd")
    os.close(fd)
    t.e(9, "fchown on a closed fd EBADF", os.fchown, fd, 0, 0)


@g.case("chown updates ctime only (node and parent)")
def _(t):
    os.mkdir("p", 0o755)
    for k in CTYPES + ("symlink",):
        n = "p/" + k
        make(k, n, target="x")
        b = t.snap(n, "p")
        os.lchown(n, U1, G1)
        t.times(b, n, "chown %s" % k, a=False, m=False, c=True)
        t.times(b, "p", "chown %s parent" % k, m=False, c=False)


@g.case("non-root chown rules")
def _(t):
    t.open_dir()
    for k in CTYPES:
        make(k, k, 0o644)
        os.chown(k, U1, G1)
        t.ue(1, "%s: owner gives file away EPERM" % k, U1, G1, os.chown, k, U2, -1)
        t.ue(0, "%s: owner chown to own uid ok" % k, U1, G1, os.chown, k, U1, -1)
        t.ue(1, "%s: owner chgrp to a group it is not in EPERM" % k, U1, G1, os.chown, k, -1, G2)
        t.ue(0, "%s: owner chgrp to a supplementary group ok" % k, U1, G1, os.chown, k, -1, G3,
             groups=[G1, G3])
        t.eq(owner(k), (U1, G3), "%s: chgrp applied" % k)
        t.ue(1, "%s: non-owner chgrp EPERM" % k, U2, G2, os.chown, k, -1, G2)
        t.ue(1, "%s: non-owner chown EPERM" % k, U2, G2, os.chown, k, U2, G2)
        t.ue(0, "%s: non-owner chown -1 -1 is a no-op that succeeds" % k, U2, G2, os.chown, k, -1, -1)
        t.eq(owner(k), (U1, G3), "%s: failed chowns left ownership" % k)


@g.case("chown clears setuid/setgid on non-directories")
def _(t):
    t.open_dir()
    # Linux clears S_ISUID always and S_ISGID when group-exec is set, even for root.
    for i, (who, args, groups) in enumerate((
            ("root chown", None, None),
            ("owner chgrp", (-1, G3), [G1, G3]),
            ("owner chown to self", (U1, G1), [G1]),
            ("owner chown -1 -1", (-1, -1), [G1]))):
        f = "f%d" % i
        make("reg", f)
        os.chown(f, U1, G1)
        os.chmod(f, 0o6555)
        if args is None:
            os.chown(f, U2, G2)
        else:
            t.ue(0, "%s ok" % who, U1, G1, os.chown, f, *args, groups=groups)
        t.mode_is(f, 0o555, "%s clears setuid+setgid (06555 -> 0555)" % who)
    make("reg", "su")
    os.chmod("su", 0o4755)
    os.chown("su", U1, -1)
    t.mode_is("su", 0o755, "root chown clears setuid of 04755")
    os.mkdir("d", 0o755)
    os.chmod("d", 0o6755)
    os.chown("d", U1, G2)
    t.mode_is("d", 0o6755, "chown of a directory keeps setuid/setgid")
    make("reg", "plain", 0o1755)
    os.chown("plain", U1, G1)
    t.mode_is("plain", 0o1755, "chown keeps the sticky bit and permission bits")


@g.case("path resolution errors")
def _(t):
    path_errors(t, "chown", lambda p: os.chown(p, U1, G1), prep=lambda p: make("reg", p),
                user_op=lambda p: os.chown(p, -1, G1))
