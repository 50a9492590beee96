import os
import stat

from harness import AT_SYMLINK_FOLLOW, linkat, Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, make, uerr
from common import path_errors

g = Group("link")


@g.case("link every non-directory type")
def _(t):
    for k in NONDIR_TYPES:
        make(k, k, target="x")
        os.link(k, k + ".2", follow_symlinks=False)
        a, b = os.lstat(k), os.lstat(k + ".2")
        t.eq(b.st_ino, a.st_ino, "link %s: same inode" % k)
        t.eq((a.st_nlink, b.st_nlink), (2, 2), "link %s: nlink 2 on both names" % k)
        t.eq(stat.S_IFMT(b.st_mode), stat.S_IFMT(a.st_mode), "link %s: same type" % k)
        os.link(k, k + ".3", follow_symlinks=False)
        t.eq(os.lstat(k).st_nlink, 3, "link %s: third name, nlink 3" % k)
        os.unlink(k)
        t.eq(os.lstat(k + ".2").st_nlink, 2, "link %s: unlink one name, nlink 2" % k)
        os.unlink(k + ".3")
        t.eq(os.lstat(k + ".2").st_nlink, 1, "link %s: back to nlink 1" % k)


@g.case("data is shared between links")
def _(t):
    with open("f", "wb") as f:
        f.write(b"hello")
    os.link("f", "g")
    with open("g", "ab") as f:
        f.write(b" world")
    with open("f", "rb") as f:
        t.eq(f.read(), b"hello world", "write through one name is seen through the other")
    os.chmod("g", 0o600)
    t.eq(stat.S_IMODE(os.stat("f").st_mode), 0o600, "chmod through one name is seen through the other")


@g.case("linkat and symlinks")
def _(t):
    make("reg", "f")
    os.symlink("f", "l")
    linkat("l", "follow", AT_SYMLINK_FOLLOW)
    t.eq(os.lstat("follow").st_ino, os.lstat("f").st_ino, "linkat AT_SYMLINK_FOLLOW links the target")
    os.link("l", "nofollow", follow_symlinks=False)
    t.eq(os.lstat("nofollow").st_ino, os.lstat("l").st_ino, "linkat without follow links the symlink itself")
    t.ok(stat.S_ISLNK(os.lstat("nofollow").st_mode), "linked symlink is a symlink")
    os.symlink("nowhere", "dangling")
    t.e(2, "link following a dangling symlink ENOENT", linkat, "dangling", "x", AT_SYMLINK_FOLLOW)
    t.e(0, "link of a dangling symlink itself ok", os.link, "dangling", "y", follow_symlinks=False)


@g.case("link timestamps")
def _(t):
    os.mkdir("a", 0o755)
    os.mkdir("b", 0o755)
    for k in NONDIR_TYPES:
        make(k, "a/" + k, target="x")
        b = t.snap("a/" + k, "a", "b")
        os.link("a/" + k, "b/" + k, follow_symlinks=False)
        t.times(b, "a/" + k, "link %s: source" % k, m=False, c=True)
        t.times(b, "b", "link %s: new parent" % k, m=True, c=True)
        t.times(b, "a", "link %s: source parent" % k, m=False, c=False)


@g.case("link errors on the names")
def _(t):
    make("reg", "f")
    for k in TYPES:
        make(k, "e_" + k, target="x")
        t.e(17, "link onto existing %s EEXIST" % k, os.link, "f", "e_" + k)
    os.symlink("nowhere", "dangling")
    t.e(17, "link onto a dangling symlink EEXIST", os.link, "f", "dangling")
    os.mkdir("d", 0o755)
    t.e(1, "link of a directory EPERM", os.link, "d", "d2")
    t.e(2, "link of a missing source ENOENT", os.link, "nx", "x")
    t.e(20, "link with source trailing slash ENOTDIR", os.link, "f/", "x2")
    t.e(2, "link into a missing directory ENOENT", os.link, "f", "nx/x")
    t.e(17, "link onto itself EEXIST", os.link, "f", "f")
    t.eq(os.lstat("f").st_nlink, 1, "failed links left nlink at 1")


@g.case("link permissions")
def _(t):
    t.open_dir()
    os.mkdir("src", 0o777)
    make("reg", "src/f", 0o666)
    os.chown("src/f", U1, G1)
    for m in (0o555, 0o755, 0o775):
        os.mkdir("ro%o" % m, m)
        t.ue(13, "link into dir %04o without write for others EACCES" % m, U1, G1, os.link, "src/f",
             "ro%o/x" % m)
    os.mkdir("own", 0o755)
    os.chown("own", U1, G1)
    t.ue(0, "link into own 0755 dir ok", U1, G1, os.link, "src/f", "own/x")
    os.mkdir("grp", 0o757)
    os.chown("grp", 0, G1)
    t.ue(13, "link into dir 0757 as group member (group lacks write) EACCES", U1, G1, os.link, "src/f", "grp/x")
    os.chmod("src", 0o766)
    t.ue(13, "link from dir without search permission EACCES", U1, G1, os.link, "src/f", "own/y")
    os.chmod("src", 0o777)
    os.mkdir("w", 0o777)
    t.ue(0, "owner links own file into 0777 dir", U1, G1, os.link, "src/f", "w/a")
    make("reg", "src/root0600", 0o600)
    # fs.protected_hardlinks=1 forbids linking files the caller cannot read+write;
    # it is a sysctl, not filesystem semantics, so only check when enabled.
    try:
        with open("/proc/sys/fs/protected_hardlinks") as f:
            prot = f.read().strip() == "1"
    except OSError:
        prot = False
    t.ue(1 if prot else 0, "link of another user's 0600 file (protected_hardlinks=%d)" % prot, U1, G1,
         os.link, "src/root0600", "w/b")


@g.case("path resolution errors (source)")
def _(t):
    n = [0]

    def op(p):
        n[0] += 1
        os.link(p, "dst%d" % n[0])
    os.chmod(".", 0o777)
    path_errors(t, "link source", op, prep=lambda p: make("reg", p))


@g.case("path resolution errors (destination)")
def _(t):
    make("reg", "src")
    os.chmod("src", 0o666)
    path_errors(t, "link destination", lambda p: os.link("src", p), create=True)
