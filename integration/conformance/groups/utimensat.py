import os

from harness import (Group, TYPES, U1, G1, U2, G2, make, utimensat, futimens, now_ns, tick,
                     UTIME_NOW, UTIME_OMIT, AT_SYMLINK_NOFOLLOW)
from common import path_errors

g = Group("utimensat")
TIMES = (0, 1, 999_999_999, 1_000_000_000 * 10**9 + 123_456_789, (2**31 - 1) * 10**9 + 999_999_999,
         2**31 * 10**9 + 1, 4_000_000_000 * 10**9 + 5, 1_234_567_890 * 10**9 + 1)


def ts(p):
    s = os.lstat(p)
    return (s.st_atime_ns, s.st_mtime_ns)


@g.case("explicit times with nanosecond precision")
def _(t):
    make("reg", "f")
    for a in TIMES:
        m = TIMES[(TIMES.index(a) + 3) % len(TIMES)]
        os.utime("f", ns=(a, m))
        t.eq(ts("f"), (a, m), "utimensat atime=%d mtime=%d ns" % (a, m))


@g.case("every file type, without following symlinks")
def _(t):
    for k in TYPES:
        make(k, k, target="dir")
        os.utime(k, ns=(OLD1, OLD2), follow_symlinks=False)
        t.eq(ts(k), (OLD1, OLD2), "utimensat AT_SYMLINK_NOFOLLOW on %s" % k)
    os.utime("symlink", ns=(OLD2, OLD1))
    # following the link may legitimately update the link's own atime (relatime), so
    # only its mtime is compared
    t.eq((ts("dir"), ts("symlink")[1]), ((OLD2, OLD1), OLD2), "utimensat follows a symlink by default")


OLD1 = 1_100_000_000 * 10**9 + 1
OLD2 = 1_200_000_000 * 10**9 + 2


@g.case("UTIME_NOW and UTIME_OMIT")
def _(t):
    make("reg", "f")
    for an, mn, what in (((0, UTIME_NOW), (0, UTIME_NOW), "both UTIME_NOW"),
                         ((0, UTIME_NOW), (0, UTIME_OMIT), "atime NOW, mtime OMIT"),
                         ((0, UTIME_OMIT), (0, UTIME_NOW), "atime OMIT, mtime NOW"),
                         ((0, UTIME_OMIT), (0, UTIME_OMIT), "both UTIME_OMIT"),
                         ((5, 6), (0, UTIME_OMIT), "explicit atime, mtime OMIT"),
                         ((0, UTIME_OMIT), (7, 8), "atime OMIT, explicit mtime"),
                         ((9, 10), (0, UTIME_NOW), "explicit atime, mtime NOW"),
                         (None, None, "NULL times")):
        os.utime("f", ns=(OLD1, OLD2))
        c0 = os.lstat("f").st_ctime_ns
        tick(c0)
        t0 = now_ns()
        if an is None:
            utimensat("f", None, None)
        else:
            utimensat("f", an, mn)
        s = os.lstat("f")
        t1 = now_ns()

        def exp(spec, old):
            if spec is None or spec[1] == UTIME_NOW:
                return "now"
            if spec[1] == UTIME_OMIT:
                return old
            return spec[0] * 10**9 + spec[1]
        for key, spec, old, got in (("atime", an, OLD1, s.st_atime_ns), ("mtime", mn, OLD2, s.st_mtime_ns)):
            e = exp(spec, old)
            good = (t0 - 10**9 // 50 <= got <= t1 + 10**9 // 50) if e == "now" else got == e
            t.ok(good, "%s: %s %s" % (what, key, "is now" if e == "now" else "is %d" % e), "got %d" % got)
        both_omit = an is not None and an[1] == UTIME_OMIT and mn[1] == UTIME_OMIT
        if both_omit:
            t.eq(s.st_ctime_ns, c0, "%s: ctime unchanged" % what)
        else:
            t.ok(s.st_ctime_ns > c0, "%s: ctime updated" % what)
    t.e(22, "tv_nsec = 10**9 EINVAL", utimensat, "f", (0, 10**9), (0, 0))
    t.e(22, "tv_nsec = -1 EINVAL", utimensat, "f", (0, 0), (0, -1))
    t.e(22, "unknown flags EINVAL", utimensat, "f", (0, 0), (0, 0), 0x8000)
    fd = os.open("f", os.O_RDONLY)
    futimens(fd, (12, 34), (56, 78))
    t.eq(ts("f"), (12 * 10**9 + 34, 56 * 10**9 + 78), "futimens on an open fd")
    os.close(fd)
    t.e(9, "futimens on a closed fd EBADF", futimens, fd, (0, 0), (0, 0))


@g.case("utimensat does not touch the parent")
def _(t):
    os.mkdir("p", 0o755)
    for k in TYPES:
        make(k, "p/" + k, target="x")
        b = t.snap("p")
        os.utime("p/" + k, ns=(OLD1, OLD2), follow_symlinks=False)
        t.times(b, "p", "utimensat %s: parent" % k, m=False, c=False)


@g.case("utimensat permissions")
def _(t):
    t.open_dir()
    cases = (
        # owner, mode, caller, times, expected, what
        (U1, 0o644, U1, "explicit", 0, "owner sets explicit times"),
        (U1, 0o444, U1, "now", 0, "owner sets now without write permission"),
        (U1, 0o000, U1, "explicit", 0, "owner of a mode 0000 file sets explicit times"),
        (0, 0o666, U1, "explicit", 1, "non-owner with write permission, explicit times EPERM"),
        (0, 0o666, U1, "now", 0, "non-owner with write permission sets now"),
        (0, 0o666, U1, "NULL", 0, "non-owner with write permission, NULL times"),
        (0, 0o644, U1, "now", 13, "non-owner without write permission, now EACCES"),
        (0, 0o644, U1, "NULL", 13, "non-owner without write permission, NULL times EACCES"),
        (0, 0o644, U1, "explicit", 1, "non-owner without write permission, explicit times EPERM"),
        (0, 0o666, U1, "now+omit", 1, "non-owner, atime NOW + mtime OMIT EPERM"),
        (0, 0o666, U1, "explicit+now", 1, "non-owner, explicit atime + mtime NOW EPERM"),
        (U2, 0o666, U1, "explicit", 1, "other user's file, explicit EPERM"),
        (U2, 0o606, U1, "now", 0, "other user's 0606 file, now ok"),
        (U2, 0o660, U1, "now", 13, "other user's 0660 file, now EACCES"),
    )
    spec = {"explicit": ((1, 2), (3, 4)), "now": ((0, UTIME_NOW), (0, UTIME_NOW)), "NULL": (None, None),
            "now+omit": ((0, UTIME_NOW), (0, UTIME_OMIT)), "explicit+now": ((1, 2), (0, UTIME_NOW))}
    for i, (own, m, caller, kind, exp, what) in enumerate(cases):
        n = "f%02d" % i
        make("reg", n, m)
        os.chown(n, own, own)
        a, mm = spec[kind]
        t.ue(exp, what, caller, caller, utimensat, n, a, mm)
    make("reg", "rootany", 0o000)
    os.chown("rootany", U1, G1)
    t.e(0, "root sets explicit times on another user's 0000 file", utimensat, "rootany", (1, 2), (3, 4))


@g.case("path resolution errors")
def _(t):
    path_errors(t, "utimensat", lambda p: utimensat(p, (0, UTIME_NOW), (0, UTIME_NOW)),
                prep=lambda p: make("reg", p, 0o666))
