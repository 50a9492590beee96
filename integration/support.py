"""Shared machinery for holtfs integration tests: temp dirs, mounts that always get cleaned up,
polling with deadlines (never fixed sleeps), daemon log tails on failure, errno comparisons.

Every mount registers its cleanup (lazy unmount, then kill) before it starts, so a failing test
never leaves a mount or a daemon behind; foreground daemons also get PR_SET_PDEATHSIG=SIGKILL so
they die with the runner.
"""
import ctypes
import errno
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)

# Whether the engine keeps data across close/open (the on-disk engine). While it is the in-memory
# stand-in, run with HOLT_EXPECT_PERSISTENCE=0: persistence tests then report XFAIL, not FAIL.
EXPECT_PERSISTENCE = os.environ.get("HOLT_EXPECT_PERSISTENCE", "1") != "0"

MOUNT_DEADLINE = 20.0   # seconds for a mount to appear
EXIT_DEADLINE = 30.0    # seconds for a daemon to exit after an unmount


class TestFailure(AssertionError):
    """A test's expectation did not hold; the message says which and shows the evidence."""


class Skipped(Exception):
    """Raised by a test that cannot run here (its suite is absent, or switched off)."""


class ExpectedFailure(Exception):
    """Raised by tests that depend on something not built yet (see EXPECT_PERSISTENCE)."""


def needs_persistence(fn):
    """Marks a test that can pass only once the engine keeps data on disk."""
    fn.needs_persistence = True
    return fn


def fail(message):
    raise TestFailure(message)


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the runner dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _unescape_mountinfo(field):
    """Undoes the kernel's octal escapes in mountinfo (`\\040` is a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mountinfo():
    """[(mountpoint, fstype, source)] from /proc/self/mountinfo, octal escapes decoded."""
    entries = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.decode("utf-8", "surrogateescape").rstrip("\n").split(" ")
            dash = fields.index("-")
            entries.append((_unescape_mountinfo(fields[4]), fields[dash + 1], _unescape_mountinfo(fields[dash + 2])))
    return entries


def mount_options(path):
    """The per-mount options (`rw,nosuid,nodev,relatime`) of the topmost mount at path, as a set."""
    path = os.path.abspath(path)
    found = None
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields = line.decode("utf-8", "surrogateescape").rstrip("\n").split(" ")
            if _unescape_mountinfo(fields[4]) == path:
                found = set(fields[5].split(","))
    return found


def is_mounted(path, fstype=None):
    path = os.path.abspath(path)
    return any(mp == path and (fstype is None or t == fstype) for mp, t, _ in mountinfo())


def poll_until(condition, deadline_s, what, on_timeout=None, interval=0.005):
    """Calls condition() until it returns a truthy value or deadline_s passes (then fails)."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            extra = on_timeout() if on_timeout else ""
            fail("timed out after %.0f s waiting for %s%s" % (deadline_s, what, extra))
        time.sleep(interval)


def tail(path, lines=25):
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("    | " + line for line in data[-lines:])
    except OSError as e:
        return "    | (no log at %s: %s)" % (path, errno.errorcode.get(e.errno, e.errno))


def run(argv, cwd=None, timeout=60, input=None, env=None):
    """Runs argv, returns CompletedProcess with text stdout/stderr; never raises on exit status."""
    return subprocess.run(argv, cwd=cwd, timeout=timeout, input=input, capture_output=True, text=True,
                          env=env, errors="replace")


def expect_errno(err, fn, *args, **kwargs):
    """Calls fn and checks it raises OSError with errno `err` (compared as a number, not text)."""
    try:
        fn(*args, **kwargs)
    except OSError as e:
        check(e.errno == err, "%s%r: errno %s, expected %s" % (
            getattr(fn, "__name__", fn), args, errno.errorcode.get(e.errno, e.errno), errno.errorcode[err]))
        return
    fail("%s%r succeeded, expected %s" % (getattr(fn, "__name__", fn), args, errno.errorcode[err]))


