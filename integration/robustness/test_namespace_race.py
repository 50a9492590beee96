"""Namespace races between real processes: what POSIX promises while other processes rename,
exchange, link, create and unlink around open files and directory fds.

Every test runs its scenario twice: first on a tmpfs mounted by the test (the control: it must
show 0 violations, or the test itself is wrong), then on a fresh holtfs mount; both get the same
workload for a bounded time (short form 1.5 s on the control and 2.5 s on holtfs per scenario,
`--long` 20 s and 60 s; on holtfs the exchange runs 0.8 times as long, the rarer three-step
rename 1.6 times). The workload runs in processes forked from the runner (each with
PR_SET_PDEATHSIG=SIGKILL, killed at cleanup whatever happens); they share a stop flag in an
anonymous shared mapping and report JSON counts through a pipe. Every loop is bounded by a count
and by time; the runner waits for them with a deadline and names the ones that hung.

What must hold (each violation is counted and reported with its total, e.g. "12 foreign bytes of
4000"):
- appends_follow_exchanged_dirs / appends_follow_renamed_dirs: two processes append `A` bytes to
  A/log and `B` bytes to B/log through fds opened once, while another swaps the directories A and
  B (renameat2 RENAME_EXCHANGE; or a three-step rename through a temporary name). An fd refers to
  its inode, not to a path: each file holds only its own letter, every acknowledged byte, through
  its fd and through whichever name it has at the end.
- lookups_while_dir_renamed: stat, open and O_CREAT|O_EXCL by name relative to an fd of directory
  d (400 files), while another process renames d to e and back: no ENOENT (the names are in the
  directory the fd refers to the whole time; an exclusive create must say EEXIST), and after the
  renames every name still stats (a false ENOENT the kernel cached as a negative entry would stick
  for 60 s). The kernel keeps positive entries, so only the first stat of a name asks the file
  system; O_CREAT|O_EXCL makes it ask again each time.
- listing_while_parent_renamed: listings of a directory held by fd, while its parent is renamed
  back and forth: every listing is exactly the M names, none twice, none missing.
- lookups_while_ancestors_move: two sibling directories with the same names and different
  contents, each held by fd, while their parents are renamed and the two exchanged: every stat
  works and every open reads the content of the directory the fd refers to.
- open_unlink_same_names: two processes create (O_EXCL), open, unlink and recreate the same few
  names: an fd reads the content of the file it opened, also after the name was unlinked and
  another file got the name.
- hard_links_across_renamed_dirs: X/f_i linked to Y/g_i; a process appends to g_i, another reads
  and stats through both names while X and Y are renamed and exchanged: same st_ino, st_nlink 2,
  contents a prefix of what was appended, and at the end exactly what was appended.
- readdir_while_siblings_churn: listings of a directory where two processes create and unlink
  names between its 200 permanent files: each permanent file appears exactly once (what POSIX
  guarantees for entries not added or removed during the listing).

holtfs runs with its default `--sync always` in every scenario: it is what users get, and its
longer commits widen the race windows (fewer operations per second than `--sync periodic`, but
each scenario still does hundreds to thousands of them).
"""
import collections
import ctypes
import errno
import hashlib
import json
import mmap
import os
import random
import select
import signal
import subprocess
import threading
import time
import traceback

import rlib
from rlib import check, fail, needs

# Seconds each scenario runs: (control, holtfs), short form and --long.
SHORT_SECONDS = (1.5, 2.5)
LONG_SECONDS = (20.0, 60.0)
MAX_OPS = 10_000_000       # every loop is also bounded by a count
GRACE = 60.0               # seconds past a scenario's end before its processes count as hung
EXAMPLES = 5               # examples kept per kind of violation

AT_FDCWD = -100
RENAME_EXCHANGE = 2
SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "i686": 353, "armv7l": 382}.get(os.uname().machine)
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    _renameat2.restype = ctypes.c_int


def renameat2(a, b, flags):
    """renameat2(AT_FDCWD, a, AT_FDCWD, b, flags); raises OSError like os.rename."""
    a, b = os.fsencode(a), os.fsencode(b)
    if _renameat2 is not None:
        rc = _renameat2(AT_FDCWD, a, AT_FDCWD, b, flags)
    else:
        rc = _libc.syscall(ctypes.c_long(SYS_RENAMEAT2), ctypes.c_long(AT_FDCWD), ctypes.c_char_p(a),
                           ctypes.c_long(AT_FDCWD), ctypes.c_char_p(b), ctypes.c_ulong(flags))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), a, None, b)


def exchange(a, b):
    renameat2(a, b, RENAME_EXCHANGE)


def seconds(ctx, on_holtfs, scale=1.0):
    pair = LONG_SECONDS if ctx.long else SHORT_SECONDS
    return pair[1] * scale if on_holtfs else pair[0]


# ---------------------------------------------------------------------------------------------
# Child processes


class Tally:
    """Counts by kind, with a few examples of each (JSON-able), in a child or in the runner."""

    def __init__(self):
        self.counts = collections.Counter()
        self.examples = collections.defaultdict(list)

    def add(self, kind, example=None, n=1):
        self.counts[kind] += n
        if example is not None and len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(example)

    def add_errno(self, op, err, example):
        self.add("%s %s" % (op, rlib.ename(err)), example)

    def merge(self, data):
        for kind, n in data["counts"].items():
            self.counts[kind] += n
        for kind, ex in data["examples"].items():
            self.examples[kind].extend(ex[:EXAMPLES - len(self.examples[kind])])

    def json(self):
        return {"counts": dict(self.counts), "examples": dict(self.examples)}

    def __getitem__(self, kind):
        return self.counts[kind]


