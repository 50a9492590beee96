"""Damaged data: flip bytes in each file of a cleanly unmounted database, one file per copy.

`holtfs check` must exit 1 and name what is damaged (never a signal, never a hang), and `holtfs
mount` must either refuse with one line or mount and answer every read with the original bytes or
EIO -- never a wrong answer, never a crash.
"""
import errno
import os
import random
import re
import shutil
import stat

import model
import rlib
from rlib import check, fail, needs

SKIP = ("LOCK", "holtfs.pid", "control.sock")
# A daemon killed by SIGKILL leaves its control socket behind, which shutil cannot copy.
COPY_IGNORE = shutil.ignore_patterns("control.sock")
FLIPS = 4
BLOB = 512 * 1024  # the blob size of the format (docs/FORMAT.md)


def populate(mnt, rng):
    """A tree with small and chunked files, xattrs and a few levels; returns its model state."""
    root = os.fsencode(mnt)
    state = {}
    dirs = [b""]
    for i in range(12):
        d = rng.choice(dirs)
        p = (d + b"/" if d else b"") + b"dir%02d" % i
        os.mkdir(os.path.join(root, p))
        state[p] = ("d", {})
        dirs.append(p)
    for i in range(60):
        d = rng.choice(dirs)
        p = (d + b"/" if d else b"") + b"file%02d" % i
        size = rng.choice([0, 1, 100, 3000, 40000, 150000])
        content = rng.randbytes(size)
        with open(os.path.join(root, p), "wb") as f:
            f.write(content)
        state[p] = ("f", content, {})
    for p in rng.sample(sorted(state), 25):
        e = state[p]
        xa = {"user.a%d" % j: rng.randbytes(rng.choice([1, 50, 900])) for j in range(rng.randint(1, 3))}
        for k, v in xa.items():
            os.setxattr(os.path.join(root, p), k, v)
        state[p] = e[:-1] + (xa,)
    return state


def damage_targets(db):
    """(relative path, size) of every non-empty file of the database but its lock and log files."""
    out = []
    for dirpath, _, names in os.walk(db):
        for n in sorted(names):
            if n in SKIP or n.startswith("holtfs.log"):
                continue
            p = os.path.join(dirpath, n)
            size = os.path.getsize(p)
            if size:
                out.append((os.path.relpath(p, db), size))
    return sorted(out)


def flip(path, rng, count=FLIPS, region=None):
    """Flips (xor 0xff) `count` bytes that hold data (non-zero), in different 4 KiB pages if it can,
    within region (start, end) of the file when given."""
    with open(path, "r+b") as f:
        data = f.read()
        lo, hi = region or (0, len(data))
        pages = [i for i in range(lo, hi, 4096) if any(data[i:i + 4096])]
        if not pages:
            pages = [lo]
        offsets = []
        for page in rng.sample(pages, min(count, len(pages))) + [rng.choice(pages) for _ in range(count - len(pages))]:
            chunk = data[page:page + 4096]
            nz = [i for i, b in enumerate(chunk) if b] or [0]
            offsets.append(page + rng.choice(nz))
        for off in sorted(set(offsets)):
            f.seek(off)
            f.write(bytes([data[off] ^ 0xFF]))
    return sorted(set(offsets))


def fingerprint(db):
    """{relative path: bytes} of the database's files but its lock and log files."""
    out = {}
    for dirpath, _, names in os.walk(db):
        for n in names:
            if n in SKIP or n.startswith("holtfs.log"):
                continue
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, db)] = f.read()
    return out


