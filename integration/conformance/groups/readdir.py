import ctypes
import os
import stat

from harness import Group, TYPES, U1, G1, make, _libc
from common import path_errors

g = Group("readdir")


class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64), ("d_reclen", ctypes.c_ushort),
                ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]


_libc.opendir.restype = ctypes.c_void_p
_libc.opendir.argtypes = [ctypes.c_char_p]
_libc.readdir.restype = ctypes.POINTER(Dirent)
_libc.readdir.argtypes = [ctypes.c_void_p]
_libc.closedir.argtypes = [ctypes.c_void_p]


def raw_list(path):
    """All names readdir(3) returns, '.' and '..' included, in order."""
    d = _libc.opendir(os.fsencode(path))
    if not d:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    out = []
    try:
        while True:
            ctypes.set_errno(0)
            p = _libc.readdir(d)
            if not p:
                e = ctypes.get_errno()
                if e:
                    raise OSError(e, os.strerror(e))
                break
            out.append(p.contents.d_name)
    finally:
        _libc.closedir(d)
    return out


@g.case("entries exactly as created, with . and ..")
def _(t):
    os.mkdir("d", 0o755)
    t.eq(sorted(raw_list("d")), [b".", b".."], "empty dir lists only . and ..")
    for k in TYPES:
        make(k, "d/" + k, target="x")
    names = raw_list("d")
    t.eq(sorted(names), sorted([b".", b".."] + [k.encode() for k in TYPES]), "one entry per created node")
    t.eq(len(names), len(set(names)), "no duplicates")
    for e in os.scandir("d"):
        s = os.lstat(e.path)
        t.eq((e.is_dir(follow_symlinks=False), e.is_symlink(), e.is_file(follow_symlinks=False), e.inode()),
             (stat.S_ISDIR(s.st_mode), stat.S_ISLNK(s.st_mode), stat.S_ISREG(s.st_mode), s.st_ino),
             "entry %s: type and inode agree with lstat" % e.name)
    os.rename("d/reg", "d/renamed")
    l = set(os.listdir("d"))
    t.ok("renamed" in l and "reg" not in l, "after rename only the new name is listed")
    os.unlink("d/renamed")
    t.ok("renamed" not in set(os.listdir("d")), "after unlink the name is gone")
    os.rmdir("d/dir")
    t.ok("dir" not in set(os.listdir("d")), "after rmdir the name is gone")
    fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
    t.eq(sorted(os.listdir(fd)), sorted(os.listdir("d")), "listing through an fd (fdopendir)")
    os.close(fd)


@g.case("names of every length and every byte")
def _(t):
    os.mkdir("len", 0o755)
    lens = (1, 2, 3, 15, 16, 17, 31, 32, 63, 64, 100, 127, 128, 200, 254, 255)
    for n in lens:
        make("reg", "len/" + "%d_" % n + "x" * (n - len("%d_" % n)) if n > 4 else "len/" + "abcd"[:n])
    got = sorted(len(x) for x in os.listdir("len"))
    t.eq(got, sorted(lens), "names of lengths 1..255 all listed")
    os.mkdir("bytes", 0o755)
    for b in range(1, 256):
        if b == 0x2f:
            continue
        name = b"n" + bytes([b])
        os.mknod(os.path.join(b"bytes", name), stat.S_IFREG | 0o644)
    listed = set(os.listdir(b"bytes"))
    for b in range(1, 256):
        if b == 0x2f:
            continue
        name = b"n" + bytes([b])
        t.ok(name in listed and os.path.lexists(os.path.join(b"bytes", name)),
             "name with byte 0x%02x listed and found" % b)
    t.eq(len(listed), 254, "254 single-byte-variant names, no extras")
    for name in (b".x", b"..x", b"...", b" ", b"-", b"\xff\xfe", "\u65e5\u672c".encode()):
        make("reg", os.path.join(b"bytes", name).decode("utf-8", "surrogateescape"))
        t.ok(name in set(os.listdir(b"bytes")), "special name %r listed" % name)


