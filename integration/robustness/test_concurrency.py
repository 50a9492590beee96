"""Concurrency: 8 threads of mixed namespace ops on one mount, each in its own subtree with an
in-memory oracle, plus cross-thread renames between subtrees in both directions (workload.py).
Nothing may be lost and nothing may deadlock: the workload runs in a subprocess with a deadline,
and on a timeout it reports what every thread was stuck in. The final tree must equal the union of
the oracles, before and after a clean unmount, `holtfs check` and a remount.
"""
import json
import os
import signal
import subprocess
import sys

import model
import rlib
from rlib import check, fail, needs

WORKLOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workload.py")
THREADS = 8


def load_oracle(path):
    with open(path) as f:
        data = json.load(f)
    oracle = {}
    for p, (kind, content, xa) in data["oracle"].items():
        xattrs = {k: model.unb64(v) for k, v in xa.items()}
        oracle[model.dec(p)] = ("d", xattrs) if kind == "d" else ("f", model.unb64(content), xattrs)
    return oracle, data


@needs("mount", "a multi-threaded daemon without deadlocks", "clean unmount", "remount")
def test_eight_threads_mixed_ops(ctx):
    """8 threads x 400 ops (--long: 4000) of mixed ops and cross-subtree renames; compare with the oracles."""
    ops = 4000 if ctx.long else 400
    timeout = 1200 if ctx.long else 120
    db, mnt = ctx.path("conc.db"), ctx.dir("conc.mnt")
    m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="conc")
    out = ctx.path("workload.json")
    proc = subprocess.Popen([sys.executable, WORKLOAD, mnt, str(ctx.seed), str(THREADS), str(ops), out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=rlib.pr_set_pdeathsig)
    ctx.on_cleanup(lambda: proc.poll() is None and proc.kill())
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stacks = rlib.daemon_stacks(m.proc.pid)
        proc.send_signal(signal.SIGUSR1)
        try:
            stdout, stderr = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate(timeout=30)
        fail("deadlock? the workload did not finish within %d s; ops in flight:\n  %s%s%s" % (
            timeout, stderr.decode("utf-8", "replace").strip().replace("\n", "\n  "), stacks, m.log_tail()))
    err = stderr.decode("utf-8", "replace")
    check(proc.returncode == 0, "workload.py: %s\n%s" % (rlib.status_text(proc.returncode), err[-3000:]))
    oracle, data = load_oracle(out)
    m.answers("the workload")
    check(not data["errors"], "%d threads failed:\n  %s%s" % (
        len(data["errors"]), "\n  ".join(data["errors"]), m.log_tail()))
    ctx.notes.append("%d ops in %d threads, slowest op %.2f s, %d nodes at the end" % (
        data["ops"], THREADS, data["max_op_s"], len(oracle)))
    for when in ("after the workload", "after a clean unmount and a remount"):
        if when != "after the workload":
            if not ctx.remount_checks():
                break
            m.stop()
            rlib.check_clean(ctx, db, "after the concurrent workload")
            m = rlib.mount(ctx, db, mnt, name="conc")
        try:
            actual = model.snapshot(mnt)
        except OSError as e:
            fail("%s: reading the tree failed with %s at %r" % (when, rlib.ename(e.errno), e.filename))
        diff = model.diff(oracle, actual)
        check(not diff, "%s the tree differs from the threads' oracles:\n    %s" % (when, "\n    ".join(diff)))
    m.stop()