def stem(rel):
    """The word a report about this file should contain: 'blob' for blobs, 'wal' for wal/0001."""
    first = rel.split(os.sep)[0]
    word = (re.findall(r"[A-Za-z]+", first) or [first])[0].lower()
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def read_back(mnt, expected):
    """(wrong answers, number of EIO answers) reading every path, listing and xattr of expected."""
    root = os.fsencode(mnt)
    wrong, eio = [], [0]

    def attempt(what, fn, want):
        try:
            got = fn()
        except OSError as e:
            if e.errno == errno.EIO:
                eio[0] += 1
            else:
                wrong.append("%s: %s (expected the original or EIO)" % (what, rlib.ename(e.errno)))
            return
        if got != want:
            if isinstance(got, bytes) and isinstance(want, bytes):
                at = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
                wrong.append("%s: wrong bytes from offset %d (%d bytes read, %d written)" % (
                    what, at, len(got), len(want)))
            else:
                wrong.append("%s: wrong answer %r, expected %r" % (what, _short(got), _short(want)))

    names = lambda d: sorted(p.rpartition(b"/")[2] for p in model.children(expected, d))  # noqa: E731
    attempt("listdir of the root", lambda: sorted(os.listdir(root)), names(b""))
    for p, e in sorted(expected.items()):
        fp = os.path.join(root, p)
        attempt("type of %r" % p, lambda: _kind(os.lstat(fp).st_mode), e[0])
        if e[0] == "d":
            attempt("listdir of %r" % p, lambda: sorted(os.listdir(fp)), names(p))
        else:
            def content():
                with open(fp, "rb") as f:
                    return f.read()
            attempt("content of %r" % p, content, e[1])
        attempt("xattr names of %r" % p,
                lambda: sorted(n for n in os.listxattr(fp) if n.startswith("user.")), sorted(e[-1]))
        for k, v in sorted(e[-1].items()):
            attempt("xattr %s of %r" % (k, p), lambda: os.getxattr(fp, k), v)
    return wrong, eio[0]


def _kind(mode):
    return "d" if stat.S_ISDIR(mode) else "f" if stat.S_ISREG(mode) else "?"


def _short(v):
    if isinstance(v, bytes) and len(v) > 32:
        return v[:32] + b"...(%d bytes)" % len(v)
    return v