@g.case("large directories are listed completely")
def _(t):
    for count in (100, 2000):
        d = "big%d" % count
        os.mkdir(d, 0o755)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        for i in range(count):
            os.close(os.open("entry_%05d_%s" % (i, "p" * (i % 50)), os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
        os.close(fd)
        names = raw_list(d)
        expect = {b"entry_%05d_%s" % (i, b"p" * (i % 50)) for i in range(count)} | {b".", b".."}
        t.eq(len(names), count + 2, "%d entries: listing has %d names" % (count, count + 2))
        t.eq(len(set(names)), len(names), "%d entries: no duplicates" % count)
        t.ok(set(names) == expect, "%d entries: exactly the created names" % count)
        for i in range(0, count, 3):
            os.unlink("%s/entry_%05d_%s" % (d, i, "p" * (i % 50)))
        left = set(os.listdir(d))
        t.eq(len(left), count - len(range(0, count, 3)), "%d entries: after removing every third" % count)
    os.mkdir("subs", 0o755)
    for i in range(1, 41):
        os.mkdir("subs/s%d" % i, 0o755)
        if i % 8 == 0:
            t.eq(os.lstat("subs").st_nlink, 2 + i, "dir with %d subdirs has nlink %d" % (i, 2 + i))


@g.case("changes during a listing")
def _(t):
    os.mkdir("d", 0o755)
    n = 1500
    for i in range(n):
        make("reg", "d/s%04d" % i)
    removed = set()
    added = set()
    seen = []
    it = os.scandir("d")
    for j, e in enumerate(it):
        seen.append(e.name)
        if j == 200:
            # remove some names (some already seen, some not), add new ones
            for i in range(0, n, 7):
                os.unlink("d/s%04d" % i)
                removed.add("s%04d" % i)
            for i in range(600):
                make("reg", "d/new%04d" % i)
                added.add("new%04d" % i)
    it.close()
    survivors = {"s%04d" % i for i in range(n)} - removed
    counts = {}
    for s in seen:
        counts[s] = counts.get(s, 0) + 1
    t.ok(all(c == 1 for c in counts.values()), "no name returned twice while the dir changes")
    t.ok(survivors <= set(seen), "every surviving entry returned exactly once",
         "missing %d" % len(survivors - set(seen)))
    t.ok(set(seen) <= survivors | removed | added, "no name that never existed")
    final = set(os.listdir("d"))
    want = survivors | added
    t.ok(final == want, "a fresh listing afterwards is exact",
         "missing %s extra %s" % (sorted(want - final)[:5], sorted(final - want)[:5]))


@g.case("readdir errors and permissions")
def _(t):
    t.open_dir()
    make("reg", "f")
    t.e(20, "listing a regular file ENOTDIR", os.listdir, "f")
    t.e(2, "listing a missing dir ENOENT", os.listdir, "nx")
    os.mkdir("noread", 0o755)
    make("reg", "noread/x")
    os.chmod("noread", 0o711)
    t.ue(13, "listing a dir without read permission EACCES", U1, G1, os.listdir, "noread")
    t.ue(0, "but a known name inside is reachable with search permission", U1, G1, os.stat, "noread/x")
    os.mkdir("nosearch", 0o755)
    make("reg", "nosearch/y")
    os.chmod("nosearch", 0o744)
    t.eq(as_names(U1, G1, "nosearch"), ["y"], "read without search permission still lists names")
    t.ue(13, "but stat of an entry needs search permission EACCES", U1, G1, os.stat, "nosearch/y")
    os.chmod("nosearch", 0o700)
    t.ue(13, "dir 0700 owned by root EACCES", U1, G1, os.listdir, "nosearch")
    os.mkdir("gone", 0o755)
    fd = os.open("gone", os.O_RDONLY | os.O_DIRECTORY)
    os.rmdir("gone")
    t.eq(os.listdir(fd), [], "a removed dir lists nothing through an open fd")
    os.close(fd)
    t.e(9, "listing through a closed fd EBADF", os.listdir, fd)


def as_names(uid, gid, p):
    from harness import as_user
    e, v = as_user(uid, gid, lambda: sorted(os.listdir(p)))
    return v if e == 0 else e


@g.case("path resolution errors")
def _(t):
    path_errors(t, "opendir", os.listdir, prep=lambda p: os.mkdir(p, 0o755))
