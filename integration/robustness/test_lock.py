"""A database has one mounter: a second `holtfs mount` of a database in use fails at once with a
one-line reason, in daemon and in foreground mode, and the first mount keeps working.
"""
import os
import subprocess
import time

import rlib
import support
from rlib import check, needs


def one_line_refusal(r, what):
    lines = r.stderr.decode("utf-8", "replace").splitlines() if isinstance(r.stderr, bytes) else r.stderr.splitlines()
    check(r.returncode not in (0, None), "%s succeeded; expected a refusal" % what)
    check(r.returncode > 0, "%s died of %s" % (what, rlib.status_text(r.returncode)))
    check(len(lines) == 1 and lines[0].startswith("holtfs: "),
          "%s: expected one line 'holtfs: ...' on stderr, got %r" % (what, lines))
    return lines[0]


@needs("mount", "the database lock")
def test_second_mount_fails_at_once(ctx):
    """While DB is mounted, `holtfs mount DB OTHER` (daemon and -f) exits non-zero in < 10 s."""
    db, mnt = ctx.path("lock.db"), ctx.dir("lock.mnt")
    m = rlib.mount(ctx, db, mnt, name="first")
    with open(os.path.join(mnt, "keep"), "wb") as f:
        f.write(b"first mount")
    other = ctx.dir("other.mnt")
    for args in ([], ["-f"]):
        what = "holtfs mount %s(second mount of a database in use)" % ("".join(a + " " for a in args))
        # Registered first: if the second mount wrongly succeeds, it is taken down again.
        ctx.on_cleanup(lambda: subprocess.run(["fusermount3", "-u", "-z", other], capture_output=True))
        start = time.monotonic()
        try:
            r = subprocess.run([ctx.holtfs, "mount", *args, db, other], capture_output=True, timeout=30,
                               stdin=subprocess.DEVNULL, preexec_fn=support._die_with_parent)
        except subprocess.TimeoutExpired:
            rlib.fail("%s did not return within 30 s" % what)
        elapsed = time.monotonic() - start
        line = one_line_refusal(r, what)
        check(elapsed < 10, "%s took %.1f s to fail: %r" % (what, elapsed, line))
        check(not rlib.is_mounted(other), "%s left %s mounted" % (what, other))
        m.answers(what)
        with open(os.path.join(mnt, "keep"), "rb") as f:
            check(f.read() == b"first mount", "the first mount lost its file after " + what)
        with open(os.path.join(mnt, "after%d" % len(args)), "wb") as f:
            f.write(b"written after the refusal")
    check(sorted(os.listdir(mnt)) == ["after0", "after1", "keep"], "first mount lists %r" % os.listdir(mnt))
    m.stop()
