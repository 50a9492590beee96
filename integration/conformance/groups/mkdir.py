import os

from harness import Group, TYPES, U1, G1, make, now_ns
from common import create_checks

g = Group("mkdir")


@g.case("mkdir creation semantics")
def _(t):
    create_checks(t, "mkdir", os.mkdir, "dir",
                  special_modes=((0o1777, 0o1777), (0o2755, 0o755), (0o4755, 0o755), (0o7777, 0o1777)))


@g.case("mkdir details")
def _(t):
    os.mkdir("d", 0o755)
    t.eq(sorted(os.listdir("d")), [], "new directory is empty")
    t.e(0, "mkdir with a trailing slash ok", os.mkdir, "e/", 0o755)
    t.ok(os.path.isdir("e"), "mkdir e/ created e")
    t.e(0, "mkdir with two trailing slashes ok", os.mkdir, "e2//", 0o755)
    t.e(17, "mkdir . EEXIST", os.mkdir, ".", 0o755)
    t.e(17, "mkdir .. EEXIST", os.mkdir, "..", 0o755)
    t.e(17, "mkdir d/. EEXIST", os.mkdir, "d/.", 0o755)
    os.symlink("nowhere", "dangling")
    t.e(17, "mkdir on a dangling symlink EEXIST (no follow)", os.mkdir, "dangling", 0o755)
    t.ok(not os.path.lexists("nowhere"), "mkdir did not create the symlink target")
    base = os.lstat(".").st_nlink
    for i in range(1, 11):
        os.mkdir("c%d" % i, 0o755)
        t.eq(os.lstat(".").st_nlink, base + i, "parent nlink after %d more subdirs" % i)
    make("reg", "plainfile")
    t.eq(os.lstat(".").st_nlink, base + 10, "a regular file does not change parent nlink")
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    os.mkdir("viafd", 0o700, dir_fd=fd)
    os.close(fd)
    t.ok(os.path.isdir("viafd"), "mkdirat relative to a dir fd")
    t.e(9, "mkdirat with a closed dir fd EBADF", os.mkdir, "x", 0o700, dir_fd=fd)
    fd = os.open("plainfile", os.O_RDONLY)
    t.e(20, "mkdirat with a non-directory fd ENOTDIR", os.mkdir, "x", 0o700, dir_fd=fd)
    os.close(fd)
