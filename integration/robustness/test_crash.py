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
        msg += "\n  against the state with it:\n    " + "\n    ".join(model.diff(candidates[-1], actual))
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
            if state is candidates[0]:
                without_inflight += 1
            else:
                with_inflight += 1
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
        candidates = model.outcomes(state, begun) if begun is not None else [state]
        rlib.check_clean(ctx, db, "after kill -9 in round %d" % (r + 1))
    ctx.notes.append("%d rounds, %d acknowledged ops; the op in flight was kept (in full or in part) %d times, dropped %d times" % (
        rounds, acknowledged, with_inflight, without_inflight))


WRITERS = 4


@needs("mount --sync always", "persistence", "recovery after kill -9 under group commit")
def test_kill9_during_parallel_writers(ctx):
    """4 writer processes, each in its own directory, SIGKILL of the daemon while all write; 5 rounds
    (--long: 40). Each directory must hold exactly its writer's acknowledged ops (plus, or not, the
    one it had in flight): concurrent commits share log writes and syncs, and none may be lost."""
    import selectors
    rounds = 40 if ctx.long else 5
    rng = random.Random(ctx.seed + 1)
    db, mnt = ctx.path("pcrash.db"), ctx.dir("pcrash.mnt")
    dirs = [b"w%d" % k for k in range(WRITERS)]
    candidates = {d: [{}] for d in dirs}
    acknowledged = 0
    for r in range(rounds + 1):
        m = rlib.mount(ctx, db, mnt, ["--sync", "always"], name="pcrash")
        states = {}
        for d in dirs:
            sub = os.path.join(os.fsencode(mnt), d)
            if r == 0:
                os.mkdir(sub)
            states[d] = verify(sub, candidates[d], "%r after crash %d of %d" % (d, r, rounds) if r else "fresh mount")
        if r == rounds:
            m.stop()
            rlib.check_clean(ctx, db, "after the last clean unmount")
            break
        kill_after = rng.randint(WRITERS, 40 * WRITERS)
        procs = {}
        sel = selectors.DefaultSelector()
        for k, d in enumerate(dirs):
            p = subprocess.Popen(
                [sys.executable, WRITER, os.path.join(mnt, d.decode()), str(rng.getrandbits(32)),
                 str(1000000 * (r + 1))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                preexec_fn=rlib.pr_set_pdeathsig)
            ctx.on_cleanup(lambda w=p: w.poll() is None and w.kill())
            procs[d] = p
            sel.register(p.stdout, selectors.EVENT_READ, d)
        done = {d: [] for d in dirs}
        begun = {d: None for d in dirs}
        buffers = {d: b"" for d in dirs}
        killed, early_error, total, open_pipes = False, None, 0, len(dirs)
        while open_pipes:
            for key, _ in sel.select(timeout=60):
                d = key.data
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_pipes -= 1
                    continue
                buffers[d] += chunk
                *lines, buffers[d] = buffers[d].split(b"\n")
                for line in lines:
                    rec = json.loads(line)
                    if rec["s"] == "begin":
                        begun[d] = rec["op"]
                    elif rec["s"] == "done":
                        done[d].append(begun[d])
                        begun[d] = None
                        total += 1
                        if total == kill_after and not killed:
                            m.proc.kill()
                            killed = True
                    elif rec["s"] == "err" and not killed:
                        early_error = "%r: op %s failed with %s while the daemon was up (round %d)" % (
                            d, model.describe(begun[d]) if begun[d] else rec.get("what"),
                            rlib.ename(rec["errno"]), r)
                        m.proc.kill()
                        killed = True
        for d, p in procs.items():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                fail("writer %r did not end within 60 s of the kill" % d)
            check(p.returncode == 0, "writer.py broke: %s\n%s" % (
                rlib.status_text(p.returncode), p.stderr.read().decode("utf-8", "replace")[-2000:]))
        m.kill9()
        if early_error:
            fail(early_error + m.log_tail())
        for d in dirs:
            state = states[d]
            for op in done[d]:
                model.apply(state, op)
            acknowledged += len(done[d])
            candidates[d] = model.outcomes(state, begun[d]) if begun[d] is not None else [state]
        rlib.check_clean(ctx, db, "after kill -9 in round %d" % (r + 1))
    ctx.notes.append("%d rounds, %d writers, %d acknowledged ops" % (rounds, WRITERS, acknowledged))
