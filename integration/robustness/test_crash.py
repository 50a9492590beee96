"""Crash safety: kill -9 of the daemon in the middle of a write load, many rounds.

Each round mounts the database (--sync always), checks that the tree is exactly what the writer
was told had succeeded (the op in flight may or may not be there), starts a writer subprocess
(writer.py), kills the daemon with SIGKILL after a random number of acknowledged ops, lazily
unmounts, and runs `holtfs check` on the crashed database, which must exit 0.
"""
import json
import random
import subprocess
import os
import sys
import time

import model
import rlib
from rlib import check, fail, needs

WRITER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "writer.py")


def verify(mnt, candidates, what):
    """The tree under mnt must equal one of the candidate states; returns the one it equals."""
    try:
        actual = model.snapshot(mnt)
    except OSError as e:
        fail("%s: reading the tree failed with %s at %r" % (what, rlib.ename(e.errno), e.filename))
    for c in candidates:
        if actual == c:
            return c
    lines = model.diff(candidates[0], actual)
    msg = "%s: the tree differs from every acknowledged state; against the state without the op in " \
          "flight:\n    %s" % (what, "\n    ".join(lines))
    if len(candidates) > 1:
        msg += "\n  against the state with it:\n    " + "\n    ".join(model.diff(candidates[1], actual))
    fail(msg)


@needs("mount --sync always", "persistence", "recovery after kill -9", "holtfs check of a crashed database")
def test_kill9_during_writes(ctx):
    """SIGKILL the daemon during a write load, ~10 rounds (--long: 120); nothing acknowledged is lost."""
    rounds = 120 if ctx.long else 10
    rng = random.Random(ctx.seed)
    db, mnt = ctx.path("crash.db"), ctx.dir("crash.mnt")
    candidates = [{}]
    acknowledged = with_inflight = without_inflight = 0
    for r in range(rounds + 1):
        m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="crash")
        state = verify(mnt, candidates, "after crash %d of %d" % (r, rounds) if r else "fresh mount")
        if len(candidates) > 1:
            if state is candidates[1]:
                with_inflight += 1
            else:
                without_inflight += 1
        if r == rounds:
            m.stop()
            rlib.check_clean(ctx, db, "after the last clean unmount")
            m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="crash")
            verify(mnt, [state], "remount after a clean unmount")
            m.stop()
            break
        kill_after = rng.randint(1, 60)
        jitter = rng.choice([0.0, rng.uniform(0.0, 0.004)])
        writer = subprocess.Popen(
            [sys.executable, WRITER, mnt, str(rng.getrandbits(32)), str(1000000 * (r + 1))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=rlib.pr_set_pdeathsig)
        ctx.on_cleanup(lambda w=writer: w.poll() is None and w.kill())
        done, begun, killed, early_error = [], None, False, None
        for line in writer.stdout:
            rec = json.loads(line)
            if rec["s"] == "begin":
                begun = rec["op"]
            elif rec["s"] == "done":
                done.append(begun)
                begun = None
                if len(done) == kill_after and not killed:
                    if jitter:
                        # Not a wait for a condition: a random delay so the kill lands inside an
                        # op (between its request and its reply) in some rounds, not between ops.
                        time.sleep(jitter)
                    m.proc.kill()
                    killed = True
            elif rec["s"] == "err":
                if not killed:
                    early_error = "op %s failed with %s while the daemon was up (round %d, after %d ops)" % (
                        model.describe(begun) if begun else rec.get("what"), rlib.ename(rec["errno"]), r, len(done))
                    m.proc.kill()
                    killed = True
        try:
            writer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("the writer did not end within 60 s of the kill")
        err = writer.stderr.read().decode("utf-8", "replace")
        check(writer.returncode == 0, "writer.py broke: %s\n%s" % (rlib.status_text(writer.returncode), err[-2000:]))
        check(killed, "the writer stopped before %d ops: %s" % (kill_after, err[-2000:]))
        m.kill9()
        if early_error:
            fail(early_error + m.log_tail())
        acknowledged += len(done)
        for op in done:
            model.apply(state, op)
        candidates = [state]
        if begun is not None:
            after = {k: v for k, v in state.items()}
            try:
                model.apply(after, begun)
                candidates.append(after)
            except (KeyError, ValueError):
                pass
        rlib.check_clean(ctx, db, "after kill -9 in round %d" % (r + 1))
    ctx.notes.append("%d rounds, %d acknowledged ops; the op in flight was kept %d times, dropped %d times" % (
        rounds, acknowledged, with_inflight, without_inflight))