@needs("mount", "persistence", "holtfs check finds damage", "EIO for unreadable data")
def test_flipped_bytes_in_each_file(ctx):
    """For each database file: a copy with flipped bytes is reported by check and never misread."""
    rng = random.Random(ctx.seed)
    db, mnt = ctx.path("good.db"), ctx.dir("good.mnt")
    m = rlib.mount(ctx, db, mnt, name="good")
    expected = populate(mnt, rng)
    diff = model.diff(expected, model.snapshot(mnt))
    check(not diff, "the tree read back wrong before any damage:\n    " + "\n    ".join(diff))
    m.stop()
    rlib.check_clean(ctx, db, "of the undamaged database")
    targets = damage_targets(db)
    segments = sorted(rel for rel, _ in targets if rel.startswith("wal" + os.sep) and rel.endswith(".log"))
    last_segment = segments[-1] if segments else None
    check(targets, "no database files to damage in %s: %r" % (db, os.listdir(db)))
    problems, summary = [], []
    # Each file once; the blob file also once per 512 KiB blob, so each blob's damage is seen alone.
    cases = [(rel, size, None) for rel, size in targets]
    cases += [(rel, size, (start, start + BLOB)) for rel, size in targets
              if rel == "blobs" and size > BLOB for start in range(0, size, BLOB)]
    for n, (rel, size, region) in enumerate(cases):
        copy = ctx.path("damaged%d.db" % n)
        shutil.copytree(db, copy, ignore=COPY_IGNORE)
        offsets = flip(os.path.join(copy, rel), rng, region=region)
        # check gets its own copy: the mount must see the damage as it was, whatever check did.
        mcopy = ctx.path("damaged%d.mount.db" % n)
        shutil.copytree(copy, mcopy, ignore=COPY_IGNORE)
        label = rel if region is None else "%s[blob %d]" % (rel, region[0] // BLOB)
        what = "%s (%d bytes) with bytes flipped at %s" % (label, size, offsets)
        before = fingerprint(copy)
        r = rlib.run_check(ctx, copy)
        out = (r.stdout + r.stderr).strip()
        after = fingerprint(copy)
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        if changed:
            summary.append("%s: holtfs check changed %s" % (label, changed))
        if r.returncode == 0 and rel == last_segment and re.search(r"wal|log|torn|cut", out, re.I):
            # The format's torn-tail rule: damage in the last log segment looks like a torn write
            # and is cut; check may exit 0 then, but it must say so.
            summary.append("%s: check exit 0, reported: %r" % (label, out[-200:]))
        elif r.returncode != 1:
            problems.append("holtfs check of %s: %s, expected status 1%s; output: %r" % (
                what, rlib.status_text(r.returncode),
                " (or 0 reporting a cut torn tail, for the last log segment)" if rel == last_segment else "",
                out[-600:]))
        elif stem(rel) not in out.lower():
            problems.append("holtfs check of %s exited 1 but does not name %r: %r" % (what, stem(rel), out[-600:]))
        dmnt = ctx.dir("damaged%d.mnt" % n)
        try:
            dm = rlib.start_mount(ctx, mcopy, dmnt, name="damaged%d" % n)
        except rlib.Refused as refusal:
            lines = [line for line in refusal.lines if line.strip()]
            if refusal.returncode <= 0 or len(lines) != 1 or not lines[0].startswith("holtfs: "):
                problems.append("holtfs mount of %s: %s" % (what, refusal.describe()))
            summary.append("%s: mount refused (%s)" % (label, lines[-1] if lines else "-"))
            shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(mcopy, ignore_errors=True)
            continue
        wrong, eio = read_back(dmnt, expected)
        if dm.proc.poll() is not None:
            problems.append("reading %s: the daemon died with %s%s" % (
                what, rlib.status_text(dm.proc.returncode), dm.log_tail()))
        else:
            try:
                dm.answers("reading a damaged database")
            except rlib.TestFailure as e:
                problems.append("reading %s: %s" % (what, e))
        if wrong:
            problems.append("mounted %s and answered wrongly:\n      %s" % (what, "\n      ".join(wrong[:8])))
        summary.append("%s: mounted, %d EIO, %d wrong" % (label, eio, len(wrong)))
        if dm.proc.poll() is None and not wrong:
            problems += write_then_reread(ctx, dm, expected, what, label, summary)
        dm.kill9()
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(mcopy, ignore_errors=True)
    ctx.notes.append("%d damaged copies: %s" % (len(summary), "; ".join(summary[:40]) + (
        "; ..." if len(summary) > 40 else "")))
    if problems:
        fail("%d problems with %d damaged copies:\n  %s%s" % (
            len(problems), len(cases), "\n  ".join(problems[:16]), "\n  ..." if len(problems) > 16 else ""))


def write_then_reread(ctx, dm, expected, what, label, summary):
    """Writes new files next to the damage (each must work or say EIO/EROFS), unmounts cleanly if it
    can, remounts, and reads everything back again: damage must never be laundered into wrong
    answers by a checkpoint. Returns the problems found."""
    problems = []
    root = os.fsencode(dm.mnt)
    expected = dict(expected)
    dirs = [b""] + sorted(p for p, e in expected.items() if e[0] == "d")[:12]
    refused = {}
    for k, d in enumerate(dirs):
        p = (d + b"/" if d else b"") + b"after-damage-%d" % k
        content = b"written after the damage %d" % k
        try:
            with open(os.path.join(root, p), "wb") as f:
                f.write(content)
            expected[p] = ("f", content, {})
        except OSError as e:
            refused[rlib.ename(e.errno)] = refused.get(rlib.ename(e.errno), 0) + 1
            if e.errno not in (errno.EIO, errno.EROFS):
                problems.append("creating %r on a mount of %s answered %s, expected success, EIO or EROFS" % (
                    p, what, rlib.ename(e.errno)))
    try:
        dm.answers("writing next to the damage")
        dm.stop()
        how = "clean unmount"
    except rlib.TestFailure as e:
        how = "unclean unmount (%s)" % str(e).splitlines()[0][:120]
        dm.kill9()
    try:
        again = rlib.start_mount(ctx, dm.db, dm.mnt, name="redamaged")
    except rlib.Refused as refusal:
        summary.append("%s: %d new files (refused: %s), %s, remount refused" % (
            label, len([p for p in expected if b"after-damage" in p]), refused or "none", how))
        return problems
    wrong, eio = read_back(again.mnt, expected)
    if wrong:
        problems.append("after writing next to %s and a %s, the remount answered wrongly:\n      %s" % (
            what, how, "\n      ".join(wrong[:8])))
    summary.append("%s: %d new files (refused: %s), %s, remount: %d EIO, %d wrong" % (
        label, len([p for p in expected if b"after-damage" in p]), refused or "none", how, eio, len(wrong)))
    again.kill9()
    return problems


@needs("mount", "persistence", "a read-only holtfs check")
def test_check_leaves_the_database_unchanged(ctx):
    """`holtfs check` of a cleanly unmounted database exits 0 and changes none of its files."""
    rng = random.Random(ctx.seed)
    db, mnt = ctx.path("ro.db"), ctx.dir("ro.mnt")
    m = rlib.mount(ctx, db, mnt, name="ro")
    expected = populate(mnt, rng)
    m.stop()
    before = fingerprint(db)
    rlib.check_clean(ctx, db, "of a cleanly unmounted database")
    after = fingerprint(db)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    check(not changed, "holtfs check wrote to the database it checked: %s" % ", ".join(
        "%s (%s)" % (p, "created" if p not in before else "removed" if p not in after else "changed")
        for p in changed))
    m = rlib.mount(ctx, db, mnt, name="ro")
    diff = model.diff(expected, model.snapshot(mnt))
    check(not diff, "the tree after check and a remount:\n    " + "\n    ".join(diff))
    m.stop()


def log_records(path):
    """[(offset, length)] of the records of a log segment (docs/FORMAT.md: a 64-byte header, then
    records of 32 + n bytes: magic "HLWR", payload length n, ...)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 64
    while off + 32 <= len(data):
        magic, n = struct.unpack_from("<II", data, off)
        if magic != 0x52574C48 or off + 32 + n > len(data):
            break
        out.append((off, 32 + n))
        off += 32 + n
    return out


@needs("mount --sync always", "persistence", "holtfs check finds a damaged log record")
def test_damaged_log_record_of_a_crashed_database(ctx):
    """A flipped byte in a log record that later records vouch for is found by check and never replayed.

    The daemon is killed after 40 acknowledged creates (--sync always: each record is durable
    before the next is appended), so the log holds them; a byte in the payload of an early record
    is flipped. The format (docs/FORMAT.md, the torn-tail rule) says that is corruption, not a
    torn tail: check must exit 1 naming the log, and a mount must refuse it or answer every
    acknowledged file with its content or EIO -- never lose it silently.
    """
    rng = random.Random(ctx.seed)
    db, mnt = ctx.path("log.db"), ctx.dir("log.mnt")
    m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="log")
    files = {}
    for i in range(40):
        name = b"f%02d" % i
        content = rng.randbytes(rng.choice([10, 200, 3000]))
        with open(os.path.join(os.fsencode(mnt), name), "wb") as f:
            f.write(content)
        files[name] = content
    m.kill9()
    wal = os.path.join(db, "wal")
    segments = sorted(n for n in os.listdir(wal) if n.endswith(".log")) if os.path.isdir(wal) else []
    check(segments, "no log segments in %s after a crash: %r" % (db, os.listdir(db)))
    records = [(seg, off, length) for seg in segments for off, length in log_records(os.path.join(wal, seg))]
    check(len(records) >= 10, "only %d log records after 40 acknowledged creates and a crash" % len(records))
    seg, off, length = records[len(records) // 4]
    target = os.path.join(wal, seg)
    with open(target, "r+b") as f:
        f.seek(off + 28 + (length - 32) // 2)
        b = f.read(1)
        f.seek(off + 28 + (length - 32) // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    what = "record %d of %d (at %d in %s)" % (len(records) // 4 + 1, len(records), off, seg)
    mcopy = ctx.path("log.mount.db")
    shutil.copytree(db, mcopy, ignore=COPY_IGNORE)
    r = rlib.run_check(ctx, db)
    out = (r.stdout + r.stderr).strip()
    problems = []
    if r.returncode != 1:
        problems.append("holtfs check with a flipped byte in log %s: %s, expected status 1; output: %r" % (
            what, rlib.status_text(r.returncode), out[-600:]))
    elif not re.search(r"wal|log", out, re.I):
        problems.append("holtfs check exited 1 but does not name the log: %r" % out[-600:])
    try:
        dm = rlib.start_mount(ctx, mcopy, ctx.dir("log2.mnt"), name="log2")
    except rlib.Refused as refusal:
        lines = [line for line in refusal.lines if line.strip()]
        if refusal.returncode <= 0 or len(lines) != 1 or not lines[0].startswith("holtfs: "):
            problems.append("holtfs mount with a damaged log %s: %s" % (what, refusal.describe()))
        ctx.notes.append("mount refused: %s" % (lines[-1] if lines else "-"))
    else:
        expected = {n: ("f", c, {}) for n, c in files.items()}
        wrong, eio = read_back(dm.mnt, expected)
        if wrong:
            problems.append("mounted a log with a damaged %s and answered wrongly:\n      %s" % (
                what, "\n      ".join(wrong[:8])))
        ctx.notes.append("mounted: %d EIO, %d wrong" % (eio, len(wrong)))
        dm.kill9()
    if problems:
        fail("\n  ".join(problems))
