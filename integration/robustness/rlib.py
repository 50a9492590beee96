"""Helpers of the robustness tests, on top of integration/support.py (the shared mount machinery).

What this adds: a mount attempt that may be refused (damaged databases), a probe that a mount
still answers without ever blocking the runner (a wedged daemon is killed so blocked syscalls
return), `holtfs check` with a timeout, running a function as another user, a tmpfs mount that is
always unmounted, and the `needs` marker each test carries so a failure says what it needed.

Rules kept everywhere: every wait has a deadline and polls or blocks on an event, never sleeps a
fixed time; every cleanup is registered before the thing it undoes, and each cleanup step may fail.
"""
import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # integration/, for support.py

import support  # noqa: E402
from support import TestFailure, check, fail, is_mounted, poll_until, tail  # noqa: E402,F401

# HOLT_EXPECT_PERSISTENCE=0 (as for integration/run.sh): the engine keeps nothing across a close
# yet, so steps after a remount are skipped and tests that need persistence report XFAIL.
EXPECT_PERSISTENCE = os.environ.get("HOLT_EXPECT_PERSISTENCE", "1") != "0"
CHECK_TIMEOUT = 120.0   # seconds `holtfs check` may take before it counts as a hang
ANSWER_TIMEOUT = 15.0   # seconds a stat of the mount root may take before the daemon counts as wedged
FUSE_TYPE = "fuse.holtfs"


def needs(*what):
    """Marks a test with what it needs to pass; the runner prints it with every failure."""
    def mark(fn):
        fn.needs = what
        return fn
    return mark


def ename(code):
    """errno number -> its symbolic name (ENOSPC), for messages."""
    if code is None:
        return "success"
    return errno.errorcode.get(code, str(code))


def status_text(code):
    """A Popen returncode in words: 'status 1' or 'signal 11 (SIGSEGV)'."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return "signal %d (%s)" % (-code, signal.Signals(-code).name)
        except ValueError:
            return "signal %d" % -code
    return "status %d" % code


def errno_of(fn, *args, **kwargs):
    """Calls fn; returns None on success or the OSError's errno (compared as numbers, never text)."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e.errno
    return None


def expect_errno(want, fn, *args, what=None):
    """fn(*args) must fail with errno `want` (an int or a tuple of acceptable ints)."""
    got = errno_of(fn, *args)
    wants = want if isinstance(want, tuple) else (want,)
    check(got in wants, "%s: got %s, expected %s" % (
        what or getattr(fn, "__name__", repr(fn)), ename(got), "|".join(ename(w) for w in wants)))


class Context(support.Context):
    """support.Context plus what the robustness tests share: the daemons it started (for the
    watchdog), the seed, and whether this is a --long run."""

    def __init__(self, holtfs, seed, long_run):
        super().__init__(holtfs)
        self.procs = []
        self.seed = seed
        self.long = long_run
        self.persistent = EXPECT_PERSISTENCE

    def remount_checks(self):
        """Whether to run the checks after a remount; with HOLT_EXPECT_PERSISTENCE=0 (an engine that
        keeps nothing across a close) they are skipped and the test says so in a note."""
        if not self.persistent:
            self.notes.append("the checks after a remount were skipped (HOLT_EXPECT_PERSISTENCE=0)")
        return self.persistent


class Refused(Exception):
    """`holtfs mount` exited before the mount appeared; carries its status and stderr lines."""

    def __init__(self, returncode, lines, log):
        super().__init__("exited with %s" % status_text(returncode))
        self.returncode, self.lines, self.log = returncode, lines, log

    def describe(self):
        return "holtfs mount exited with %s before the mount appeared; stderr: %r\n%s" % (
            status_text(self.returncode), self.lines[-5:], tail(self.log))


class Mount(support.Mount):
    """A foreground holtfs daemon started by this runner (support.Mount plus liveness probes)."""

    def alive(self):
        return self.proc.poll() is None

    def answers(self, what="", timeout=ANSWER_TIMEOUT):
        """The daemon is up and a stat + readdir of the root returns within `timeout`.

        The probe runs in a thread; if it does not return, the daemon is killed (so the blocked
        syscall returns ENOTCONN) and the test fails as wedged.
        """
        where = (" after " + what) if what else ""
        if self.proc.poll() is not None:
            fail("the daemon died%s: %s%s" % (where, status_text(self.proc.returncode), self.log_tail()))
        result = {}

        def probe():
            try:
                os.stat(self.mnt)
                os.listdir(self.mnt)
                result["ok"] = True
            except OSError as e:
                result["errno"] = e.errno
        t = threading.Thread(target=probe, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            stacks = daemon_stacks(self.proc.pid)
            self.proc.kill()
            fail("the mount is wedged%s: stat/readdir of the root did not return in %.0f s "
                 "(daemon killed)%s%s" % (where, timeout, stacks, self.log_tail()))
        if self.proc.poll() is not None:
            fail("the daemon died%s: %s%s" % (where, status_text(self.proc.returncode), self.log_tail()))
        check("ok" in result, "the mount root fails%s: %s" % (where, ename(result.get("errno"))))

    def kill9(self):
        """SIGKILL the daemon, lazily unmount (each step may fail) and reap it."""
        try:
            self.proc.kill()
        except OSError:
            pass
        subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True, timeout=30)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            fail("daemon pid %d did not die within 30 s of SIGKILL" % self.proc.pid)
        poll_until(lambda: not is_mounted(self.mnt), 30, "%s to leave the mount table" % self.mnt)

    def stop(self):
        """Clean unmount: `holtfs umount MNT`, then the daemon must exit 0 (support.Mount.umount)."""
        self.umount(via_command=True)


