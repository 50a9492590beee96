import os
import stat

from harness import Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, make, mode, as_user, uerr
from common import create_checks

g = Group("open")
ACC = {"O_RDONLY": (os.O_RDONLY, 4), "O_WRONLY": (os.O_WRONLY, 2), "O_RDWR": (os.O_RDWR, 6)}


def creat(p, m):
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, m)
    os.close(fd)


def read_all(p):
    with open(p, "rb") as f:
        return f.read()


@g.case("open O_CREAT creation semantics")
def _(t):
    create_checks(t, "open O_CREAT", creat, "reg",
                  special_modes=((0o1644, 0o1644), (0o2755, 0o2755), (0o4755, 0o4755), (0o7777, 0o7777)))


@g.case("access mode checked against owner/group/other bits")
def _(t):
    t.open_dir()
    for cls, (uid, gid) in (("owner", (U1, G2)), ("group", (0, G1)), ("other", (0, 0))):
        for bits in range(8):
            # only the caller's class has `bits`; the other classes have everything
            m = {"owner": bits << 6 | 0o077, "group": bits << 3 | 0o707, "other": 0o770 | bits}[cls]
            n = "%s%o" % (cls, bits)
            make("reg", n, m)
            os.chown(n, uid, gid)
            for acc, (fl, need) in ACC.items():
                exp = 0 if bits & need == need else 13
                t.ue(exp, "%s class, mode %04o, %s %s" % (cls, m, acc, "ok" if not exp else "EACCES"),
                     U1, G1, os.open, n, fl)
    # root ignores the bits for reading/writing
    make("reg", "none", 0o000)
    t.e(0, "root opens a mode 0000 file O_RDWR", os.open, "none", os.O_RDWR)


