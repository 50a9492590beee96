import os

from harness import (Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, make, lgetxattr_size, llistxattr_size,
                     XATTR_CREATE, XATTR_REPLACE)
from common import path_errors

g = Group("xattr")
ENODATA = 61
# Sizes every filesystem must store.  Larger values (up to the VFS cap of 65536) are
# accepted with ENOSPC too: ext4 without the ea_inode feature keeps all of an
# inode's xattrs in one block and answers ENOSPC beyond it.
SMALL = (0, 1, 2, 17, 255, 256, 1000, 2000)
LARGE = (4096, 8192, 32768, 65535, 65536)


@g.case("set, get, list and remove user.* attributes")
def _(t):
    for k in ("reg", "dir"):
        make(k, k)
        for sz in SMALL:
            v = bytes((i * 7 + sz) % 256 for i in range(sz))
            os.setxattr(k, "user.v%d" % sz, v)
            t.eq(os.getxattr(k, "user.v%d" % sz), v, "%s: %d-byte value round trip" % (k, sz))
            t.eq(lgetxattr_size(k, "user.v%d" % sz, 0), sz, "%s: size probe of a %d-byte value" % (k, sz))
        names = set(os.listxattr(k))
        t.ok({"user.v%d" % s for s in SMALL} <= names, "%s: listxattr lists every name" % k)
        for sz in SMALL:
            os.removexattr(k, "user.v%d" % sz)
            t.e(ENODATA, "%s: removed attribute user.v%d ENODATA" % (k, sz), os.getxattr, k, "user.v%d" % sz)
        t.eq([n for n in os.listxattr(k) if n.startswith("user.")], [], "%s: no user.* names left" % k)


@g.case("large values and the 64 KiB limit")
def _(t):
    make("reg", "f")
    for sz in LARGE:
        make("reg", "f%d" % sz)
        v = bytes(i % 256 for i in range(sz))
        try:
            os.setxattr("f%d" % sz, "user.big", v)
            got = 0
        except OSError as e:
            got = e.errno
        t._e((0, 28), got, "%d-byte value stored (or ENOSPC on a block-limited fs)" % sz)
        if got == 0:
            t.eq(os.getxattr("f%d" % sz, "user.big"), v, "%d-byte value read back" % sz)
    t.e(7, "65537-byte value E2BIG", os.setxattr, "f", "user.huge", b"x" * 65537)
    t.e(7, "1 MiB value E2BIG", os.setxattr, "f", "user.huge", b"x" * (1 << 20))


@g.case("XATTR_CREATE and XATTR_REPLACE")
def _(t):
    make("reg", "f")
    t.e(ENODATA, "XATTR_REPLACE of a missing attribute ENODATA", os.setxattr, "f", "user.a", b"1", XATTR_REPLACE)
    t.e(0, "XATTR_CREATE of a new attribute ok", os.setxattr, "f", "user.a", b"1", XATTR_CREATE)
    t.e(17, "XATTR_CREATE of an existing attribute EEXIST", os.setxattr, "f", "user.a", b"2", XATTR_CREATE)
    t.eq(os.getxattr("f", "user.a"), b"1", "failed XATTR_CREATE kept the value")
    t.e(0, "XATTR_REPLACE of an existing attribute ok", os.setxattr, "f", "user.a", b"22", XATTR_REPLACE)
    t.eq(os.getxattr("f", "user.a"), b"22", "XATTR_REPLACE stored the new value")
    t.e(0, "plain set replaces", os.setxattr, "f", "user.a", b"333")
    t.eq(os.getxattr("f", "user.a"), b"333", "plain set stored the new value")
    t.e(0, "set a shorter value", os.setxattr, "f", "user.a", b"4")
    t.eq(os.getxattr("f", "user.a"), b"4", "shorter value not padded")
    t.e(0, "set an empty value", os.setxattr, "f", "user.a", b"")
    t.eq(os.getxattr("f", "user.a"), b"", "empty value read back")
    t.ok("user.a" in os.listxattr("f"), "attribute with an empty value listed")
    t.e(22, "unknown flag EINVAL", os.setxattr, "f", "user.b", b"1", 4)


@g.case("missing attributes, buffer sizes, names")
def _(t):
    make("reg", "f")
    t.e(ENODATA, "getxattr of a missing attribute ENODATA", os.getxattr, "f", "user.none")
    t.e(ENODATA, "removexattr of a missing attribute ENODATA", os.removexattr, "f", "user.none")
    os.setxattr("f", "user.ten", b"0123456789")
    for bs in (1, 5, 9):
        t.e(34, "getxattr with a %d-byte buffer for 10 bytes ERANGE" % bs, lgetxattr_size, "f", "user.ten", bs)
    t.eq(lgetxattr_size("f", "user.ten", 10), 10, "getxattr with an exact buffer")
    t.eq(lgetxattr_size("f", "user.ten", 100), 10, "getxattr with a larger buffer")
    need = llistxattr_size("f", 0)
    t.ok(need >= len(b"user.ten\0"), "listxattr size probe covers the name")
    t.e(34, "listxattr with a too-small buffer ERANGE", llistxattr_size, "f", 3)
    t.eq(llistxattr_size("f", need), need, "listxattr with the probed size")
    t.e(34, "name longer than 255 bytes ERANGE", os.setxattr, "f", "user." + "n" * 251, b"1")
    t.e(0, "name of exactly 255 bytes ok", os.setxattr, "f", "user." + "n" * 250, b"1")
    t.eq(os.getxattr("f", "user." + "n" * 250), b"1", "255-byte name read back")
    t.e(34, "empty name ERANGE", os.setxattr, "f", "", b"1")
    t.e(95, "unknown namespace EOPNOTSUPP", os.setxattr, "f", "bogus.x", b"1")
    t.e(95, "name without a namespace EOPNOTSUPP", os.setxattr, "f", "plain", b"1")
    t.e(ENODATA, "user. prefix alone is not an attribute", os.getxattr, "f", "user.ten2")
    for i in range(40):
        os.setxattr("f", "user.many%02d" % i, b"v%d" % i)
    names = [n for n in os.listxattr("f") if n.startswith("user.many")]
    t.eq(sorted(names), ["user.many%02d" % i for i in range(40)], "40 attributes listed, no duplicates")
    t.ok(all(os.getxattr("f", "user.many%02d" % i) == b"v%d" % i for i in range(40)), "40 values read back")
    raw = "user.\u00e9\u00e8 sp\tx"
    os.setxattr("f", raw, b"odd")
    t.eq(os.getxattr("f", raw), b"odd", "name with non-ASCII bytes and spaces")