def daemon_stacks(pid, limit=40):
    """The kernel stacks of the daemon's threads (root only), to tell where a wedged daemon waits."""
    out = []
    try:
        for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int)[:limit]:
            try:
                with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                    comm = f.read().strip()
                with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                    wchan = f.read().strip()
                out.append("%s(%s):%s" % (tid, comm, wchan or "-"))
            except OSError:
                pass
    except OSError:
        return ""
    return "\n  daemon threads (tid(comm):wchan): " + " ".join(out) if out else ""


def _register_cleanup(ctx, mnt, proc_ref):
    """Lazy unmount, then kill and reap the daemon; registered before the daemon starts."""
    def cleanup():
        subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True, timeout=30)
        proc = proc_ref[0]
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    ctx.on_cleanup(cleanup)


def start_mount(ctx, db, mnt, args=(), name="m", deadline=support.MOUNT_DEADLINE):
    """Starts `holtfs mount -f --log LOG ARGS DB MNT` as a child of the runner.

    Returns a Mount once MNT is a fuse.holtfs mount, or raises Refused if the daemon exits first.
    The child gets PR_SET_PDEATHSIG=SIGKILL; the cleanup is registered before it starts.
    """
    log = os.path.join(ctx.root, "%s.%d.log" % (name, len(ctx._cleanups)))
    errlog = log + ".stderr"
    proc_ref = [None]
    _register_cleanup(ctx, mnt, proc_ref)
    with open(errlog, "ab") as out:
        proc = subprocess.Popen([ctx.holtfs, "mount", "-f", "--log", log, *args, db, mnt],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                preexec_fn=support._die_with_parent)
    proc_ref[0] = proc
    ctx.procs.append(proc)
    m = Mount(ctx, db, mnt, log, proc)

    def ready():
        if is_mounted(mnt, FUSE_TYPE):
            return True
        if proc.poll() is not None:
            with open(errlog, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            raise Refused(proc.returncode, lines, log)
        return False
    poll_until(ready, deadline, "the mount at " + mnt, m.log_tail)
    return m


def mount(ctx, db, mnt, args=(), name="m"):
    """start_mount that fails the test (with the daemon's own words) when the mount is refused."""
    try:
        return start_mount(ctx, db, mnt, args, name)
    except Refused as r:
        fail(r.describe())


def run_check(ctx, db, timeout=CHECK_TIMEOUT):
    """Runs `holtfs check DB` with a timeout; fails the test on a hang. Returns CompletedProcess."""
    try:
        r = subprocess.run([ctx.holtfs, "check", db], capture_output=True, timeout=timeout,
                           preexec_fn=support._die_with_parent)
    except subprocess.TimeoutExpired:
        fail("holtfs check %s hung: no exit within %.0f s" % (db, timeout))
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def check_clean(ctx, db, when):
    """`holtfs check DB` must exit 0."""
    r = run_check(ctx, db)
    check(r.returncode == 0, "holtfs check %s: %s, expected status 0\n%s%s" % (
        when, status_text(r.returncode), r.stdout[-2000:], r.stderr[-2000:]))


def as_user(uid, gid, fn, timeout=30.0):
    """Runs fn() in a forked child with no supplementary groups, gid `gid`, uid `uid`.

    Returns what fn returned (JSON-able), or ("errno", N) if fn raised OSError. The child never
    returns into the runner: it always ends with os._exit.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            try:
                value = fn()
            except OSError as e:
                value = ["errno", e.errno]
            data = json.dumps(["ok", value]).encode()
        except BaseException as e:  # noqa: B902 - the child must report anything and exit
            data = json.dumps(["crash", repr(e)]).encode()
        try:
            os.write(w, data)
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    end = time.monotonic() + timeout
    import select
    try:
        while True:
            left = end - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                fail("as_user(%d): no answer within %.0f s" % (uid, timeout))
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            chunk = os.read(r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    kind, value = json.loads(b"".join(chunks) or b'["crash", "no output"]')
    if kind != "ok":
        fail("as_user(%d) child crashed: %s" % (uid, value))
    if isinstance(value, list) and len(value) == 2 and value[0] == "errno":
        return ("errno", value[1])
    return value


def user_errno(uid, gid, fn):
    """The errno fn() fails with as that user, or None if it succeeds."""
    def wrapped():
        fn()
        return None
    v = as_user(uid, gid, wrapped)
    if isinstance(v, tuple):
        return v[1]
    return None


def tmpfs(ctx, name, size):
    """Mounts a tmpfs of `size` (e.g. '8m') on a fresh dir, unmounted at cleanup (registered first)."""
    d = ctx.dir(name)

    def cleanup():
        subprocess.run(["umount", "-l", d], capture_output=True, timeout=30)
    ctx.on_cleanup(cleanup)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", d],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "mount -t tmpfs: %s" % r.stderr.strip())
    return d


class Watchdog:
    """Ends a test that runs past its deadline: kills the test's daemons so blocked syscalls return.

    The test then fails with whatever its syscalls answered; the runner adds that it timed out.
    """

    def __init__(self, ctx, seconds):
        self.ctx, self.seconds, self.fired = ctx, seconds, False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self):
        self.fired = True
        for proc in list(self.ctx.procs):
            if proc.poll() is None:
                self.ctx.notes.append("watchdog: daemon threads at timeout:" + daemon_stacks(proc.pid))
                try:
                    proc.kill()
                except OSError:
                    pass

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        return False


def pr_set_pdeathsig():
    """preexec_fn for helper subprocesses (writers, workloads): die with the runner."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