class Workers:
    """Processes forked from the runner, each running one function and reporting its JSON result.

    They share two flags in an anonymous shared mapping: `stop` (the movers end their loop) and
    `quiet` (the movers have ended; the observers may do their final reads). Each child gets
    PR_SET_PDEATHSIG=SIGKILL and always ends with os._exit; the runner kills every child that is
    left at cleanup (registered before the first fork) and when one of them fails or hangs.
    """

    def __init__(self, ctx, mount, what):
        self.ctx, self.mount, self.what = ctx, mount, what
        self.flags = mmap.mmap(-1, mmap.PAGESIZE)
        self.kids = {}       # name -> [pid, read fd, chunks]
        self.results = {}
        ctx.on_cleanup(self.kill_all)

    # --- in the children

    def stopping(self):
        return self.flags[0] != 0

    def wait_quiet(self, deadline_s=GRACE + 60):
        """Polls (with a deadline) until the runner says the movers have ended."""
        end = time.monotonic() + deadline_s
        while self.flags[1] == 0:
            if time.monotonic() > end:
                raise RuntimeError("no quiet signal from the runner within %.0f s" % deadline_s)
            time.sleep(0.002)

    # --- in the runner

    def start(self, name, fn, *args):
        r, w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the runner
            try:
                os.close(r)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
                if os.getppid() != parent:
                    os._exit(3)
                try:
                    result = {"ok": fn(*args)}
                except BaseException:  # noqa: B902 - the child reports anything and exits
                    result = {"crash": traceback.format_exc()}
                data = json.dumps(result).encode()
                while data:
                    data = data[os.write(w, data):]
            finally:
                os._exit(0)
        os.close(w)
        self.kids[name] = [pid, r, []]

    def stop(self):
        self.flags[0] = 1

    def quiet(self):
        self.flags[1] = 1

    def kill_all(self):
        for name, (pid, r, _) in list(self.kids.items()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            try:
                os.close(r)
            except OSError:
                pass
            del self.kids[name]

    def _finish(self, name):
        pid, r, chunks = self.kids.pop(name)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        raw = b"".join(chunks)
        try:
            result = json.loads(raw)
        except ValueError:
            self.kill_all()
            fail("%s: process %r ended (%s) without a result" % (
                self.what, name, rlib.status_text(-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                                                  else os.WEXITSTATUS(status))))
        if "crash" in result:
            self.kill_all()
            fail("%s: process %r failed:\n  %s" % (self.what, name, result["crash"].strip().replace("\n", "\n  ")))
        self.results[name] = result["ok"]

    def _pump(self, names, until):
        """Reads the children's pipes until each of `names` has reported or `until` passes; a child
        that ends early (finished or crashed) is handled at once. Returns whether all reported."""
        while any(n in self.kids for n in names):
            left = until - time.monotonic()
            if left <= 0:
                return False
            fds = {self.kids[n][1]: n for n in self.kids}
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    self.kids[fds[fd]][2].append(chunk)
                else:
                    self._finish(fds[fd])
        return True

    def run_until(self, end):
        """Lets the children work until `end` (a crash of one of them fails the test at once)."""
        self._pump(list(self.kids), end)

    def collect(self, names, deadline_s=GRACE):
        if not self._pump(names, time.monotonic() + deadline_s):
            hung = [n for n in names if n in self.kids]
            stacks = rlib.daemon_stacks(self.mount.proc.pid) if self.mount else ""
            wchans = []
            for n in hung:
                try:
                    with open("/proc/%d/wchan" % self.kids[n][0]) as f:
                        wchans.append("%s:%s" % (n, f.read().strip() or "-"))
                except OSError:
                    pass
            self.kill_all()
            fail("%s: processes %s did not finish within %.0f s of the scenario's end (killed); "
                 "their wait channels: %s%s" % (self.what, ", ".join(hung), deadline_s, " ".join(wchans), stacks))
        return self.results

    def drive(self, end, movers, observers):
        """The usual run: work until `end`, stop the movers and collect them, then let the
        observers do their final checks and collect them."""
        self.run_until(end)
        self.stop()
        self.collect(movers)
        self.quiet()
        self.collect(observers)
        return self.results


class Held:
    """Fds the runner opens for a scenario before anything moves (its children inherit them);
    closed at the scenario's end, or at cleanup if the scenario fails first (each exactly once)."""

    def __init__(self, ctx):
        self.fds = []
        ctx.on_cleanup(self.close_all)

    def dir(self, path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self.fds.append(fd)
        return fd

    def close_all(self):
        while self.fds:
            os.close(self.fds.pop())


def mover_loop(w, end, steps, tally):
    """Runs `steps` (a list of callables that together leave the tree as they found it) until the
    runner says stop; a failing step ends the loop (the tree is then not where it started)."""
    n = 0
    hard_end = end + GRACE
    while not w.stopping() and n < MAX_OPS and time.monotonic() < hard_end:
        for i, step in enumerate(steps):
            try:
                step()
            except OSError as e:
                tally.add_errno("mover step %d" % i, e.errno, "round %d: %s" % (n, e))
                return n, False
        n += 1
    return n, True


def read_all(fd):
    """The whole content of fd from offset 0 (pread, so the offset does not matter)."""
    chunks, off = [], 0
    while True:
        b = os.pread(fd, 1 << 20, off)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        off += len(b)


def read_at(dir_fd, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return read_all(fd)
    finally:
        os.close(fd)


def populate(directory, files):
    """Creates {name: content} in directory with 4 threads (so a mount's syncs are shared)."""
    items = sorted(files.items())
    errors = []

    def part(k):
        try:
            for name, content in items[k::4]:
                with open(os.path.join(directory, name), "wb") as f:
                    f.write(content)
        except OSError as e:
            errors.append(e)
    threads = [threading.Thread(target=part, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not any(t.is_alive() for t in threads), "populating %s did not finish in 120 s" % directory)
    if errors:
        raise errors[0]


def describe(tally, kinds=None):
    """'37 stat ENOENT (e.g. ...); 2 ...' for the kinds with a non-zero count."""
    parts = []
    for kind in sorted(kinds if kinds is not None else tally.counts):
        n = tally.counts.get(kind, 0)
        if n:
            ex = tally.examples.get(kind)
            parts.append("%d %s%s" % (n, kind, " (e.g. %s)" % "; ".join(map(str, ex[:3])) if ex else ""))
    return parts


# ---------------------------------------------------------------------------------------------
# Running a scenario on the control and on holtfs


def on_both(ctx, scenario, sync="always", scale=1.0):
    """Runs scenario(ctx, base, seconds, mount) -> (summary, problems) on a tmpfs, which must show
    no problems, then on a fresh holtfs mount with `--sync sync`, which must show none either;
    `scale` stretches the holtfs run (for the rarer races)."""
    control = rlib.tmpfs(ctx, "control", "256m")
    base = os.path.join(control, "t")
    os.mkdir(base)
    t0 = time.monotonic()
    summary, problems = scenario(ctx, base, seconds(ctx, False), None)
    ctx.notes.append("control (tmpfs, %.1f s): %s" % (time.monotonic() - t0, summary))
    check(not problems, "on the tmpfs control (so the test itself is wrong): %s" % "; ".join(problems))
    subprocess.run(["umount", control], capture_output=True, timeout=30)

    db, mnt = ctx.path("race.db"), ctx.dir("race.mnt")
    m = rlib.mount(ctx, db, mnt, ["--sync", sync], name="race")
    base = os.path.join(mnt, "t")
    os.mkdir(base)
    t0 = time.monotonic()
    summary, problems = scenario(ctx, base, seconds(ctx, True, scale), m)
    ctx.notes.append("holtfs (--sync %s, %.1f s): %s" % (sync, time.monotonic() - t0, summary))
    m.answers("the scenario")
    check(not problems, "on holtfs (--sync %s): %s" % (sync, "; ".join(problems)))
    m.stop()


# ---------------------------------------------------------------------------------------------
# 1. Appends through fds while their directories are swapped

CHUNK = 64
WRITERS = 2  # processes appending through the same two fds (more writes in flight)
MAX_APPENDED = 16 << 20  # bytes per file (the tmpfs control appends fast)


def appends_scenario(swap):
    def scenario(ctx, base, secs, mount):
        a, b, tmp = (os.path.join(base, n) for n in ("A", "B", "T"))
        for d in (a, b):
            os.mkdir(d)
            open(os.path.join(d, "log"), "wb").close()
        # Opened before anything moves (the writers inherit them): A/log is the file named A/log now.
        held = Held(ctx)
        fds = {"A": os.open(os.path.join(a, "log"), os.O_RDWR | os.O_APPEND),
               "B": os.open(os.path.join(b, "log"), os.O_RDWR | os.O_APPEND)}
        held.fds += fds.values()
        w = Workers(ctx, mount, "appends while %s" % swap)
        end = time.monotonic() + secs

        def swapper():
            tally = Tally()
            steps = [lambda: exchange(a, b)] if swap == "exchange" else [
                lambda: os.rename(a, tmp), lambda: os.rename(b, a), lambda: os.rename(tmp, b)]
            n, home = mover_loop(w, end, steps, tally)
            return {"swaps": n, "home": home, "tally": tally.json()}

        def writer():
            written = {"A": 0, "B": 0}
            tally = Tally()
            n = 0
            while time.monotonic() < end and n < MAX_OPS and written["A"] < MAX_APPENDED // WRITERS:
                for letter, fd in fds.items():
                    try:
                        k = os.write(fd, letter.encode() * CHUNK)
                        written[letter] += k
                        if k != CHUNK:
                            tally.add("short writes", "%s: %d of %d bytes" % (letter, k, CHUNK))
                    except OSError as e:
                        tally.add_errno("write to %s/log" % letter, e.errno, "after %d bytes" % written[letter])
                n += 1
            return {"written": written, "tally": tally.json()}

        w.start("swapper", swapper)
        writers = ["writer%d" % k for k in range(WRITERS)]
        for name in writers:
            w.start(name, writer)
        res = w.drive(end, ["swapper"], writers)
        sw = res["swapper"]
        tally = Tally()
        tally.merge(sw["tally"])
        written = {"A": 0, "B": 0}
        for name in writers:
            tally.merge(res[name]["tally"])
            for letter in written:
                written[letter] += res[name]["written"][letter]
        total = sum(written.values())
        problems = describe(tally)
        # Through the fds: each file holds its own letter only, every acknowledged byte.
        ino = {letter: os.fstat(fd).st_ino for letter, fd in fds.items()}
        through_fd = {letter: read_all(fd) for letter, fd in fds.items()}
        held.close_all()
        foreign = lost = 0
        for letter, data in through_fd.items():
            own = data.count(letter.encode())
            foreign += len(data) - own
            lost += max(0, written[letter] - own)
        # Through the names (when the swapper finished its last swap): the file at A/log is the one
        # first opened as A/log after an even number of swaps, as B/log after an odd one; same
        # content as through its fd.
        by_ino = {v: k for k, v in ino.items()}
        name_foreign = mismatched = misplaced = 0
        for d, letter in ((a, "A"), (b, "B")) if sw["home"] else ():
            path = os.path.join(d, "log")
            st = os.stat(path)
            with open(path, "rb") as f:
                data = f.read()
            owner = by_ino.get(st.st_ino)
            if owner is None:
                misplaced += 1
                continue
            want = letter if sw["swaps"] % 2 == 0 else ("B" if letter == "A" else "A")
            if owner != want:
                misplaced += 1
            name_foreign += len(data) - data.count(owner.encode())
            if data != through_fd[owner]:
                mismatched += 1
        if foreign:
            problems.append("%d foreign bytes of %d read through the fds (writes landed in the other file)" % (
                foreign, total))
        if lost:
            problems.append("%d of %d acknowledged bytes missing from their own file" % (lost, total))
        if name_foreign:
            problems.append("%d foreign bytes of %d read through the names" % (name_foreign, total))
        if misplaced:
            problems.append("%d of 2 names lead to the wrong file after %d swaps" % (misplaced, sw["swaps"]))
        if mismatched:
            problems.append("%d of 2 files read differently through the name and through the fd" % mismatched)
        summary = "%d swaps (%s), %d appends of %d bytes by %d processes (%d bytes): %d foreign bytes in the files, %d lost" % (
            sw["swaps"], swap, total // CHUNK, CHUNK, WRITERS, total, foreign, lost)
        return summary, problems
    return scenario


@needs("mount", "writes through an fd land in its inode whatever happens to the path")
def test_appends_follow_exchanged_dirs(ctx):
    """O_APPEND writers on A/log and B/log while A and B are exchanged: no byte in the other file."""
    on_both(ctx, appends_scenario("exchange"), scale=0.8)


@needs("mount", "writes through an fd land in its inode whatever happens to the path")
def test_appends_follow_renamed_dirs(ctx):
    """The same with a three-step rename (A->T, B->A, T->B) instead of RENAME_EXCHANGE."""
    on_both(ctx, appends_scenario("rename3"), scale=1.6)


# ---------------------------------------------------------------------------------------------
# 2. Lookups relative to the fd of a directory that is renamed back and forth

def enoent_scenario(ctx, base, secs, mount):
    n_files = 400
    d, e = os.path.join(base, "d"), os.path.join(base, "e")
    names = ["f%04d" % i for i in range(n_files)]
    os.mkdir(d)
    populate(d, {n: n.encode() for n in names})
    w = Workers(ctx, mount, "lookups while d is renamed")
    end = time.monotonic() + secs
    held = Held(ctx)
    dir_fd = held.dir(d)

    def mover():
        tally = Tally()
        n, home = mover_loop(w, end, [lambda: os.rename(d, e), lambda: os.rename(e, d)], tally)
        return {"renames": 2 * n, "home": home, "tally": tally.json()}

    def observer(k):
        rng = random.Random(ctx.seed * 10 + k)
        order = names[:]
        rng.shuffle(order)
        tally = Tally()
        i = 0
        while time.monotonic() < end and i < MAX_OPS:
            name = order[i % len(order)]
            try:
                os.stat(name, dir_fd=dir_fd)
                tally.add("stats")
            except OSError as e:
                tally.add("stats")
                tally.add_errno("stat", e.errno, name)
            if i % 3 == 0:
                tally.add("opens")
                try:
                    data = read_at(dir_fd, name)
                    if data != name.encode():
                        tally.add("wrong content", "%s: %r" % (name, data[:20]))
                except OSError as e:
                    tally.add_errno("open+read", e.errno, name)
            elif i % 3 == 1:
                # O_CREAT|O_EXCL makes the kernel ask the file system again (no cached answer).
                tally.add("exclusive creates")
                try:
                    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=dir_fd))
                    tally.add("exclusive creates of an existing name that succeeded", name)
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        tally.add_errno("O_EXCL create", e.errno, name)
            i += 1
        return {"tally": tally.json()}

    w.start("mover", mover)
    for k in range(2):
        w.start("observer%d" % k, observer, k)
    res = w.drive(end, ["mover"], ["observer0", "observer1"])
    tally = Tally()
    for r in res.values():
        tally.merge(r["tally"])
    # After the renames: every name stats, through the fd and (when the mover ended at home)
    # through the path.
    stuck = Tally()
    ways = [("fd", lambda name: os.stat(name, dir_fd=dir_fd))]
    if res["mover"]["home"]:
        ways.append(("path", lambda name: os.stat(os.path.join(d, name))))
    for name in names:
        for how, fn in ways:
            try:
                fn(name)
            except OSError as e:
                stuck.add("%s to a stat through the %s" % (rlib.ename(e.errno), how), name)
    problems = []
    enoent = tally["stat ENOENT"] + tally["open+read ENOENT"] + tally["O_EXCL create ENOENT"]
    if tally["stat ENOENT"]:
        problems.append("%d false ENOENT of %d stats (e.g. %s)" % (
            tally["stat ENOENT"], tally["stats"], ", ".join(tally.examples["stat ENOENT"][:3])))
    if tally["open+read ENOENT"]:
        problems.append("%d false ENOENT of %d opens (e.g. %s)" % (
            tally["open+read ENOENT"], tally["opens"], ", ".join(tally.examples["open+read ENOENT"][:3])))
    if tally["O_EXCL create ENOENT"]:
        problems.append("%d false ENOENT of %d exclusive creates of existing names (e.g. %s)" % (
            tally["O_EXCL create ENOENT"], tally["exclusive creates"],
            ", ".join(tally.examples["O_EXCL create ENOENT"][:3])))
    counters = ("stats", "opens", "exclusive creates")
    enoent_kinds = ("stat ENOENT", "open+read ENOENT", "O_EXCL create ENOENT")
    problems += describe(tally, [k for k in tally.counts if k not in counters + enoent_kinds])
    for kind in sorted(stuck.counts):
        problems.append("%d of %d names still give %s after the renames stopped (e.g. %s)" % (
            stuck[kind], n_files, kind, ", ".join(stuck.examples[kind][:3])))
    held.close_all()
    summary = ("%d renames; %d stats, %d opens and %d exclusive creates by 2 processes: %d false ENOENT, "
               "%d names still failing after" % (res["mover"]["renames"], tally["stats"], tally["opens"],
                                                  tally["exclusive creates"], enoent, sum(stuck.counts.values())))
    return summary, problems


@needs("mount", "a lookup under a directory fd finds the directory's entries while the directory is renamed")
def test_lookups_while_dir_renamed(ctx):
    """stat/open relative to d's fd while d is renamed to e and back: no ENOENT, none cached."""
    on_both(ctx, enoent_scenario)


# ---------------------------------------------------------------------------------------------
# 3. Listings of a directory held by fd while its parent is renamed

def listing_scenario(ctx, base, secs, mount):
    n_files = 300
    p, p2 = os.path.join(base, "p"), os.path.join(base, "p2")
    q = os.path.join(p, "q")
    names = ["n%04d" % i for i in range(n_files)]
    os.makedirs(q)
    populate(q, {n: b"" for n in names})
    w = Workers(ctx, mount, "listings while the parent is renamed")
    end = time.monotonic() + secs
    held = Held(ctx)
    dir_fd = held.dir(q)
    want = set(names)

    def mover():
        tally = Tally()
        n, _ = mover_loop(w, end, [lambda: os.rename(p, p2), lambda: os.rename(p2, p)], tally)
        return {"renames": 2 * n, "tally": tally.json()}

    def observer():
        tally = Tally()
        i = 0
        while time.monotonic() < end and i < MAX_OPS:
            how = "held fd" if i % 2 == 0 else "fresh fd"
            i += 1
            tally.add("listings")
            try:
                if how == "held fd":
                    got = os.listdir(dir_fd)
                else:
                    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
                    try:
                        got = os.listdir(fd)
                    finally:
                        os.close(fd)
            except OSError as e:
                tally.add_errno("listing", e.errno, how)
                continue
            counts = collections.Counter(got)
            dups = sum(c - 1 for c in counts.values() if c > 1)
            missing = want - counts.keys()
            extra = counts.keys() - want
            if dups or missing or extra:
                tally.add("bad listings", "%s: %d names, %d missing, %d twice, %d extra" % (
                    how, len(got), len(missing), dups, len(extra)))
                tally.add("missing names", None, len(missing))
                tally.add("duplicate names", None, dups)
                tally.add("extra names", None, len(extra))
        return {"tally": tally.json()}

    w.start("mover", mover)
    w.start("observer", observer)
    res = w.drive(end, ["mover"], ["observer"])
    tally = Tally()
    for r in res.values():
        tally.merge(r["tally"])
    problems = []
    if tally["bad listings"]:
        problems.append("%d bad listings of %d (%d names missing, %d twice, %d extra in all; e.g. %s)" % (
            tally["bad listings"], tally["listings"], tally["missing names"], tally["duplicate names"],
            tally["extra names"], "; ".join(tally.examples["bad listings"][:3])))
    problems += describe(tally, [k for k in tally.counts if k.startswith("listing ") or k.startswith("mover")])
    try:
        after = sorted(os.listdir(dir_fd))
        if after != names:
            problems.append("after the renames the listing has %d names, expected %d" % (len(after), n_files))
    except OSError as e:
        problems.append("after the renames the listing fails with %s" % rlib.ename(e.errno))
    held.close_all()
    summary = "%d parent renames, %d listings of %d names: %d bad" % (
        res["mover"]["renames"], tally["listings"], n_files, tally["bad listings"])
    return summary, problems


@needs("mount", "readdir of a directory held by fd whatever happens to its path")
def test_listing_while_parent_renamed(ctx):
    """Listings of a directory held by fd while its parent is renamed: exactly its M names each time."""
    on_both(ctx, listing_scenario)


# ---------------------------------------------------------------------------------------------
# 4a. Lookups relative to directory fds while their ancestors are renamed and exchanged

def ancestors_scenario(ctx, base, secs, mount):
    n_files = 100
    top, top2 = os.path.join(base, "top"), os.path.join(base, "top2")
    b1, b2 = os.path.join(top, "b1"), os.path.join(top, "b2")
    names = ["f%03d" % i for i in range(n_files)]
    held = Held(ctx)
    fds = {}
    for tag, b in (("b1", b1), ("b2", b2)):
        c = os.path.join(b, "c")
        os.makedirs(c)
        populate(c, {n: ("%s/c/%s" % (tag, n)).encode() for n in names})
        fds[tag] = held.dir(c)
    w = Workers(ctx, mount, "lookups while the ancestors move")
    end = time.monotonic() + secs

    def mover():
        tally = Tally()
        n, _ = mover_loop(w, end, [lambda: exchange(b1, b2), lambda: os.rename(top, top2),
                                   lambda: os.rename(top2, top), lambda: exchange(b1, b2)], tally)
        return {"rounds": n, "tally": tally.json()}

    def observer(k):
        rng = random.Random(ctx.seed * 10 + k)
        tally = Tally()
        i = 0
        while time.monotonic() < end and i < MAX_OPS:
            i += 1
            tag = rng.choice(("b1", "b2"))
            name = rng.choice(names)
            tally.add("stats")
            try:
                os.stat(name, dir_fd=fds[tag])
            except OSError as e:
                tally.add_errno("stat", e.errno, "%s/c/%s" % (tag, name))
            if i % 2 == 0:
                tally.add("reads")
                try:
                    data = read_at(fds[tag], name)
                    if data != ("%s/c/%s" % (tag, name)).encode():
                        tally.add("foreign content", "%s/c/%s read %r" % (tag, name, data[:20]))
                except OSError as e:
                    tally.add_errno("open+read", e.errno, "%s/c/%s" % (tag, name))
        return {"tally": tally.json()}

    w.start("mover", mover)
    for k in range(2):
        w.start("observer%d" % k, observer, k)
    res = w.drive(end, ["mover"], ["observer0", "observer1"])
    tally = Tally()
    for r in res.values():
        tally.merge(r["tally"])
    stuck = 0
    for tag in fds:
        for name in names:
            try:
                if read_at(fds[tag], name) != ("%s/c/%s" % (tag, name)).encode():
                    stuck += 1
            except OSError:
                stuck += 1
    problems = describe(tally, [k for k in tally.counts if k.startswith("mover")])
    for kind in sorted(tally.counts):
        if kind in ("stats", "reads") or kind.startswith("mover"):
            continue
        of = tally["stats"] if kind.startswith("stat") else tally["reads"]
        problems.append("%d %s of %d (e.g. %s)" % (tally[kind], kind, of, "; ".join(map(str, tally.examples[kind][:3]))))
    if stuck:
        problems.append("%d of %d names fail or read wrong through their fd after the moves" % (stuck, 2 * n_files))
    held.close_all()
    bad = sum(n for k, n in tally.counts.items() if k not in ("stats", "reads"))
    summary = "%d rounds of (exchange, rename top, rename back, exchange), %d stats and %d reads: %d bad" % (
        res["mover"]["rounds"], tally["stats"], tally["reads"], bad)
    return summary, problems


@needs("mount", "lookups under a directory fd whatever happens to the directory's ancestors")
def test_lookups_while_ancestors_move(ctx):
    """stat/open under fds of top/b1/c and top/b2/c while top is renamed and b1, b2 exchanged."""
    on_both(ctx, ancestors_scenario)


# ---------------------------------------------------------------------------------------------
# 4b. open + unlink races on the same names

HEADER = 20  # b"P%1d S%08d L%05d\n"


def content_of(proc, seq, length):
    header = b"P%1d S%08d L%05d\n" % (proc, seq, length)
    body = hashlib.sha256(header).digest() * (length // 32 + 1)
    return (header + body)[:length]


def prefix_valid(data):
    """Whether data is a prefix of some content_of(...) (what a reader may see of a file)."""
    if len(data) < HEADER:
        return all(c in b"PSL0123456789 " for c in data)
    try:
        proc, seq, length = int(data[1:2]), int(data[4:12]), int(data[14:19])
    except ValueError:
        return False
    return len(data) <= length and content_of(proc, seq, length)[:len(data)] == data


def unlink_scenario(ctx, base, secs, mount):
    u = os.path.join(base, "u")
    os.mkdir(u)
    names = ["n%02d" % i for i in range(8)]
    w = Workers(ctx, mount, "open/unlink races")
    end = time.monotonic() + secs

    def worker(me):
        """Creates, opens, unlinks and re-reads: each process keeps up to 6 fds open for a while,
        so names are unlinked and reused while fds on their earlier files are still open."""
        rng = random.Random(ctx.seed * 10 + me)
        dir_fd = os.open(u, os.O_RDONLY | os.O_DIRECTORY)
        tally = Tally()
        pool = []  # [fd, name, content it was created with (None: opened), what was read last]

        def recheck(entry, when):
            fd, name, created, seen = entry
            data = read_all(fd)
            if created is not None:
                tally.add("creator reads")
                if data != created:
                    tally.add("creator reads wrong", "%s %s: %d bytes %r, expected %d %r" % (
                        name, when, len(data), data[:HEADER - 1], len(created), created[:HEADER - 1]))
            else:
                tally.add("reader reads")
                if not prefix_valid(data) or not data.startswith(seen):
                    tally.add("reader reads wrong", "%s %s: %d bytes %r, earlier %d bytes %r" % (
                        name, when, len(data), data[:HEADER - 1], len(seen), seen[:HEADER - 1]))
                entry[3] = data

        def retire(entry):
            try:
                recheck(entry, "before close")
            finally:
                os.close(entry[0])

        seq = 0
        try:
            while time.monotonic() < end and seq < MAX_OPS:
                seq += 1
                name = rng.choice(names)
                op = rng.random()
                try:
                    if op < 0.35:
                        try:
                            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644, dir_fd=dir_fd)
                        except FileExistsError:
                            continue
                        tally.add("creates")
                        content = content_of(me, seq, rng.randrange(HEADER, 4000))
                        entry = [fd, name, content, b""]
                        pool.append(entry)
                        if os.write(fd, content) != len(content):
                            tally.add("short writes", name)
                        recheck(entry, "after its write")
                    elif op < 0.6:
                        try:
                            fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
                        except FileNotFoundError:
                            continue
                        tally.add("opens")
                        entry = [fd, name, None, b""]
                        pool.append(entry)
                        recheck(entry, "after open")
                    elif op < 0.85:
                        try:
                            os.unlink(name, dir_fd=dir_fd)
                            tally.add("unlinks")
                        except FileNotFoundError:
                            pass
                    elif pool:
                        recheck(rng.choice(pool), "later")
                    while len(pool) > 6 or (pool and rng.random() < 0.1):
                        retire(pool.pop(0))
                except OSError as e:
                    tally.add_errno("op", e.errno, "%s: %s" % (name, e))
        finally:
            while pool:
                try:
                    retire(pool.pop(0))
                except OSError as e:
                    tally.add_errno("final read", e.errno, str(e))
            os.close(dir_fd)
        return {"tally": tally.json()}

    for k in range(2):
        w.start("worker%d" % k, worker, k)
    res = w.drive(end, [], ["worker0", "worker1"])
    tally = Tally()
    for r in res.values():
        tally.merge(r["tally"])
    problems = []
    if tally["creator reads wrong"]:
        problems.append("%d of %d reads through the creator's fd wrong (e.g. %s)" % (
            tally["creator reads wrong"], tally["creator reads"], "; ".join(tally.examples["creator reads wrong"][:2])))
    if tally["reader reads wrong"]:
        problems.append("%d of %d reads through an opener's fd not its file's content (e.g. %s)" % (
            tally["reader reads wrong"], tally["reader reads"], "; ".join(tally.examples["reader reads wrong"][:2])))
    problems += describe(tally, [k for k in tally.counts if k not in (
        "creates", "opens", "unlinks", "creator reads", "reader reads", "creator reads wrong", "reader reads wrong")])
    summary = "%d creates, %d opens, %d unlinks of 8 names by 2 processes, %d reads through open fds: %d wrong" % (
        tally["creates"], tally["opens"], tally["unlinks"], tally["creator reads"] + tally["reader reads"],
        tally["creator reads wrong"] + tally["reader reads wrong"])
    return summary, problems


@needs("mount", "an open fd keeps its file after the name is unlinked and reused")
def test_open_unlink_same_names(ctx):
    """Two processes create/open/unlink the same 8 names: every fd reads its own file's content."""
    on_both(ctx, unlink_scenario, sync="always")


# ---------------------------------------------------------------------------------------------
# 4c. Hard links across directories that are renamed and exchanged

RECORD = 12  # b"%02d:%08d\n"


_streams = {}


def stream(i, records):
    """The first `records` records the appender writes to file i (generated once, then cached)."""
    have = _streams.get(i, b"")
    if len(have) < records * RECORD:
        more = max(records, 2 * len(have) // RECORD, 1024)
        have = b"".join(b"%02d:%08d\n" % (i, k) for k in range(more))
        _streams[i] = have
    return have[:records * RECORD]


def stream_prefix(i, data):
    """Whether data is a prefix of what the appender writes to file i."""
    return stream(i, len(data) // RECORD + 1)[:len(data)] == data


def links_scenario(ctx, base, secs, mount):
    n_files = 8
    x, y, x2, y2 = (os.path.join(base, n) for n in ("X", "Y", "X2", "Y2"))
    os.mkdir(x)
    os.mkdir(y)
    for i in range(n_files):
        open(os.path.join(x, "f%d" % i), "wb").close()
        os.link(os.path.join(x, "f%d" % i), os.path.join(y, "g%d" % i))
    held = Held(ctx)
    fdx, fdy = held.dir(x), held.dir(y)
    w = Workers(ctx, mount, "hard links across moving directories")
    end = time.monotonic() + secs

    def mover():
        tally = Tally()
        n, _ = mover_loop(w, end, [lambda: os.rename(x, x2), lambda: os.rename(y, y2), lambda: exchange(x2, y2),
                                   lambda: exchange(x2, y2), lambda: os.rename(x2, x), lambda: os.rename(y2, y)],
                          tally)
        return {"rounds": n, "tally": tally.json()}

    def appender():
        fds = [os.open("g%d" % i, os.O_WRONLY | os.O_APPEND, dir_fd=fdy) for i in range(n_files)]
        records = [0] * n_files
        tally = Tally()
        k = 0
        while time.monotonic() < end and k < MAX_OPS and min(records) < 100_000:
            i = k % n_files
            k += 1
            try:
                if os.write(fds[i], b"%02d:%08d\n" % (i, records[i])) == RECORD:
                    records[i] += 1
                else:
                    tally.add("short appends", "g%d" % i)
            except OSError as e:
                tally.add_errno("append", e.errno, "g%d" % i)
        for fd in fds:
            os.close(fd)
        return {"records": records, "tally": tally.json()}

    def observer():
        rng = random.Random(ctx.seed)
        tally = Tally()
        k = 0
        while time.monotonic() < end and k < MAX_OPS:
            k += 1
            i = rng.randrange(n_files)
            f, g = "f%d" % i, "g%d" % i
            tally.add("pairs")
            try:
                sf = os.stat(f, dir_fd=fdx)
                sg = os.stat(g, dir_fd=fdy)
            except OSError as e:
                tally.add_errno("stat", e.errno, "%s or %s" % (f, g))
                continue
            if sf.st_ino != sg.st_ino:
                tally.add("different st_ino", "%s %d, %s %d" % (f, sf.st_ino, g, sg.st_ino))
            if sf.st_nlink != 2 or sg.st_nlink != 2:
                tally.add("st_nlink not 2", "%s %d, %s %d" % (f, sf.st_nlink, g, sg.st_nlink))
            if k % 2 == 0:
                try:
                    df = read_at(fdx, f)
                    dg = read_at(fdy, g)
                except OSError as e:
                    tally.add_errno("open+read", e.errno, "%s or %s" % (f, g))
                    continue
                tally.add("reads", n=2)
                for name, data in ((f, df), (g, dg)):
                    if not stream_prefix(i, data):
                        tally.add("foreign content", "%s: %d bytes, %r..." % (name, len(data), data[:RECORD]))
                if len(dg) < len(df):
                    tally.add("shrank", "%s %d bytes, then %s %d" % (f, len(df), g, len(dg)))
        return {"tally": tally.json()}

    w.start("mover", mover)
    w.start("appender", appender)
    w.start("observer", observer)
    res = w.drive(end, ["mover", "appender"], ["observer"])
    tally = Tally()
    for r in res.values():
        tally.merge(r["tally"])
    records = res["appender"]["records"]
    # After the moves, through the directory fds (X and Y wherever they are now).
    wrong = Tally()
    for i in range(n_files):
        f, g = "f%d" % i, "g%d" % i
        try:
            sf, sg = os.stat(f, dir_fd=fdx), os.stat(g, dir_fd=fdy)
            if sf.st_ino != sg.st_ino or sf.st_nlink != 2 or sg.st_nlink != 2:
                wrong.add("pairs with different st_ino or st_nlink not 2", "%s %d/%d, %s %d/%d" % (
                    f, sf.st_ino, sf.st_nlink, g, sg.st_ino, sg.st_nlink))
            for dfd, name in ((fdx, f), (fdy, g)):
                data = read_at(dfd, name)
                if data != stream(i, records[i]):
                    wrong.add("names not holding exactly what was appended", "%s: %d bytes, expected %d" % (
                        name, len(data), RECORD * records[i]))
        except OSError as e:
            wrong.add_errno("pairs failing after the moves with", e.errno, "%s/%s" % (f, g))
    held.close_all()
    problems = describe(tally, [k for k in tally.counts if k.startswith("mover")])
    for kind in sorted(tally.counts):
        if kind in ("pairs", "reads") or kind.startswith("mover"):
            continue
        of = tally["reads"] if kind in ("foreign content", "shrank") or kind.startswith("open") else tally["pairs"]
        problems.append("%d %s of %d (e.g. %s)" % (tally[kind], kind, of, "; ".join(map(str, tally.examples[kind][:3]))))
    for kind in sorted(wrong.counts):
        problems.append("at the end, %d of %d %s (e.g. %s)" % (
            wrong[kind], 2 * n_files if "names" in kind else n_files, kind, "; ".join(wrong.examples[kind][:3])))
    bad = sum(n for k, n in tally.counts.items() if k not in ("pairs", "reads")) + sum(wrong.counts.values())
    summary = "%d rounds of X/Y renames and exchanges, %d appends, %d stat pairs, %d reads: %d bad" % (
        res["mover"]["rounds"], sum(records), tally["pairs"], tally["reads"], bad)
    return summary, problems


@needs("mount", "hard links: one inode whatever happens to the directories holding its names")
def test_hard_links_across_renamed_dirs(ctx):
    """X/f_i linked as Y/g_i, appended through g_i, read through both while X and Y move and swap."""
    on_both(ctx, links_scenario)


# ---------------------------------------------------------------------------------------------
# 4d. readdir of a directory whose other entries come and go

def churn_scenario(ctx, base, secs, mount):
    n_survivors = 200
    c = os.path.join(base, "c")
    os.mkdir(c)
    survivors = ["s%03d" % i for i in range(n_survivors)]
    populate(c, {n: b"" for n in survivors})
    w = Workers(ctx, mount, "listings while entries churn")
    end = time.monotonic() + secs
    want = set(survivors)

    def churner(me):
        rng = random.Random(ctx.seed * 10 + me)
        dir_fd = os.open(c, os.O_RDONLY | os.O_DIRECTORY)
        tally = Tally()
        mine = []
        seq = 0
        while not w.stopping() and seq < MAX_OPS and time.monotonic() < end + GRACE:
            seq += 1
            if len(mine) < 20 or rng.random() < 0.5:
                name = "s%03d.%d.%d" % (rng.randrange(n_survivors), me, seq)
                try:
                    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=dir_fd))
                    mine.append(name)
                    tally.add("creates")
                except OSError as e:
                    tally.add_errno("create", e.errno, name)
            else:
                name = mine.pop(rng.randrange(len(mine)))
                try:
                    os.unlink(name, dir_fd=dir_fd)
                    tally.add("unlinks")
                except OSError as e:
                    tally.add_errno("unlink", e.errno, name)
        os.close(dir_fd)
        return {"tally": tally.json()}

    def observer():
        tally = Tally()
        dir_fd = os.open(c, os.O_RDONLY | os.O_DIRECTORY)
        i = 0
        while time.monotonic() < end and i < MAX_OPS:
            how = "held fd" if i % 2 == 0 else "path"
            i += 1
            tally.add("listings")
            try:
                got = os.listdir(dir_fd) if how == "held fd" else os.listdir(c)
            except OSError as e:
                tally.add_errno("listing", e.errno, how)
                continue
            counts = collections.Counter(n for n in got if n in want)
            dups = sum(n - 1 for n in counts.values() if n > 1)
            missing = len(want) - len(counts)
            if dups or missing:
                tally.add("bad listings", "%s: %d names, %d permanent ones missing, %d twice" % (
                    how, len(got), missing, dups))
                tally.add("permanent names missing", None, missing)
                tally.add("permanent names twice", None, dups)
        os.close(dir_fd)
        return {"tally": tally.json()}

    for k in range(2):
        w.start("churner%d" % k, churner, k)
    w.start("observer", observer)
    res = w.drive(end, ["churner0", "churner1"], ["observer"])
    tally = Tally()
    for r in res.values():
        tally.merge(r["tally"])
    problems = []
    if tally["bad listings"]:
        problems.append("%d bad listings of %d (%d permanent names missing, %d twice in all; e.g. %s)" % (
            tally["bad listings"], tally["listings"], tally["permanent names missing"],
            tally["permanent names twice"], "; ".join(tally.examples["bad listings"][:3])))
    problems += describe(tally, [k for k in tally.counts if " E" in k])
    summary = "%d creates and %d unlinks by 2 processes, %d listings of %d permanent names: %d bad" % (
        tally["creates"], tally["unlinks"], tally["listings"], n_survivors, tally["bad listings"])
    return summary, problems


@needs("mount", "readdir returns each entry that exists throughout exactly once")
def test_readdir_while_siblings_churn(ctx):
    """Listings while 2 processes create/unlink between 200 permanent names: each of those once."""
    on_both(ctx, churn_scenario)
