"""Snapshots on a live mount: `holtfs dump MNT` and `holtfs check MNT` read one committed state
from the daemon while a renamer keeps moving directories, and a long directory listing (many
readdir replies) reads one snapshot, so entries renamed in the middle of it show exactly once.

Every wait is a poll with a deadline; each test ends with a clean unmount (when one fails, the
context's cleanup unmounts instead).
"""
import ctypes
import json
import os
import threading

from support import check, poll_until, run

DIRS = 6          # directories the renamer moves back and forth
FILES = 40        # files in each
RENAME_ROUNDS_BEFORE = 20  # renames to see happen before the first dump (the renamer is running)


class Renamer:
    """Moves d<i> <-> e<i> (whole directories) and f<j> <-> g<j> inside a listing directory on a
    thread, until stopped; counts the renames and keeps the first error."""

    def __init__(self, pairs):
        self.pairs = pairs
        self.stop = threading.Event()
        self.renames = 0
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        state = [0] * len(self.pairs)
        i = 0
        try:
            while not self.stop.is_set():
                k = i % len(self.pairs)
                a, b = self.pairs[k]
                src, dst = (a, b) if state[k] == 0 else (b, a)
                os.rename(src, dst)
                state[k] ^= 1
                self.renames += 1
                i += 7
        except OSError as e:
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        check(not self.thread.is_alive(), "the renamer did not stop")


def wait_for_renames(renamer, count, what):
    """Polls (with a deadline) until the renamer has done `count` more renames."""
    target = renamer.renames + count

    def ready():
        check(renamer.error is None, "the renamer failed: %r" % renamer.error)
        return renamer.renames >= target

    poll_until(ready, 30, "the renamer's progress while waiting for %s" % what, interval=0.001)


def test_dump_and_check_of_a_live_mount_under_a_renamer(ctx):
    m = ctx.mount()
    pairs = []
    for i in range(DIRS):
        d = os.path.join(m.mnt, "d%d" % i)
        os.mkdir(d)
        for j in range(FILES):
            with open(os.path.join(d, "file%d" % j), "w") as f:
                f.write("%d/%d" % (i, j))
        pairs.append((d, os.path.join(m.mnt, "e%d" % i)))
    with Renamer(pairs) as renamer:
        wait_for_renames(renamer, RENAME_ROUNDS_BEFORE, "the first dump")
        for round in range(5):
            r = run([ctx.holtfs, "dump", m.mnt, "--keys", "--json"], timeout=60)
            check(r.returncode == 0, "dump while renaming: exit %d: %r" % (r.returncode, r.stderr))
            keys = [json.loads(line)["key"] for line in r.stdout.splitlines()]
            for i in range(DIRS):
                under_d = sorted(k for k in keys if k.startswith("d%d/" % i))
                under_e = sorted(k for k in keys if k.startswith("e%d/" % i))
                check(("d%d" % i in keys) != ("e%d" % i in keys),
                      "round %d: directory %d is %s" % (round, i, "in both places" if "d%d" % i in keys else "missing"))
                check(len(under_d) + len(under_e) == FILES and (not under_d or not under_e),
                      "round %d: directory %d torn: %d under d, %d under e" % (round, i, len(under_d), len(under_e)))
            r = run([ctx.holtfs, "check", m.mnt], timeout=60)
            check(r.returncode == 0, "check while renaming: exit %d: %r %r" % (r.returncode, r.stdout, r.stderr))
            r = run([ctx.holtfs, "dump", m.db, "--json"], timeout=60)
            check(r.returncode == 0, "dump --json while renaming: exit %d: %r" % (r.returncode, r.stderr))
            lines = [json.loads(line) for line in r.stdout.splitlines()]
            check(lines and lines[-1].get("end") is True, "dump --json did not end with its trailer")
            wait_for_renames(renamer, 3, "the next round")
        check(renamer.error is None, "the renamer failed: %r" % renamer.error)
    # Snapshots are released: the daemon holds no blob copies afterwards.
    engine = engine_stats(ctx, m)
    check(engine.get("openSnapshots") == 0 and engine.get("snapshotShadowBytes") == 0,
          "snapshots still held after the dumps: %r" % engine)
    m.umount()


