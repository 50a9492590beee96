"""Space comes back, seen from outside: `df MNT` reports the database's own bytes on disk as used
(what `du` of the database directory says) and follows it up and down; `holtfs stats` shows the
space section; `holtfs compact` gives free space back offline and on a live mount while another
process keeps reading and writing (nothing lost, outputs parse, bad input is one line); and after
an `rm -rf` on a `--sync periodic` mount the space comes back by itself, no command run.

Sizes on disk are *allocated* bytes (`du -s -B1`, st_blocks), which is what `df` counts: the blob
file has punched holes and the log preallocates, so apparent sizes (`du -sb`) say nothing about
space given back.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

from support import check, fail, needs_persistence, poll_until, run, _die_with_parent
from test_command import one_line_error

MIB = 1 << 20
DF_DEADLINE = 10.0        # seconds for df to show a change (it measures at most once a second)
RECLAIM_DEADLINE = 60.0   # seconds for space to come back by itself after an rm -rf

COMPACT_LINE = re.compile(
    r"^reclaimed [0-9.]+ (B|KiB|MiB|GiB): [0-9.]+ (B|KiB|MiB|GiB) → [0-9.]+ (B|KiB|MiB|GiB) on disk "
    r"\(blob file [0-9.]+ (B|KiB|MiB|GiB) → [0-9.]+ (B|KiB|MiB|GiB)\), \d+ blobs? moved, \d+ compacted$")
REPORT_KEYS = {"database", "state", "bytesBefore", "bytesAfter", "fileBytesBefore", "fileBytesAfter",
               "blobsCompacted", "blobsMoved", "reclaimedBytes", "seconds"}


def du(path):
    """Allocated bytes under path (`du -s -B1`: st_blocks, what df counts)."""
    r = run(["du", "-s", "-B1", path])
    check(r.returncode == 0, "du %s: %s" % (path, r.stderr))
    return int(r.stdout.split()[0])


def apparent(path):
    """Apparent bytes under path (`du -sb`), for messages only."""
    r = run(["du", "-sb", path])
    return int(r.stdout.split()[0]) if r.returncode == 0 else -1


def df_used(mnt):
    """Used bytes of the file system at mnt as `df -B1` prints them."""
    r = run(["df", "-B1", "--output=used", mnt])
    check(r.returncode == 0, "df %s: %s" % (mnt, r.stderr))
    return int(r.stdout.splitlines()[-1])


def close_enough(a, b, slack=64 * 1024, share=0.03):
    return abs(a - b) <= max(slack, share * max(a, b))


def write_file(path, size, seed=0):
    """Writes size bytes (a pattern from seed, not compressible by position) in 1 MiB writes."""
    block = (bytes(range(256)) * 4096)[seed % 256:][:MIB - 7] + os.urandom(7)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= min(left, len(block))


def compact(ctx, target, *args):
    r = run([ctx.holtfs, "compact", target, *args], timeout=300)
    check(r.returncode == 0, "holtfs compact %s %s: exit %d: %r" % (target, " ".join(args), r.returncode, r.stderr))
    return r.stdout


def compact_json(ctx, target):
    out = compact(ctx, target, "--json")
    try:
        report = json.loads(out)
    except ValueError as e:
        fail("holtfs compact --json printed no JSON (%s): %r" % (e, out[:2000]))
    check(set(report) == REPORT_KEYS, "report keys %r" % sorted(report))
    check(report["reclaimedBytes"] == max(0, report["bytesBefore"] - report["bytesAfter"]), "report %r" % report)
    return report


def compact_text(ctx, target):
    out = compact(ctx, target)
    lines = out.splitlines()
    check(len(lines) == 1 and COMPACT_LINE.match(lines[0]), "holtfs compact %s printed %r" % (target, out))
    return lines[0]


@needs_persistence
def test_df_tracks_the_database_and_compact_gives_space_back(ctx):
    """df MNT used = du DB (within a block or 3 %); a 50 MB file raises both by ~50 MB; after the
    file is removed and `holtfs compact MNT` runs, du falls far below the peak and df follows."""
    m = ctx.mount()
    check(close_enough(df_used(m.mnt), du(m.db)), "fresh mount: df used %d, du %d" % (df_used(m.mnt), du(m.db)))
    stats = json.loads(run([ctx.holtfs, "stats", m.mnt, "--json"]).stdout)
    check(stats["space"]["databaseBytes"] > 0 and "amplification" in stats["space"], "stats space: %r" % stats.get("space"))

    before = df_used(m.mnt)
    write_file(os.path.join(m.mnt, "big"), 50 * MIB)
    os.sync()
    grown = poll_until(lambda: (lambda used: used if used - before >= 45 * MIB else None)(df_used(m.mnt)),
                       DF_DEADLINE, "df used to grow by 45 MB after a 50 MB file", m.log_tail)
    check(grown - before <= 60 * MIB, "df used grew by %d bytes for a 50 MB file" % (grown - before))
    peak = poll_until(lambda: (lambda d, u: d if close_enough(u, d) else None)(du(m.db), df_used(m.mnt)),
                      DF_DEADLINE, "df used to match du of the database", m.log_tail)
    check(peak >= 50 * MIB, "du of the database %d after a 50 MB file" % peak)
    text = run([ctx.holtfs, "stats", m.mnt]).stdout
    for line in ("space: database bytes ", "  live bytes: ", "  dead bytes: ", "  blob file: ", "  log bytes: "):
        check(any(l.startswith(line) for l in text.splitlines()), "no %r line in stats:\n%s" % (line, text))

    os.unlink(os.path.join(m.mnt, "big"))
    line = compact_text(ctx, m.mnt)
    after = du(m.db)
    check(after < peak * 0.2, "du after rm and compact: %d bytes (peak %d, apparent now %d); compact said: %s"
          % (after, peak, apparent(m.db), line))
    used = df_used(m.mnt)
    check(close_enough(used, after), "after compact: df used %d, du %d" % (used, after))
    m.umount()


WRITER = r"""
import hashlib, json, os, sys
mnt, stop = sys.argv[1], sys.argv[2]
kept = {}
i = 0
while not os.path.exists(stop) or i < 200:
    name = "w%05d" % i
    data = (("%d:" % i) * (1 + (i * 7919) % 9000)).encode()
    with open(os.path.join(mnt, name), "wb") as f:
        f.write(data)
    kept[name] = hashlib.sha256(data).hexdigest()
    if i % 3 == 2:
        gone = "w%05d" % (i - 2)
        os.unlink(os.path.join(mnt, gone))
        del kept[gone]
    if i % 10 == 0:
        for old in list(kept)[-5:]:
            with open(os.path.join(mnt, old), "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != kept[old]:
                    print("MISMATCH " + old, file=sys.stderr)
                    sys.exit(1)
    i += 1
print(json.dumps(kept))
"""


def check_files(mnt, expected, what):
    import hashlib
    names = sorted(n for n in os.listdir(mnt) if n.startswith("w"))
    check(names == sorted(expected), "%s: %d files on the mount, %d expected (missing %r, extra %r)" % (
        what, len(names), len(expected), sorted(set(expected) - set(names))[:5], sorted(set(names) - set(expected))[:5]))
    for name, digest in expected.items():
        with open(os.path.join(mnt, name), "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == digest, "%s: %s has other content" % (what, name))


@needs_persistence
def test_compact_a_live_mount_while_another_process_writes(ctx):
    """holtfs compact MNT and DB (of a mounted database) while a writer creates, rewrites, reads
    and removes files: the outputs parse, the writer never sees a wrong byte, and every file it
    kept is there after the compactions, after a remount and by holtfs check."""
    m = ctx.mount()
    for i in range(8):
        write_file(os.path.join(m.mnt, "scratch%d" % i), 4 * MIB, seed=i)
    peak = du(m.db)
    for i in range(8):
        os.unlink(os.path.join(m.mnt, "scratch%d" % i))
    stop = ctx.path("stop")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, m.mnt, stop], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
    ctx.on_cleanup(lambda: writer.poll() is None and writer.kill())
    reports = []
    for round in range(3):
        reports.append(compact_json(ctx, m.mnt))
        compact_text(ctx, m.db)
        if writer.poll() is not None:
            fail("the writer ended during compaction round %d: %r" % (round, writer.stderr.read()))
    check(all(r["state"] == "mounted" and r["database"] == m.db for r in reports), "reports %r" % reports)
    # The removed 32 MB came back, by the compactions (or the engine's own reclaim before them).
    check(du(m.db) < peak / 2, "du %d after the compactions, %d with the scratch files; reports %r" % (du(m.db), peak, reports))
    open(stop, "w").close()
    try:
        out, err = writer.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        writer.kill()
        fail("the writer did not stop")
    check(writer.returncode == 0, "writer exit %d: %s%s" % (writer.returncode, err, m.log_tail()))
    expected = json.loads(out)
    check(len(expected) > 100, "the writer kept only %d files" % len(expected))
    check_files(m.mnt, expected, "after the compactions")
    m.umount()
    r = run([ctx.holtfs, "check", m.db], timeout=120)
    check(r.returncode == 0, "holtfs check after live compactions: %s%s" % (r.stdout[-2000:], r.stderr))
    m2 = ctx.mount(db=m.db, mnt=m.mnt, name="again")
    check_files(m2.mnt, expected, "after a remount")
    m2.umount()


@needs_persistence
def test_compact_offline_and_bad_input(ctx):
    """holtfs compact DB of an unmounted database gives space back (text and --json), leaves a
    clean database whose files are intact; a path that is no database or no mount fails in one
    line with exit 2.

    The database is left by a killed daemon, its log still holding a removed 30 MB file: space
    that a compaction must give back whatever the engine reclaims by itself (a clean unmount
    already checkpoints and cuts the log)."""
    m = ctx.mount()
    write_file(os.path.join(m.mnt, "keep"), 3 * MIB, seed=3)
    write_file(os.path.join(m.mnt, "drop"), 30 * MIB, seed=4)
    os.unlink(os.path.join(m.mnt, "drop"))
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    # The mount of a dead daemon: no one to ask, one line.
    r = run([ctx.holtfs, "compact", m.mnt])
    check("no daemon answers" in one_line_error(r, "compact"), "compact of a dead mount: %r" % r.stderr)
    subprocess.run(["fusermount3", "-u", "-z", m.mnt], capture_output=True)
    peak = du(m.db)
    line = compact_text(ctx, m.db)
    after = du(m.db)
    check(after < peak - 20 * MIB, "du %d → %d after offline compact (%s)" % (peak, after, line))
    report = compact_json(ctx, m.db)
    check(report["state"] == "offline" and report["database"] == m.db, "report %r" % report)
    check(close_enough(report["bytesAfter"], du(m.db), share=0.05), "report %r, du %d" % (report, du(m.db)))
    r = run([ctx.holtfs, "check", m.db], timeout=120)
    check(r.returncode == 0, "check after offline compact: %s %s" % (r.stdout[-2000:], r.stderr))
    stats = json.loads(run([ctx.holtfs, "stats", m.db, "--json"]).stdout)
    check(stats["state"] == "offline" and stats["space"]["liveBytes"] > 3 * MIB, "stats space %r" % stats.get("space"))
    m2 = ctx.mount(db=m.db, mnt=m.mnt, name="again")
    with open(os.path.join(m2.mnt, "keep"), "rb") as f:
        data = f.read()
    check(len(data) == 3 * MIB and data[:16] == (bytes(range(256)) * 4096)[3:19], "keep after compact: %d bytes" % len(data))
    check(not os.path.exists(os.path.join(m2.mnt, "drop")), "drop came back")
    m2.umount()

    plain = ctx.dir("plain")
    afile = ctx.path("afile")
    open(afile, "w").close()
    for target in (plain, afile, ctx.path("missing"), "/proc", ""):
        r = run([ctx.holtfs, "compact", target])
        one_line_error(r, "compact")
        check(r.returncode == 2, "compact %r: exit %d, expected 2" % (target, r.returncode))
    # A plain directory is refused before anything is created in it (not even the lock file).
    check(os.listdir(plain) == [], "compact left files in a plain directory: %r" % os.listdir(plain))


@needs_persistence
def test_space_comes_back_by_itself_after_rm(ctx):
    """On a --sync periodic mount, 200 MB in one file and 20,000 empty files, then rm -rf: du of
    the database falls below 10 % of its peak within 60 s with no command run."""
    m = ctx.mount(args=("--sync", "periodic"))
    started = time.monotonic()
    write_file(os.path.join(m.mnt, "big"), 200 * MIB, seed=5)
    os.mkdir(os.path.join(m.mnt, "many"))
    for i in range(20000):
        os.close(os.open(os.path.join(m.mnt, "many", "%05d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
    peak = du(m.db)
    peak_time = time.monotonic()
    r = run(["rm", "-rf", os.path.join(m.mnt, "big"), os.path.join(m.mnt, "many")], timeout=120)
    check(r.returncode == 0, "rm -rf: %s" % r.stderr)
    removed = time.monotonic()
    seen = []

    def back():
        now = du(m.db)
        seen.append((round(time.monotonic() - removed, 1), now))
        return now < peak * 0.10

    try:
        poll_until(back, RECLAIM_DEADLINE, "du of the database to fall below 10 %% of its peak %d" % peak,
                   lambda: "; du over time (s, bytes): %r%s" % (seen[::max(1, len(seen) // 12)], m.log_tail()),
                   interval=0.5)
    finally:
        ctx.notes.append("space: peak %d bytes after %.1f s of writing; rm -rf took %.1f s; du after: %r" % (
            peak, peak_time - started, removed - peak_time, seen[-1:] if seen else None))
    took = time.monotonic() - removed
    print("      space came back in %.1f s after rm -rf (peak %.1f MiB, now %.1f MiB)" % (
        took, peak / MIB, seen[-1][1] / MIB), flush=True)
    check(close_enough(df_used(m.mnt), du(m.db), share=0.05) or df_used(m.mnt) < peak * 0.10,
          "df used %d after the space came back, du %d" % (df_used(m.mnt), du(m.db)))
    m.umount()


test_space_comes_back_by_itself_after_rm.timeout = 200
