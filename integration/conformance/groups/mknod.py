import os
import stat

from harness import Group, U1, G1, make
from common import create_checks

g = Group("mknod")
SPECIAL = ((0o1644, 0o1644), (0o2755, 0o2755), (0o4755, 0o4755))
KIND = {"chr": stat.S_IFCHR, "blk": stat.S_IFBLK, "sock": stat.S_IFSOCK, "reg": stat.S_IFREG,
        "fifo": stat.S_IFIFO}


def mk(kind, dev=os.makedev(1, 3)):
    return lambda p, m: os.mknod(p, KIND[kind] | m, dev)


for _k in ("chr", "blk", "sock"):
    def _case(t, k=_k):
        create_checks(t, "mknod " + k, mk(k), k, special_modes=SPECIAL, root_only=k != "sock")
    g.case("mknod %s creation semantics" % _k)(_case)


@g.case("mknod device numbers and types")
def _(t):
    for k in ("chr", "blk"):
        for ma, mi in ((1, 3), (1, 5), (8, 0), (7, 200), (259, 1), (4095, 1048575)):
            n = "%s_%d_%d" % (k, ma, mi)
            os.mknod(n, KIND[k] | 0o600, os.makedev(ma, mi))
            s = os.lstat(n)
            t.eq((stat.S_IFMT(s.st_mode), os.major(s.st_rdev), os.minor(s.st_rdev)), (KIND[k], ma, mi),
                 "mknod %s %d,%d keeps type and rdev" % (k, ma, mi))
    for k in ("reg", "fifo", "sock"):
        os.mknod(k, KIND[k] | 0o640)
        s = os.lstat(k)
        t.eq((stat.S_IFMT(s.st_mode), stat.S_IMODE(s.st_mode), s.st_size), (KIND[k], 0o640, 0),
             "mknod %s type, mode, size 0" % k)
    os.mknod("zero", 0o600)
    t.ok(stat.S_ISREG(os.lstat("zero").st_mode), "mknod with type 0 makes a regular file")
    t.e(1, "mknod S_IFDIR EPERM", os.mknod, "dir", stat.S_IFDIR | 0o755)
    t.e(22, "mknod with a bogus type EINVAL", os.mknod, "bogus", 0o170000 | 0o644)
    t.e(2, "mknod x/ (trailing slash) ENOENT", os.mknod, "tr/", stat.S_IFIFO | 0o644)


@g.case("mknod permissions")
def _(t):
    t.open_dir()
    for k in ("chr", "blk"):
        t.ue(1, "non-root mknod %s EPERM" % k, U1, G1, os.mknod, "u" + k, KIND[k] | 0o644, os.makedev(1, 3))
        t.ok(not os.path.lexists("u" + k), "failed mknod %s created nothing" % k)
    for k in ("fifo", "sock", "reg"):
        t.ue(0, "non-root mknod %s ok" % k, U1, G1, os.mknod, "u" + k, KIND[k] | 0o644)
        s = os.lstat("u" + k)
        t.eq((s.st_uid, s.st_gid, stat.S_IFMT(s.st_mode)), (U1, G1, KIND[k]), "non-root mknod %s owner" % k)


@g.case("bind(2) of a unix socket creates a socket node")
def _(t):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind("sk")  # relative: the cwd is the case directory
        st = os.lstat("sk")
        t.ok(stat.S_ISSOCK(st.st_mode), "bound socket is a socket node")
        t.eq(st.st_uid, 0, "socket node owned by the caller")
        s.listen(1)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect("sk")
        a, _ = s.accept()
        c.sendall(b"ping")
        t.eq(a.recv(4), b"ping", "connect through the socket node works")
        a.close()
        c.close()
    finally:
        s.close()
    s2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        t.e(98, "bind over an existing node EADDRINUSE", s2.bind, "sk")
    finally:
        s2.close()
    os.unlink("sk")
    t.ok(not os.path.lexists("sk"), "socket node unlinked")