@g.case("open flags on existing files")
def _(t):
    with open("f", "wb") as f:
        f.write(b"0123456789")
    fd = os.open("f", os.O_RDWR | os.O_APPEND)
    os.write(fd, b"ab")
    os.close(fd)
    t.eq(read_all("f"), b"0123456789ab", "O_APPEND writes at the end")
    fd = os.open("f", os.O_WRONLY)
    os.write(fd, b"XY")
    os.close(fd)
    t.eq(read_all("f"), b"XY23456789ab", "O_WRONLY without O_TRUNC overwrites in place")
    b = t.snap("f", ".")
    fd = os.open("f", os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    t.eq(os.lstat("f").st_size, 0, "O_TRUNC empties the file")
    t.times(b, "f", "O_TRUNC", m=True, c=True)
    t.times(b, ".", "O_TRUNC parent", m=False, c=False)
    with open("f", "wb") as f:
        f.write(b"keep")
    b = t.snap("f", ".")
    fd = os.open("f", os.O_RDONLY)
    os.close(fd)
    t.times(b, "f", "open O_RDONLY", m=False, c=False)
    t.times(b, ".", "open O_RDONLY parent", m=False, c=False)
    fd = os.open("f", os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    t.eq((read_all("f"), mode("f")), (b"keep", 0o666), "O_CREAT on an existing file keeps data and mode")
    t.e(17, "O_CREAT|O_EXCL on an existing file EEXIST", os.open, "f", os.O_CREAT | os.O_EXCL | os.O_RDWR)
    fd = os.open("f", os.O_RDONLY)
    t.e(9, "write on an O_RDONLY fd EBADF", os.write, fd, b"x")
    os.close(fd)
    fd = os.open("f", os.O_WRONLY)
    t.e(9, "read on an O_WRONLY fd EBADF", os.read, fd, 1)
    os.close(fd)
    t.e(9, "read on a closed fd EBADF", os.read, fd, 1)
    t.e(9, "close of a closed fd EBADF", os.close, fd)
    fd = os.open("f", os.O_PATH)
    t.e(9, "read on an O_PATH fd EBADF", os.read, fd, 1)
    os.close(fd)


@g.case("open on directories and special files")
def _(t):
    os.mkdir("d", 0o755)
    t.e(0, "O_RDONLY on a directory ok", os.open, "d", os.O_RDONLY)
    t.e(0, "O_DIRECTORY on a directory ok", os.open, "d", os.O_RDONLY | os.O_DIRECTORY)
    t.e(21, "O_WRONLY on a directory EISDIR", os.open, "d", os.O_WRONLY)
    t.e(21, "O_RDWR on a directory EISDIR", os.open, "d", os.O_RDWR)
    t.e(21, "O_CREAT on an existing directory EISDIR", os.open, "d", os.O_CREAT | os.O_RDONLY)
    t.e(21, "O_TRUNC on a directory EISDIR", os.open, "d", os.O_RDONLY | os.O_TRUNC)
    fd = os.open("d", os.O_RDONLY)
    t.e(21, "read on a directory fd EISDIR", os.read, fd, 10)
    os.close(fd)
    for k in NONDIR_TYPES:
        make(k, "nd_" + k, target="d")
        if k == "symlink":
            continue
        t.e(20, "O_DIRECTORY on %s ENOTDIR" % k, os.open, "nd_" + k, os.O_RDONLY | os.O_DIRECTORY)
    t.e(6, "open of a socket ENXIO", os.open, "nd_sock", os.O_RDONLY)
    t.e(0, "O_RDONLY|O_NONBLOCK on a fifo without writer ok", os.open, "nd_fifo", os.O_RDONLY | os.O_NONBLOCK)
    t.e(6, "O_WRONLY|O_NONBLOCK on a fifo without reader ENXIO", os.open, "nd_fifo", os.O_WRONLY | os.O_NONBLOCK)
    t.e(0, "open a /dev/null char device node", os.open, "nd_chr", os.O_RDWR)
    t.e(0, "O_DIRECTORY through a symlink to a dir ok", os.open, "nd_symlink", os.O_RDONLY | os.O_DIRECTORY)


@g.case("open and symlinks")
def _(t):
    with open("f", "wb") as f:
        f.write(b"target")
    os.symlink("f", "l")
    fd = os.open("l", os.O_RDONLY)
    t.eq(os.read(fd, 10), b"target", "open follows a symlink")
    os.close(fd)
    t.e(40, "O_NOFOLLOW on a symlink ELOOP", os.open, "l", os.O_RDONLY | os.O_NOFOLLOW)
    t.e(0, "O_NOFOLLOW on a regular file ok", os.open, "f", os.O_RDONLY | os.O_NOFOLLOW)
    os.mkdir("d", 0o755)
    os.symlink("d", "ld")
    t.e(20, "O_NOFOLLOW|O_DIRECTORY on a symlink to a dir ENOTDIR", os.open, "ld",
        os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    t.e(0, "O_NOFOLLOW only applies to the last component", os.open, "ld/../f", os.O_RDONLY | os.O_NOFOLLOW)
    fd = os.open("l", os.O_PATH | os.O_NOFOLLOW)
    t.ok(stat.S_ISLNK(os.fstat(fd).st_mode), "O_PATH|O_NOFOLLOW opens the symlink itself")
    os.close(fd)
    t.e(17, "O_CREAT|O_EXCL on a symlink EEXIST", os.open, "l", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.symlink("newtarget", "dangling")
    t.e(17, "O_CREAT|O_EXCL on a dangling symlink EEXIST", os.open, "dangling",
        os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    t.e(0, "O_CREAT through a dangling symlink creates the target", os.open, "dangling",
        os.O_CREAT | os.O_WRONLY, 0o600)
    t.ok(os.path.isfile("newtarget") and os.path.islink("dangling"), "target created, link kept")
    os.symlink("loop2", "loop1")
    os.symlink("loop1", "loop2")
    t.e(40, "open of a symlink loop ELOOP", os.open, "loop1", os.O_RDONLY)
    t.e(40, "O_CREAT on a symlink loop ELOOP", os.open, "loop1", os.O_CREAT | os.O_WRONLY)
    # a chain of 40 symlinks resolves; 41 is too many
    prev = "f"
    for i in range(41):
        os.symlink(prev, "c%02d" % i)
        prev = "c%02d" % i
    t.e(0, "a chain of 40 symlinks resolves", os.open, "c39", os.O_RDONLY)
    t.e(40, "a chain of 41 symlinks ELOOP", os.open, "c40", os.O_RDONLY)


@g.case("O_CREAT permissions and O_TRUNC permission")
def _(t):
    t.open_dir()
    os.mkdir("ro", 0o755)
    make("reg", "ro/exists", 0o666)
    t.ue(13, "O_CREAT of a new file in a 0755 dir EACCES", U1, G1, os.open, "ro/new", os.O_CREAT | os.O_WRONLY)
    t.ue(0, "O_CREAT of an existing writable file in a 0755 dir ok", U1, G1, os.open, "ro/exists",
         os.O_CREAT | os.O_WRONLY)
    make("reg", "r", 0o644)
    t.ue(13, "O_RDONLY|O_TRUNC without write permission EACCES", U1, G1, os.open, "r", os.O_RDONLY | os.O_TRUNC)
    t.ue(13, "O_WRONLY without write permission EACCES", U1, G1, os.open, "r", os.O_WRONLY)
    t.ue(0, "O_RDONLY with read permission ok", U1, G1, os.open, "r", os.O_RDONLY)
    os.mkdir("nr", 0o733)
    t.ue(13, "open of a dir without read permission EACCES", U1, G1, os.open, "nr", os.O_RDONLY)
    t.ue(0, "O_PATH on a dir without read permission ok", U1, G1, os.open, "nr", os.O_PATH)


@g.case("writes clear setuid/setgid")
def _(t):
    t.open_dir()
    for m, exp in ((0o4777, 0o777), (0o2777, 0o777), (0o6777, 0o777), (0o1777, 0o1777)):
        n = "f%o" % m
        make("reg", n, m)
        def wr(p):
            fd = os.open(p, os.O_WRONLY)
            os.write(fd, b"x")
            os.close(fd)
        t.ue(0, "non-owner writes %04o file" % m, U1, G1, wr, n)
        t.mode_is(n, exp, "write by non-root to %04o leaves %04o" % (m, exp))
    make("reg", "rootw", 0o6777)
    fd = os.open("rootw", os.O_WRONLY)
    os.write(fd, b"x")
    os.close(fd)
    t.mode_is("rootw", 0o6777, "write by root keeps setuid/setgid")


@g.case("write and its timestamps, sizes, sparse files")
def _(t):
    make("reg", "f")
    b = t.snap("f", ".")
    fd = os.open("f", os.O_WRONLY)
    os.write(fd, b"abc")
    os.close(fd)
    t.times(b, "f", "write", m=True, c=True)
    t.times(b, ".", "write parent", m=False, c=False)
    fd = os.open("f", os.O_RDWR)
    os.lseek(fd, 1 << 20, os.SEEK_SET)
    os.write(fd, b"end")
    t.eq(os.fstat(fd).st_size, (1 << 20) + 3, "write past EOF extends the size")
    os.lseek(fd, 3, os.SEEK_SET)
    t.eq(os.read(fd, 16), b"\0" * 16, "the hole reads as zeros")
    os.close(fd)
    for sz in (0, 1, 511, 4096, 4097, 65536, 131073):
        n = "s%d" % sz
        data = bytes(i % 251 for i in range(sz))
        with open(n, "wb") as f:
            f.write(data)
        t.eq((os.lstat(n).st_size, read_all(n) == data), (sz, True), "write %d bytes, size and content" % sz)
    # EFBIG: 2**40 bytes is within ext4 (16 TiB) and tmpfs limits; a filesystem with
    # a smaller maximum file size legitimately returns EFBIG -- both accepted.
    fd = os.open("big", os.O_CREAT | os.O_WRONLY, 0o644)
    os.lseek(fd, 1 << 40, os.SEEK_SET)
    try:
        os.write(fd, b"x")
        got = 0
    except OSError as e:
        got = e.errno
    os.close(fd)
    t._e((0, 27), got, "write at offset 2**40: ok or EFBIG")
    if got == 0:
        t.eq(os.lstat("big").st_size, (1 << 40) + 1, "sparse 1 TiB file has the right size")


@g.case("path resolution errors (existing file)")
def _(t):
    from common import path_errors
    path_errors(t, "open O_RDONLY", lambda p: os.close(os.open(p, os.O_RDONLY)), prep=lambda p: make("reg", p, 0o644))
