"""Bad input at the FUSE boundary: name lengths, names with any byte, deep trees, oversized xattrs
and writes past the maximum file size. Each gets the right errno, and after each the daemon still
answers (a probe that kills a wedged daemon rather than hang the runner).
"""
import errno
import os
import stat

import rlib
from rlib import check, expect_errno, needs

MAX_FILE = 1 << 40  # the default maximum file size


def fresh(ctx, name):
    db, mnt = ctx.path(name + ".db"), ctx.dir(name + ".mnt")
    return rlib.mount(ctx, db, mnt, name=name), db, mnt


def remount(ctx, m, name):
    """A clean unmount and a mount of the same database; None when remount checks are skipped."""
    m.stop()
    if not ctx.remount_checks():
        return None
    return rlib.mount(ctx, m.db, m.mnt, name=name)


@needs("mount")
def test_name_length_255_works_256_is_enametoolong(ctx):
    """255-byte names work for every kind of node; 256 bytes give ENAMETOOLONG everywhere."""
    m, _, mnt = fresh(ctx, "names")
    root = os.fsencode(mnt)
    j = lambda n: os.path.join(root, n)  # noqa: E731
    n255 = [b"f" * 255, "\u00e9".encode() * 127 + b"x", b"\xff" * 255]
    for n in n255:
        with open(j(n), "wb") as f:
            f.write(n[:10])
        check(os.stat(j(n)).st_size == 10, "stat of a 255-byte name")
        os.setxattr(j(n), "user.x", b"1")
        os.rename(j(n), j(n[:-1] + b"R"))
        with open(j(n[:-1] + b"R"), "rb") as f:
            check(f.read() == n[:10], "content after renaming a 255-byte name")
    os.mkdir(j(b"d" * 255))
    os.symlink(b"target", j(b"l" * 255))
    os.mkfifo(j(b"p" * 255))
    os.link(j(b"f" * 254 + b"R"), j(b"h" * 255))
    with open(j(b"d" * 255 + b"/" + b"c" * 255), "wb") as f:
        f.write(b"child")
    listed = set(os.listdir(root))
    want = {n[:-1] + b"R" for n in n255} | {b"d" * 255, b"l" * 255, b"p" * 255, b"h" * 255}
    check(listed == want, "listdir after 255-byte names: missing %r, extra %r" % (
        [x[:8] for x in want - listed], [x[:8] for x in listed - want]))
    m.answers("255-byte names")

    n256 = b"g" * 256
    existing = j(b"f" * 254 + b"R")
    cases = [
        ("open O_CREAT", lambda n: os.close(os.open(j(n), os.O_CREAT | os.O_WRONLY, 0o644))),
        ("mkdir", lambda n: os.mkdir(j(n))),
        ("symlink", lambda n: os.symlink(b"t", j(n))),
        ("mkfifo", lambda n: os.mkfifo(j(n))),
        ("link", lambda n: os.link(existing, j(n))),
        ("rename to it", lambda n: os.rename(existing, j(n))),
        ("stat", lambda n: os.stat(j(n))),
        ("unlink", lambda n: os.unlink(j(n))),
        ("create in a subdir", lambda n: os.close(os.open(os.path.join(j(b"d" * 255), n), os.O_CREAT | os.O_WRONLY))),
    ]
    for bad in (n256, "\u00e9".encode() * 128, b"\xfe" * 300, b"z" * 1024):
        for what, fn in cases:
            expect_errno(errno.ENAMETOOLONG, fn, bad, what="%s of a %d-byte name" % (what, len(bad)))
            m.answers("%s of a %d-byte name" % (what, len(bad)))
    check(set(os.listdir(root)) == want, "the failed calls changed the root: %r" % sorted(
        x[:8] for x in set(os.listdir(root)) ^ want))
    check(os.statvfs(mnt).f_namemax == 255, "statvfs f_namemax is %d, expected 255" % os.statvfs(mnt).f_namemax)
    m = remount(ctx, m, "names")
    if m:
        check(set(os.listdir(root)) == want, "255-byte names after a remount: %r" % sorted(
            x[:8] for x in set(os.listdir(root)) ^ want))
        with open(j(b"d" * 255 + b"/" + b"c" * 255), "rb") as f:
            check(f.read() == b"child", "a 255/255-byte path after a remount")
        m.stop()