def test_a_long_listing_under_renames_lists_each_entry_once(ctx):
    m = ctx.mount()
    top = os.path.join(m.mnt, "big")
    os.mkdir(top)
    count = 3000  # far more than one readdir reply holds
    for j in range(count):
        with open(os.path.join(top, "f%05d" % j), "w"):
            pass
    # Pairs whose two names sort far apart: f<j> <-> a<j> and f<j> <-> z<j>.
    pairs = []
    for j in range(0, count, 37):
        other = ("a%05d" if j % 2 else "z%05d") % j
        pairs.append((os.path.join(top, "f%05d" % j), os.path.join(top, other)))
    seen = set()
    with Renamer(pairs) as renamer:
        wait_for_renames(renamer, 20, "the first listing")
        for round in range(15):
            names = os.listdir(top)
            seen.update(names)
            base = sorted(n[1:] for n in names)
            check(len(names) == count, "round %d: listed %d names of %d" % (round, len(names), count))
            check(len(set(base)) == count, "round %d: %d entries listed twice under two names" % (
                round, len(base) - len(set(base))))
            wait_for_renames(renamer, 5, "the next listing")
        check(renamer.error is None, "the renamer failed: %r" % renamer.error)
    # A listing read from a snapshot hands the kernel no dentry for a name renamed away
    # meanwhile (readdirplus): every name once listed exists now exactly when a fresh
    # listing has it.
    now = set(os.listdir(top))
    for name in seen:
        check(os.path.exists(os.path.join(top, name)) == (name in now),
              "%s: stat says %s, the listing says %s" % (name, os.path.exists(os.path.join(top, name)), name in now))
    m.umount()


def engine_stats(ctx, m):
    r = run([ctx.holtfs, "stats", m.mnt, "--json"], timeout=30)
    check(r.returncode == 0, "stats: %r" % r.stderr)
    return json.loads(r.stdout)["engine"]


def test_a_long_listing_read_to_its_end_lets_go_of_its_snapshot(ctx):
    """A process that lists a big directory and keeps it open does not keep the listing's
    snapshot (and the blob copies it pins) until it closes the directory."""
    m = ctx.mount()
    top = os.path.join(m.mnt, "big")
    os.mkdir(top)
    count = 2000  # several readdir replies: the listing reads a snapshot after the first
    for j in range(count):
        with open(os.path.join(top, "f%05d" % j), "w"):
            pass
    libc = ctypes.CDLL(None, use_errno=True)
    libc.opendir.restype = ctypes.c_void_p
    libc.opendir.argtypes = [ctypes.c_char_p]
    libc.readdir.restype = ctypes.c_void_p
    libc.readdir.argtypes = [ctypes.c_void_p]
    libc.closedir.argtypes = [ctypes.c_void_p]
    handle = libc.opendir(top.encode())
    check(handle, "opendir %s: errno %d" % (top, ctypes.get_errno()))
    try:
        entries = 0
        while libc.readdir(handle):
            entries += 1
            if entries == 10:
                # In the middle of the listing, past its first reply: it reads a snapshot.
                check(engine_stats(ctx, m).get("openSnapshots") == 1,
                      "a listing longer than a reply reads no snapshot: %r" % engine_stats(ctx, m))
                # A change beside it: the snapshot keeps a blob copy, which must go too.
                os.rename(os.path.join(top, "f01999"), os.path.join(top, "a01999"))
        check(entries == count + 2, "listed %d entries, expected %d with . and .." % (entries, count + 2))
        # Read to its end, still open: the snapshot is gone; reading again at the end lists nothing more.
        engine = engine_stats(ctx, m)
        check(engine.get("openSnapshots") == 0 and engine.get("snapshotShadowBytes") == 0,
              "a listing read to its end still holds its snapshot: %r" % engine)
        check(not libc.readdir(handle), "a listing read to its end went on")
    finally:
        libc.closedir(handle)
    m.umount()