class Mount:
    """A holtfs daemon serving `db` at `mnt` (foreground child of the runner, or a real daemon)."""

    def __init__(self, ctx, db, mnt, log, proc=None):
        self.ctx, self.db, self.mnt, self.log, self.proc = ctx, db, mnt, log, proc

    def daemon_pid(self):
        if self.proc is not None:
            return self.proc.pid
        return read_lock_file(self.db).get("pid")

    def log_tail(self):
        return "\n  daemon log %s:\n%s" % (self.log, tail(self.log))

    def umount(self, via_command=True):
        """Unmounts (by `holtfs umount`, or `fusermount3 -u`) and waits for the daemon to exit 0."""
        if via_command:
            r = run([self.ctx.holtfs, "umount", self.mnt])
            check(r.returncode == 0, "holtfs umount %s: exit %d: %s%s" % (
                self.mnt, r.returncode, r.stderr.strip(), self.log_tail()))
        else:
            r = run(["fusermount3", "-u", self.mnt])
            check(r.returncode == 0, "fusermount3 -u: %s" % r.stderr.strip())
        self.wait_exit()
        check(not is_mounted(self.mnt), "%s still mounted after unmount" % self.mnt)

    def wait_exit(self, expect_status=0):
        if self.proc is None:
            poll_until(lambda: not lock_held(self.db), EXIT_DEADLINE, "the daemon to release " + self.db,
                       self.log_tail)
            return None
        try:
            status = self.proc.wait(timeout=EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            fail("daemon pid %d did not exit within %.0f s%s" % (self.proc.pid, EXIT_DEADLINE, self.log_tail()))
        if expect_status is not None:
            check(status == expect_status, "daemon exited with %d, expected %d%s" % (
                status, expect_status, self.log_tail()))
        return status


def read_lock_file(db):
    try:
        with open(os.path.join(db, "holtfs.pid")) as f:
            return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
    except OSError:
        return {}


def lock_held(db):
    """Whether some process holds DB/holtfs.pid's flock (the daemon is still running)."""
    import fcntl
    try:
        fd = os.open(os.path.join(db, "holtfs.pid"), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class Context:
    """Per-test resources: temp dirs and mounts, released in reverse order whatever happens."""

    def __init__(self, holtfs):
        self.holtfs = holtfs
        self._cleanups = []
        self.notes = []
        self.kill_on_timeout = []   # callables that kill this test's daemons (see runner's alarm)
        self.root = tempfile.mkdtemp(prefix="holtfs-it-")
        os.chmod(self.root, 0o755)
        self.on_cleanup(lambda: shutil.rmtree(self.root, ignore_errors=True))

    def on_cleanup(self, fn):
        self._cleanups.append(fn)

    def cleanup(self):
        while self._cleanups:
            fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # each step is allowed to fail
                self.notes.append("cleanup: %r" % e)

    def path(self, name):
        return os.path.join(self.root, name)

    def dir(self, name):
        p = self.path(name)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o755)
        return p

    def _register_mount_cleanup(self, mnt, db, proc_ref):
        def kill():
            proc = proc_ref[0]
            if proc is not None and proc.poll() is None:
                proc.kill()
            pid = read_lock_file(db).get("pid")
            if proc is None and pid and lock_held(db):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        self.kill_on_timeout.append(kill)

        def cleanup():
            subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
            proc = proc_ref[0]
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=10)
            else:
                # a real daemon started by this test: kill it by the pid it recorded, if it still runs
                pid = read_lock_file(db).get("pid")
                if pid and lock_held(db):
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
        self.on_cleanup(cleanup)

    def mount(self, db=None, mnt=None, args=(), name="m"):
        """Starts `holtfs mount -f DB MNT` as a child and returns once MNT is a holtfs mount."""
        db = db or self.path(name + ".db")
        mnt = mnt or self.dir(name + ".mnt")
        log = os.path.join(self.root, name + ".log")
        proc_ref = [None]
        self._register_mount_cleanup(mnt, db, proc_ref)
        out = open(log + ".stderr", "ab")
        proc = subprocess.Popen([self.holtfs, "mount", "-f", "--log", log, *args, db, mnt],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=_die_with_parent)
        out.close()
        proc_ref[0] = proc
        m = Mount(self, db, mnt, log, proc)

        def ready():
            # Mounted, and the daemon has registered it (DB/holtfs.pid says so after registering).
            if is_mounted(mnt, "fuse.holtfs") and read_lock_file(db).get("state") == "mounted":
                return True
            if proc.poll() is not None:
                fail("holtfs mount -f exited with %d before the mount appeared\n  stderr:\n%s%s" % (
                    proc.returncode, tail(log + ".stderr"), m.log_tail()))
            return False
        poll_until(ready, MOUNT_DEADLINE, "the mount at " + mnt, m.log_tail)
        return m

    def mount_daemon(self, db=None, mnt=None, args=(), name="d"):
        """Runs `holtfs mount DB MNT` (daemon mode); returns (CompletedProcess, Mount)."""
        db = db or self.path(name + ".db")
        mnt = mnt or self.dir(name + ".mnt")
        self._register_mount_cleanup(mnt, db, [None])
        r = run([self.holtfs, "mount", *args, db, mnt])
        return r, Mount(self, db, mnt, os.path.join(db, "holtfs.log"))