def odd_names():
    """Names with every byte but '/' and NUL, newlines, control bytes and invalid UTF-8."""
    names = set()
    for b in range(1, 256):
        if b == 0x2F:
            continue
        names.add(b"x" + bytes([b]) + b"y")
        if b != 0x2E:
            names.add(bytes([b]))
    names |= {b"\n", b"a\nb", b"\r\n", b"\t", b" ", b"  lead", b"trail ", b"-", b"--x", b"\\", b"*?[]",
              b"...", b"..a", b".hidden", b"\x7f", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
              b"\xc0\xaf", b"\xe2\x82", b"\xff\xfe\xfd", "\u00e9t\u00e9".encode(), "\U0001f600".encode(),
              b"\x1b[31mred", b"%s%n", b"\x01\x02\x03"}
    return names


@needs("mount", "clean unmount", "remount")
def test_names_with_any_byte(ctx):
    """Names with any byte but '/' and NUL create, list back exactly (bytes) and persist."""
    m, _, mnt = fresh(ctx, "bytes")
    root = os.fsencode(mnt)
    names = odd_names()
    for n in sorted(names):
        with open(os.path.join(root, n), "wb") as f:
            f.write(n)
    m.answers("creating odd names")
    # Directories whose names share a prefix with bytes below and above '/': listings must not mix.
    base = b"p"
    family = [base, base + b"\x01", base + b".", base + b"0", base + b"\xff", base + b"\x2e\x2e"]
    os.mkdir(os.path.join(root, b"fam"))
    for d in family:
        os.mkdir(os.path.join(root, b"fam", d))
        with open(os.path.join(root, b"fam", d, b"c" + d), "wb") as f:
            f.write(d)

    def verify(when):
        listed = os.listdir(root)
        check(len(listed) == len(set(listed)), "%s: duplicate names in the listing" % when)
        want = names | {b"fam"}
        check(set(listed) == want, "%s: listdir differs: missing %r, extra %r" % (
            when, sorted(want - set(listed))[:10], sorted(set(listed) - want)[:10]))
        for n in sorted(names):
            with open(os.path.join(root, n), "rb") as f:
                check(f.read() == n, "%s: content of %r" % (when, n))
        with os.scandir(root) as it:
            for e in it:
                check(e.is_dir(follow_symlinks=False) == (e.name == b"fam"), "%s: d_type of %r" % (when, e.name))
        check(sorted(os.listdir(os.path.join(root, b"fam"))) == sorted(family), "%s: fam lists %r" % (
            when, sorted(os.listdir(os.path.join(root, b"fam")))))
        for d in family:
            check(os.listdir(os.path.join(root, b"fam", d)) == [b"c" + d], "%s: %r lists %r" % (
                when, d, os.listdir(os.path.join(root, b"fam", d))))
    verify("after creating")
    # Renames between odd names keep them exact.
    os.rename(os.path.join(root, b"\n"), os.path.join(root, b"\n\n"))
    os.rename(os.path.join(root, b"\n\n"), os.path.join(root, b"\n"))
    os.rename(os.path.join(root, b"fam", b"p"), os.path.join(root, b"fam", b"p\x7f"))
    os.rename(os.path.join(root, b"fam", b"p\x7f"), os.path.join(root, b"fam", b"p"))
    verify("after renames")
    m = remount(ctx, m, "bytes")
    if m:
        verify("after a remount")
        m.stop()