@g.case("user.* on other file types and symlinks")
def _(t):
    make("reg", "target")
    os.symlink("target", "l")
    os.setxattr("l", "user.via", b"link")
    t.eq(os.getxattr("target", "user.via"), b"link", "setxattr follows a symlink")
    t.e(1, "lsetxattr user.* on a symlink EPERM", os.setxattr, "l", "user.x", b"1", follow_symlinks=False)
    t.e(ENODATA, "lgetxattr user.* on a symlink ENODATA", os.getxattr, "l", "user.via", follow_symlinks=False)
    for k in ("fifo", "sock", "chr", "blk"):
        make(k, k)
        t.e(1, "setxattr user.* on a %s EPERM" % k, os.setxattr, k, "user.x", b"1", follow_symlinks=False)
        t.e(ENODATA, "getxattr user.* on a %s ENODATA" % k, os.getxattr, k, "user.x", follow_symlinks=False)
    fd = os.open("target", os.O_RDONLY)
    os.setxattr(fd, "user.fd", b"fd")
    t.eq(os.getxattr(fd, "user.fd"), b"fd", "fsetxattr/fgetxattr on an fd")
    os.removexattr(fd, "user.fd")
    t.e(ENODATA, "fremovexattr removed it", os.getxattr, fd, "user.fd")
    os.close(fd)
    t.e(9, "fgetxattr on a closed fd EBADF", os.getxattr, fd, "user.fd")


@g.case("xattr changes ctime, not mtime")
def _(t):
    for k in ("reg", "dir"):
        make(k, k)
        b = t.snap(k, ".")
        os.setxattr(k, "user.t", b"1")
        t.times(b, k, "setxattr %s" % k, m=False, c=True)
        t.times(b, ".", "setxattr %s: parent" % k, m=False, c=False)
        b = t.snap(k)
        os.removexattr(k, "user.t")
        t.times(b, k, "removexattr %s" % k, m=False, c=True)
        b = t.snap(k)
        os.listxattr(k)
        t.times(b, k, "listxattr %s" % k, m=False, c=False)


@g.case("xattr permissions")
def _(t):
    t.open_dir()
    for own, m, exp_set, exp_get, what in ((0, 0o644, 13, 0, "other, file 0644"),
                                           (0, 0o666, 0, 0, "other, file 0666"),
                                           (0, 0o600, 13, 13, "other, file 0600"),
                                           (0, 0o622, 0, 13, "other, file 0622"),
                                           (U1, 0o400, 13, 0, "owner, file 0400"),
                                           (U1, 0o200, 0, 13, "owner, file 0200")):
        n = "f%d_%o" % (own, m)
        make("reg", n, 0o600)
        os.setxattr(n, "user.x", b"v")
        os.chown(n, own, own)
        os.chmod(n, m)
        t.ue(exp_set, "setxattr as %s %s" % (what, "EACCES" if exp_set else "ok"), U1, G1, os.setxattr, n,
             "user.y", b"1")
        t.ue(exp_get, "getxattr as %s %s" % (what, "EACCES" if exp_get else "ok"), U1, G1, os.getxattr, n,
             "user.x")
        t.ue(exp_set, "removexattr as %s %s" % (what, "EACCES" if exp_set else "ok"), U1, G1, os.removexattr, n,
             "user.x")
    t.ue(0, "listxattr needs no permission on the file", U1, G1, os.listxattr, "f0_600")
    os.mkdir("sticky", 0o1777)
    t.ue(1, "user.* on another user's sticky dir EPERM", U1, G1, os.setxattr, "sticky", "user.s", b"1")
    os.chown("sticky", U1, G1)
    t.ue(0, "user.* on own sticky dir ok", U1, G1, os.setxattr, "sticky", "user.s", b"1")


@g.case("path resolution errors")
def _(t):
    path_errors(t, "getxattr", lambda p: os.getxattr(p, "user.p"),
                prep=lambda p: (make("reg", p, 0o666), os.setxattr(p, "user.p", b"1")))


@g.case("path resolution errors (setxattr)")
def _(t):
    path_errors(t, "setxattr", lambda p: os.setxattr(p, "user.p", b"1"), prep=lambda p: make("reg", p, 0o666))
