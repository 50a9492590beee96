"""Out of space: the database on an 8 MiB tmpfs, filled through the mount.

Writes must fail with ENOSPC (EIO or anything else is a bug), the daemon stays up and keeps
answering, reads of everything acknowledged still work, removing things (unlink, rmdir, a rename
over a file) still works on the full disk, and once space is freed (deleting files through the
mount, then growing the tmpfs) new writes work again and everything acknowledged is there, also
after a clean unmount, `holtfs check` and a remount.
"""
import errno
import os
import random
import subprocess

import rlib
from rlib import check, fail, needs

FILE_SIZE = 64 * 1024
LIMIT = 64 << 20  # give up filling the 8 MiB file system after this much was acknowledged


def write_file(path, content):
    """Creates path and writes content with fsync; returns (bytes acknowledged, errno or None, where)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except OSError as e:
        return None, e.errno, "create"
    written = 0
    try:
        while written < len(content):
            written += os.write(fd, content[written:])
        os.fsync(fd)
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return written, e.errno, "write"
    try:
        os.close(fd)
    except OSError as e:
        return written, e.errno, "close"
    return written, None, None


def verify(mnt, acked, maybe, dirs, what):
    """Every acknowledged file reads back exactly, each `maybe` file is absent or holds one of its
    allowed contents, the directories in `dirs` exist, and there is nothing else."""
    names = set(os.listdir(mnt))
    missing = sorted(n for n in list(acked) + list(dirs) if n not in names)
    check(not missing, "%s: acknowledged names missing: %r" % (what, missing[:10]))
    for n, content in sorted(acked.items()):
        with open(os.path.join(mnt, n), "rb") as f:
            got = f.read()
        check(got == content, "%s: %s holds %d bytes, expected the %d acknowledged%s" % (
            what, n, len(got), len(content), " (bytes differ)" if len(got) == len(content) else ""))
    for n, allowed in sorted(maybe.items()):
        if n in names:
            with open(os.path.join(mnt, n), "rb") as f:
                got = f.read()
            check(got in allowed, "%s: %s (its write failed) holds %d bytes, expected one of %r bytes" % (
                what, n, len(got), [len(a) for a in allowed]))
    for d in dirs:
        check(os.path.isdir(os.path.join(mnt, d)), "%s: %s is not a directory" % (what, d))
    extra = sorted(names - set(acked) - set(maybe) - set(dirs))
    check(not extra, "%s: names nobody acknowledged: %r" % (what, extra[:10]))


def record(acked, maybe, name, content, result):
    """Adds the outcome of write_file(name, content) to the oracle."""
    written, err, _ = result
    if err is None:
        acked[name] = content
    elif written is not None:
        # The create was acknowledged, the write was not: its content is all or nothing.
        maybe[name] = [content[:n] for n in sorted({0, written, len(content)})]


@needs("root", "tmpfs", "mount of a database on an 8 MiB tmpfs", "ENOSPC on a full disk", "clean unmount")
def test_full_disk_gives_enospc(ctx):
    """Fill an 8 MiB tmpfs through the mount: ENOSPC, the daemon stays up, nothing acknowledged is lost."""
    rng = random.Random(ctx.seed)
    space = rlib.tmpfs(ctx, "space", "8m")
    db, mnt = os.path.join(space, "db"), ctx.dir("space.mnt")
    m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="space")
    acked, maybe, dirs = {}, {}, set()
    os.mkdir(os.path.join(mnt, "spare-dir"))  # removed on the full disk
    dirs.add("spare-dir")
    first = None
    for i in range(LIMIT // FILE_SIZE):
        name = "f%05d" % i
        content = rng.randbytes(FILE_SIZE)
        result = write_file(os.path.join(mnt, name), content)
        record(acked, maybe, name, content, result)
        if result[1] is not None:
            first = (name, result[2], result[1])
            break
    check(first is not None, "never ran out of space: %d MiB written and acknowledged with the database on an "
          "8 MiB tmpfs (is the engine keeping the data in memory?)" % (LIMIT >> 20))
    name, where, err = first
    if err != errno.ENOSPC:
        fail("the first failure on a full disk (%s of %s after %d files of %d KiB) was %s, expected ENOSPC%s" % (
            where, name, len(acked), FILE_SIZE // 1024, rlib.ename(err), m.log_tail()))
    m.answers("the first ENOSPC")
    # From here on a wrong errno is noted and the test goes on, to show the whole story at the end.
    problems = []

    def soft(ok, message):
        if not ok:
            problems.append(message)
        return ok
    # Take the last room too, with smaller and smaller files, until even an empty file is refused:
    # then only the room the log keeps for freeing space is left.
    topped = []
    for size in (8192, 1024, 0):
        for j in range(1000):
            n = "t%05d-%05d" % (size, j)
            c = rng.randbytes(size)
            res = write_file(os.path.join(mnt, n), c)
            record(acked, maybe, n, c, res)
            if res[1] is not None:
                soft(res[1] == errno.ENOSPC, "%s of a %d-byte file on a full disk answered %s, expected ENOSPC" % (
                    res[2], size, rlib.ename(res[1])))
                topped.append("%d files of %d bytes" % (j, size))
                break
    ctx.notes.append("then %s before ENOSPC" % ", ".join(topped))
    # While full: every change either works or says ENOSPC, and the daemon keeps answering.
    outcomes = []

    def attempt(what, fn):
        e = rlib.errno_of(fn)
        outcomes.append("%s: %s" % (what, rlib.ename(e)))
        soft(e in (None, errno.ENOSPC), "%s on a full disk answered %s, expected success or ENOSPC" % (
            what, rlib.ename(e)))
        m.answers(what + " on a full disk")
        return e is None
    if attempt("mkdir", lambda: os.mkdir(os.path.join(mnt, "full-dir"))):
        dirs.add("full-dir")
    for i in range(3):
        n = "small%d" % i
        c = rng.randbytes(100)
        res = write_file(os.path.join(mnt, n), c)
        record(acked, maybe, n, c, res)
        attempt("create and write 100 bytes", lambda: _raise(res[1]))
    victim = sorted(acked)[0]
    attempt("setxattr of 1000 bytes", lambda: os.setxattr(os.path.join(mnt, victim), "user.full", b"v" * 1000))
    attempt("truncate to 1 MiB", lambda: _truncate(acked, maybe, mnt, victim))
    ctx.notes.append("%d files of 64 KiB acknowledged before %s of %s gave ENOSPC; then %s" % (
        len(acked), where, name, ", ".join(outcomes)))
    verify(mnt, acked, maybe, dirs, "reading back on a full disk")
    # Free space through the mount: removing things must work on the full disk (the log keeps
    # room for batches that free space), a rename over an existing file and rmdir included.
    files = sorted(n for n in acked if n.startswith("f"))
    e = rlib.errno_of(os.rename, os.path.join(mnt, files[1]), os.path.join(mnt, files[0]))
    if soft(e is None, "a rename over an existing file on a full disk answered %s, expected success" % rlib.ename(e)):
        acked[files[0]] = acked.pop(files[1])
    e = rlib.errno_of(os.rmdir, os.path.join(mnt, "spare-dir"))
    if soft(e is None, "rmdir on a full disk answered %s, expected success" % rlib.ename(e)):
        dirs.discard("spare-dir")
    deleted, refusals = [], {}
    for n in files[2::2]:
        e = rlib.errno_of(os.unlink, os.path.join(mnt, n))
        if e is None:
            deleted.append(n)
            del acked[n]
        else:
            refusals[rlib.ename(e)] = refusals.get(rlib.ename(e), 0) + 1
    soft(not refusals, "unlink on a full disk answered %s in %d of %d cases, expected success" % (
        refusals, sum(refusals.values()), len(files[2::2])))
    m.answers("deleting files")
    c = rng.randbytes(FILE_SIZE)
    res = write_file(os.path.join(mnt, "after-delete"), c)
    record(acked, maybe, "after-delete", c, res)
    soft(res[1] in (None, errno.ENOSPC), "a new file after deleting files answered %s" % rlib.ename(res[1]))
    ctx.notes.append("deleted %d files (refused: %s); a new 64 KiB file then: %s" % (
        len(deleted), refusals or "none", rlib.ename(res[1])))
    # Grow the file system: now there is room whatever the engine does with freed space.
    r = subprocess.run(["mount", "-o", "remount,size=64m", space], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "mount -o remount,size=64m: %s" % r.stderr.strip())
    c = rng.randbytes(FILE_SIZE)
    res = write_file(os.path.join(mnt, "after-grow"), c)
    soft(res[1] is None, "after growing the tmpfs to 64 MiB, %s of a new file still fails with %s" % (
        res[2], rlib.ename(res[1])))
    record(acked, maybe, "after-grow", c, res)
    verify(mnt, acked, maybe, dirs, "after freeing space")
    try:
        m.stop()
    except rlib.TestFailure as e:
        problems.append("the clean unmount after a full disk: %s" % e)
        m.kill9()
    if ctx.remount_checks():
        r = rlib.run_check(ctx, db)
        soft(r.returncode == 0, "holtfs check after a full disk: %s: %s" % (
            rlib.status_text(r.returncode), (r.stdout + r.stderr).strip()[-600:]))
        m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="space")
        verify(mnt, acked, maybe, dirs, "after a remount")
        m.stop()
    if problems:
        fail("%d problems after the disk filled up:\n  %s%s" % (len(problems), "\n  ".join(problems), m.log_tail()))


def _raise(err):
    if err is not None:
        raise OSError(err, os.strerror(err))


def _truncate(acked, maybe, mnt, name):
    """Extends name to 1 MiB (a sparse tail); on success the oracle follows."""
    os.truncate(os.path.join(mnt, name), 1 << 20)
    acked[name] = acked[name] + b"\0" * ((1 << 20) - len(acked[name]))