@needs("mount", "remount")
def test_deep_tree_120_levels(ctx):
    """A 120-level tree of 30-byte names (3.7 KB paths): build, rename the top, remount, remove."""
    m, _, mnt = fresh(ctx, "deep")
    levels = ["level-%03d-%s" % (i, "x" * 20) for i in range(120)]
    path = mnt
    for name in levels:
        path = os.path.join(path, name)
        os.mkdir(path)
    leaf = os.path.join(path, "leaf")
    with open(leaf, "wb") as f:
        f.write(b"deep down")
    os.setxattr(path, "user.depth", b"120")
    m.answers("building 120 levels")
    check(len(leaf) - len(mnt) > 3600, "the leaf path is only %d bytes" % (len(leaf) - len(mnt)))
    count = sum(len(ds) + len(fs) for _, ds, fs in os.walk(mnt))
    check(count == 121, "os.walk finds %d nodes, expected 121" % count)
    os.rename(os.path.join(mnt, levels[0]), os.path.join(mnt, "moved"))
    moved_leaf = os.path.join(mnt, "moved", *levels[1:], "leaf")
    expect_errno(errno.ENOENT, os.stat, leaf, what="stat of the old deep path")
    with open(moved_leaf, "rb") as f:
        check(f.read() == b"deep down", "the leaf after renaming the top")
    m.answers("renaming the top of 120 levels")
    if ctx.remount_checks():
        m = remount(ctx, m, "deep")
        with open(moved_leaf, "rb") as f:
            check(f.read() == b"deep down", "the leaf after a remount")
        check(os.getxattr(os.path.dirname(moved_leaf), "user.depth") == b"120", "the deep xattr after a remount")
    # One level deeper than the rest, by a relative path from the deepest dir.
    deepest = os.path.dirname(moved_leaf)
    fd = os.open(deepest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.mkdir("one-more", dir_fd=fd)
        check(stat.S_ISDIR(os.stat("one-more", dir_fd=fd).st_mode), "mkdir relative to a deep dir")
        os.rmdir("one-more", dir_fd=fd)
    finally:
        os.close(fd)
    os.unlink(moved_leaf)
    p = deepest
    while p != mnt:
        os.rmdir(p)
        p = os.path.dirname(p)
    check(os.listdir(mnt) == [], "root after removing the deep tree: %r" % os.listdir(mnt))
    m.answers("removing 120 levels")
    m.stop()


@needs("mount", "remount")
def test_xattr_limits(ctx):
    """Values over 64 KiB give E2BIG; big values and many xattrs either work exactly or say E2BIG/ENOSPC."""
    m, _, mnt = fresh(ctx, "xattr")
    f = os.path.join(mnt, "f")
    open(f, "wb").close()
    stored = {}
    outcomes = []
    for size in (0, 1, 255, 4096, 32768, 65535, 65536):
        k, v = "user.s%d" % size, bytes((i * 7 + size) & 0xFF for i in range(size))
        e = rlib.errno_of(os.setxattr, f, k, v)
        outcomes.append("%d: %s" % (size, rlib.ename(e)))
        check(e in (None, errno.E2BIG, errno.ENOSPC), "setxattr of %d bytes answered %s" % (size, rlib.ename(e)))
        if size <= 255:
            check(e is None, "setxattr of %d bytes failed with %s" % (size, rlib.ename(e)))
        if e is None:
            stored[k] = v
            check(os.getxattr(f, k) == v, "a %d-byte xattr read back wrong" % size)
        m.answers("a %d-byte xattr" % size)
    for size in (65537, 70000, 1 << 20):
        expect_errno(errno.E2BIG, os.setxattr, f, "user.big", b"v" * size, what="setxattr of %d bytes" % size)
        m.answers("a %d-byte xattr" % size)
    os.setxattr(f, "user." + "n" * 250, b"255-byte name")
    stored["user." + "n" * 250] = b"255-byte name"
    expect_errno(errno.ERANGE, os.setxattr, f, "user." + "n" * 251, b"v", what="setxattr with a 256-byte name")
    # Many xattrs of 4000 bytes on one file: 160 KB in all, past any one value's limit.
    g = os.path.join(mnt, "g")
    open(g, "wb").close()
    many = {}
    refused = None
    for i in range(40):
        k, v = "user.m%02d" % i, bytes([i]) * 4000
        e = rlib.errno_of(os.setxattr, g, k, v)
        check(e in (None, errno.E2BIG, errno.ENOSPC), "the %dth 4000-byte xattr answered %s" % (i + 1, rlib.ename(e)))
        if e is None:
            many[k] = v
        elif refused is None:
            refused = "%d: %s" % (i + 1, rlib.ename(e))
        m.answers("the %dth 4000-byte xattr" % (i + 1))
    outcomes.append("40 x 4000 bytes on one file: %d stored%s" % (
        len(many), (", first refusal at " + refused) if refused else ""))
    ctx.notes.append("xattr sizes: " + ", ".join(outcomes))

    def verify(when):
        for path, want in ((f, stored), (g, many)):
            names = sorted(n for n in os.listxattr(path) if n.startswith("user."))
            check(names == sorted(want), "%s: listxattr of %s: %r" % (when, os.path.basename(path), names[:6]))
            for k, v in want.items():
                check(os.getxattr(path, k) == v, "%s: %s of %s read back wrong" % (when, k, os.path.basename(path)))
    verify("before a remount")
    m = remount(ctx, m, "xattr")
    if m:
        verify("after a remount")
        m.stop()


@needs("mount", "a 1 TiB maximum file size")
def test_writes_past_max_file_size_give_efbig(ctx):
    """pwrite at 2**40 gives EFBIG, at 2**40-1 writes one byte; truncate past 2**40 gives EFBIG."""
    m, _, mnt = fresh(ctx, "efbig")
    p = os.path.join(mnt, "big")
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        for off in (MAX_FILE, MAX_FILE + 4096, 1 << 50, (1 << 62) + 5):
            expect_errno(errno.EFBIG, os.pwrite, fd, b"x", off, what="pwrite of 1 byte at %d" % off)
            m.answers("pwrite at %d" % off)
        check(os.fstat(fd).st_size == 0, "the refused writes changed the size to %d" % os.fstat(fd).st_size)
        n = os.pwrite(fd, b"z", MAX_FILE - 1)
        check(n == 1, "pwrite of 1 byte at 2**40-1 wrote %d" % n)
        check(os.fstat(fd).st_size == MAX_FILE, "size %d after writing the last byte" % os.fstat(fd).st_size)
        tail = os.pread(fd, 4096, MAX_FILE - 4096)
        check(tail == b"\0" * 4095 + b"z", "the last 4 KiB read back as %r..." % tail[-8:])
        check(os.pread(fd, 10, 0) == b"\0" * 10, "the start of a sparse file is not zeros")
        e = rlib.errno_of(os.pwrite, fd, b"zz", MAX_FILE - 1)
        check(e in (None, errno.EFBIG), "pwrite of 2 bytes across the limit answered %s" % rlib.ename(e))
        check(os.fstat(fd).st_size == MAX_FILE, "size %d after a write across the limit" % os.fstat(fd).st_size)
        m.answers("writes at the limit")
        expect_errno(errno.EFBIG, os.ftruncate, fd, MAX_FILE + 1, what="ftruncate to 2**40+1")
        expect_errno(errno.EFBIG, os.truncate, p, 1 << 50, what="truncate to 2**50")
        os.ftruncate(fd, 4096)
        check(os.fstat(fd).st_size == 4096, "size after shrinking")
        os.ftruncate(fd, MAX_FILE)
        check(os.fstat(fd).st_size == MAX_FILE, "ftruncate to exactly 2**40")
        check(os.pread(fd, 8, MAX_FILE - 8) == b"\0" * 8, "the byte cut off by the shrink came back")
    finally:
        os.close(fd)
    m.answers("truncates at the limit")
    m = remount(ctx, m, "efbig")
    if m:
        check(os.stat(p).st_size == MAX_FILE, "size %d after a remount" % os.stat(p).st_size)
        m.stop()

