"""Core of the holt POSIX conformance suite (stdlib only).

Every case runs with the current directory set to its own fresh
subdirectory of the run root (mode 0755, owned by root), so all paths used
by cases are relative.  Each check a case makes prints one output line.
"""
import ctypes
import ctypes.util
import errno
import os
import pickle
import shutil
import stat
import sys
import time
import traceback

# ---------------------------------------------------------------- users
U1, G1 = 65534, 65534          # "nobody"
U2, G2 = 65533, 65533          # a second unprivileged user
G3 = 65532                     # an extra group

# ---------------------------------------------------------------- constants
OLD = 1_000_000_000 * 10**9     # an old timestamp (2001-09-09), in ns
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
XATTR_CREATE = getattr(os, "XATTR_CREATE", 1)
XATTR_REPLACE = getattr(os, "XATTR_REPLACE", 2)
CLOCK_REALTIME_COARSE = 5

NAME_MAX = 255
PATH_MAX = 4096

TYPES = ("reg", "dir", "fifo", "symlink", "sock", "chr", "blk")
NONDIR_TYPES = ("reg", "fifo", "symlink", "sock", "chr", "blk")

# ---------------------------------------------------------------- ctypes
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _check(rc):
    if rc < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rc


def renameat2(old, new, flags=0, olddirfd=AT_FDCWD, newdirfd=AT_FDCWD):
    """renameat2(2) through libc, falling back to the raw syscall (316 on x86_64)."""
    o, n = os.fsencode(old), os.fsencode(new)
    fn = getattr(_libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        return _check(fn(olddirfd, o, newdirfd, n, flags))
    _libc.syscall.restype = ctypes.c_long
    return _check(_libc.syscall(ctypes.c_long(316), ctypes.c_int(olddirfd), o,
                                ctypes.c_int(newdirfd), n, ctypes.c_uint(flags)))


def linkat(old, new, flags=0, olddirfd=AT_FDCWD, newdirfd=AT_FDCWD):
    fn = _libc.linkat
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    return _check(fn(olddirfd, os.fsencode(old), newdirfd, os.fsencode(new), flags))


AT_SYMLINK_FOLLOW = 0x400


def utimensat(path, atime_ns, mtime_ns, flags=0, dirfd=AT_FDCWD):
    """utimensat(2) with raw (sec, nsec) values; pass UTIME_NOW/UTIME_OMIT as nsec
    by giving a tuple (0, UTIME_NOW).  atime/mtime may be ints (ns) or tuples.
    times=None -> pass NULL."""
    fn = _libc.utimensat
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    if atime_ns is None and mtime_ns is None:
        arr = None
    else:
        def ts(v):
            if isinstance(v, tuple):
                return _Timespec(v[0], v[1])
            return _Timespec(v // 10**9, v % 10**9)
        arr = (_Timespec * 2)(ts(atime_ns), ts(mtime_ns))
    p = None if path is None else os.fsencode(path)
    return _check(fn(dirfd, p, ctypes.cast(arr, ctypes.c_void_p) if arr is not None else None, flags))


def futimens(fd, atime, mtime):
    """futimens(3); atime/mtime as for utimensat (glibc utimensat rejects a NULL path)."""
    def ts(v):
        return _Timespec(v[0], v[1]) if isinstance(v, tuple) else _Timespec(v // 10**9, v % 10**9)
    arr = (_Timespec * 2)(ts(atime), ts(mtime))
    fn = _libc.futimens
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p]
    return _check(fn(fd, ctypes.cast(arr, ctypes.c_void_p)))


def lgetxattr_size(path, name, bufsize):
    """lgetxattr(2) with a caller-chosen buffer size; returns the length."""
    fn = _libc.lgetxattr
    fn.restype = ctypes.c_ssize_t
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    buf = ctypes.create_string_buffer(max(bufsize, 1))
    return _check(fn(os.fsencode(path), os.fsencode(name), buf if bufsize else None, bufsize))


def llistxattr_size(path, bufsize):
    fn = _libc.llistxattr
    fn.restype = ctypes.c_ssize_t
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    buf = ctypes.create_string_buffer(max(bufsize, 1))
    return _check(fn(os.fsencode(path), buf if bufsize else None, bufsize))


# ---------------------------------------------------------------- helpers
def ename(e):
    if e == 0:
        return "0"
    return errno.errorcode.get(e, str(e))


def err(fn, *a, **kw):
    """Call fn; return 0 on success or the errno it failed with."""
    try:
        r = fn(*a, **kw)
        if isinstance(r, int) and fn in (os.open,):
            os.close(r)
        return 0
    except OSError as e:
        return e.errno


def open_close(path, flags, mode=0o644, **kw):
    fd = os.open(path, flags, mode, **kw)
    os.close(fd)


def make(kind, path, mode=None, target="none"):
    """Create a node of the given kind at path (relative to cwd)."""
    if kind == "reg":
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644 if mode is None else mode)
        os.close(fd)
    elif kind == "dir":
        os.mkdir(path, 0o755 if mode is None else mode)
    elif kind == "fifo":
        os.mkfifo(path, 0o644 if mode is None else mode)
    elif kind == "symlink":
        os.symlink(target, path)
        return
    elif kind == "sock":
        os.mknod(path, stat.S_IFSOCK | (0o644 if mode is None else mode))
    elif kind == "chr":
        os.mknod(path, stat.S_IFCHR | (0o644 if mode is None else mode), os.makedev(1, 3))
    elif kind == "blk":
        os.mknod(path, stat.S_IFBLK | (0o644 if mode is None else mode), os.makedev(7, 200))
    else:
        raise ValueError(kind)
    if mode is not None:
        os.chmod(path, mode)


FMT = {"reg": stat.S_IFREG, "dir": stat.S_IFDIR, "fifo": stat.S_IFIFO, "symlink": stat.S_IFLNK,
       "sock": stat.S_IFSOCK, "chr": stat.S_IFCHR, "blk": stat.S_IFBLK}


def kind_of(st):
    f = stat.S_IFMT(st.st_mode)
    for k, v in FMT.items():
        if v == f:
            return k
    return "?"


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def age(path):
    """Set atime and mtime of path (not following symlinks) to OLD."""
    os.utime(path, ns=(OLD, OLD), follow_symlinks=False)


def now_ns():
    return max(time.time_ns(), time.clock_gettime_ns(CLOCK_REALTIME_COARSE))


def tick(ns):
    """Busy-wait (no sleep) until the fine realtime clock is 1 ms past ns and the
    coarse one (used by many kernel filesystems) is past ns, so that a later
    timestamp update is observable even on a filesystem that keeps only
    millisecond precision.  Bounded to 50 ms."""
    deadline = time.monotonic() + 0.05
    while (time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= ns or time.time_ns() <= ns + 1_000_000) \
            and time.monotonic() < deadline:
        pass


def long_path(total, comp=200):
    """Return (dirs, last): nested directory names and a last component such that
    '/'.join(dirs + [last]) has exactly `total` bytes."""
    dirs = []
    n = 0
    while total - n > comp + 1 + 1:
        dirs.append(chr(ord("a") + len(dirs) % 26) * comp)
        n += comp + 1
    last = "z" * (total - n)
    assert len("/".join(dirs + [last])) == total, (total, len("/".join(dirs + [last])))
    assert 0 < len(last) <= NAME_MAX
    return dirs, last


def make_long_dirs(total):
    """Create the nested directories for a path of `total` bytes; return the path."""
    dirs, last = long_path(total)
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    for d in dirs:
        os.mkdir(d, 0o755, dir_fd=fd)
        nfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
    return "/".join(dirs + [last])


def as_user(uid, gid, fn, *a, groups=None, umask=None, **kw):
    """Run fn(*a, **kw) in a forked child with the given credentials.
    Returns (errno, value): errno 0 and fn's return value on success."""
    if groups is None:
        groups = [gid]
    r, w = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            if umask is not None:
                os.umask(umask)
            try:
                v = fn(*a, **kw)
                if fn is os.open:
                    os.close(v)
                    v = None
                out = (0, v)
            except OSError as e:
                out = (e.errno, None)
            data = pickle.dumps(out)
            while data:
                n = os.write(w, data)
                data = data[n:]
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        raise RuntimeError("child failed (status %r)" % status)
    return pickle.loads(b"".join(chunks))


def uerr(uid, gid, fn, *a, groups=None, **kw):
    return as_user(uid, gid, fn, *a, groups=groups, **kw)[0]


# ---------------------------------------------------------------- registry
GROUPS = {}          # name -> list of (desc, fn)


class Group:
    def __init__(self, name):
        self.name = name
        GROUPS.setdefault(name, [])

    def case(self, desc):
        def deco(fn):
            GROUPS[self.name].append((desc, fn))
            return fn
        return deco


class CaseFailed(Exception):
    pass


class T:
    """Per-case context: check helpers that each print one line."""

    def __init__(self, runner, group, desc):
        self.r = runner
        self.group = group
        self.desc = desc

    # -- core
    def ok(self, cond, what, detail=""):
        self.r.record(self.group, bool(cond), what, detail)
        return bool(cond)

    def eq(self, got, exp, what):
        good = got == exp
        return self.ok(good, what, "" if good else "expected %r got %r" % (exp, got))

    def mode_is(self, path, exp, what):
        got = mode(path)
        good = got == exp
        return self.ok(good, what, "" if good else "expected mode %04o got %04o" % (exp, got))

    def e(self, exp, what, fn, *a, **kw):
        """Expect fn(*a) to fail with errno exp (0: succeed).  exp may be a set."""
        got = err(fn, *a, **kw)
        return self._e(exp, got, what)

    def ue(self, exp, what, uid, gid, fn, *a, groups=None, **kw):
        got = uerr(uid, gid, fn, *a, groups=groups, **kw)
        return self._e(exp, got, what)

    def _e(self, exp, got, what):
        exps = exp if isinstance(exp, (set, frozenset, tuple)) else (exp,)
        good = got in exps
        return self.ok(good, what, "" if good else "expected %s got %s" % (
            "|".join(ename(x) for x in exps), ename(got)))

    def open_dir(self, path=".", m=0o777):
        os.chmod(path, m)

    # -- timestamps
    def snap(self, *paths):
        """Age each path (atime=mtime=OLD), stat them all, then wait until the
        clocks are past every ctime.  Returns {path: stat}."""
        for p in paths:
            age(p)
        b = {p: os.lstat(p) for p in paths}
        tick(max(s.st_ctime_ns for s in b.values()))
        return b

    def times(self, before, path, what, a=None, m=None, c=None, after=None):
        """Check which timestamps of path changed relative to before[path]
        (True: changed, False: unchanged, None: not checked)."""
        b = before[path] if isinstance(before, dict) else before
        s = after if after is not None else os.lstat(path)
        for key, want in (("atime", a), ("mtime", m), ("ctime", c)):
            if want is None:
                continue
            old = getattr(b, "st_%s_ns" % key)
            new = getattr(s, "st_%s_ns" % key)
            if want:
                good = new > old
                self.ok(good, "%s: %s updated" % (what, key), "" if good else "%s stayed %d" % (key, new))
            else:
                good = new == old
                self.ok(good, "%s: %s unchanged" % (what, key), "" if good else "%s %d -> %d" % (key, old, new))

    def recent(self, path, what, t0, follow=False):
        """a/m/ctime of a new node lie between t0 (taken before creation) and now."""
        s = os.stat(path) if follow else os.lstat(path)
        t1 = now_ns()
        slack = 10**9 // 50  # coarse clocks may lag fine ones by a tick
        for key in ("atime", "mtime", "ctime"):
            v = getattr(s, "st_%s_ns" % key)
            good = t0 - slack <= v <= t1 + slack
            self.ok(good, "%s: %s is current" % (what, key), "" if good else "%s=%d not in [%d,%d]" % (key, v, t0, t1))


# ---------------------------------------------------------------- runner
class Runner:
    def __init__(self, root, verbose=False, out=sys.stdout):
        self.root = root
        self.verbose = verbose
        self.out = out
        self.counts = {}
        self.seq = {}

    def record(self, group, good, what, detail=""):
        n = self.seq.get(group, 0) + 1
        self.seq[group] = n
        p, f = self.counts.get(group, (0, 0))
        self.counts[group] = (p + 1, f) if good else (p, f + 1)
        line = "%s %s/%03d %s" % ("ok  " if good else "FAIL", group, n, what)
        if not good and detail:
            if len(detail) > 400:
                detail = detail[:400] + "..."
            line += " -- " + detail
        self.out.write(line + "\n")

    def run_group(self, name):
        self.counts.setdefault(name, (0, 0))
        for i, (desc, fn) in enumerate(GROUPS[name]):
            d = os.path.join(self.root, "%s.%03d" % (name, i))
            os.mkdir(d)
            os.chmod(d, 0o755)
            os.chdir(d)
            old_umask = os.umask(0)
            try:
                fn(T(self, name, desc))
            except Exception as e:  # a case that blows up counts as one failure
                self.record(name, False, desc, "exception %s: %s" % (type(e).__name__, e))
                if self.verbose:
                    traceback.print_exc(file=self.out)
            finally:
                os.umask(old_umask)
                os.chdir(self.root)
                cleanup(d)
            self.out.flush()


def cleanup(path):
    def onerr(fn, p, exc):
        try:
            os.chmod(os.path.dirname(p) or ".", 0o755)
            fn(p)
        except OSError:
            pass
    try:
        shutil.rmtree(path, onerror=onerr)
    except OSError:
        pass
