#!/usr/bin/env python3
"""The concurrency workload: python3 workload.py MNT SEED THREADS OPS OUT.json

THREADS threads, each owning the subtree MNT/t<i> and an in-memory oracle of it (model states).
Each does OPS random ops: mkdir, create, write, truncate, rename inside its subtree, setxattr,
unlink, rmdir, a listing or a read compared with its oracle, and cross-thread renames: moving one
of its nodes into another thread's top directory as `gift_<i>_<n>` (and later back, or deeper),
so two threads change the same directory and rename in opposite directions at once. A thread
still owns what it gave away; the owner of t<j> ignores `gift_` names when it lists t<j>.

Any unexpected errno or oracle mismatch is an error: the thread stops and it is reported. On
SIGUSR1 every thread's op in flight (and for how long) is printed to stderr, for a deadlock
report. Writes {"oracle": {path: entry}, "errors": [...], "ops": N, "max_op_s": S} to OUT.
"""
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model  # noqa: E402

inflight = {}  # thread index -> (op description, start time)


def run_thread(i, root, seed, ops, threads, result):
    rng = random.Random(seed * 1000 + i)
    mine = b"t%d" % i
    state = {mine: ("d", {})}
    gifts = 0
    max_s = 0.0
    errors = result["errors"]

    def do(op):
        nonlocal max_s
        inflight[i] = (model.describe(op), time.monotonic())
        t0 = time.monotonic()
        model.execute(root, op)
        max_s = max(max_s, time.monotonic() - t0)
        inflight.pop(i, None)
        model.apply(state, op)

    def listing_of(d):
        want = sorted(p.rpartition(b"/")[2] for p in model.children(state, d))
        got = sorted(n for n in os.listdir(os.path.join(root, d)) if not (d == mine and n.startswith(b"gift_")))
        return want, got

    n = 0
    try:
        for n in range(ops):
            roll = rng.random()
            if roll < 0.08:
                dirs = [p for p, e in state.items() if e[0] == "d"]
                d = rng.choice(dirs)
                inflight[i] = ("listdir %r" % d, time.monotonic())
                want, got = listing_of(d)
                inflight.pop(i, None)
                if want != got:
                    errors.append("t%d op %d: listdir %r: missing %r, extra %r" % (
                        i, n, d, sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5]))
                    return
                continue
            if roll < 0.14:
                files = [p for p, e in state.items() if e[0] == "f"]
                if files:
                    p = rng.choice(files)
                    inflight[i] = ("read %r" % p, time.monotonic())
                    with open(os.path.join(root, p), "rb") as f:
                        got = f.read()
                    inflight.pop(i, None)
                    if got != state[p][1]:
                        errors.append("t%d op %d: %r holds %d bytes, expected %d" % (
                            i, n, p, len(got), len(state[p][1])))
                        return
                    continue
            if roll < 0.24:
                # A cross-thread rename: one of my nodes into another thread's top directory, or back.
                nodes = [p for p in state if p != mine]
                given = [p for p in nodes if b"/gift_%d_" % i in p and p.count(b"/") == 1]
                if given and rng.random() < 0.4:
                    src = rng.choice(given)
                    dst = mine + b"/back%d_%d" % (i, n)
                    do({"op": "rename", "src": model.enc(src), "dst": model.enc(dst)})
                    continue
                if nodes:
                    src = rng.choice(nodes)
                    j = rng.choice([k for k in range(threads) if k != i])
                    gifts += 1
                    dst = b"t%d/gift_%d_%d" % (j, i, gifts)
                    do({"op": "rename", "src": model.enc(src), "dst": model.enc(dst)})
                    continue
            op = model.choose({p: e for p, e in state.items()}, rng, n + 1, max_depth=6, max_entries=150)
            # model.choose picks from the whole state, whose root entries are t<i> and gifts' parents;
            # keep my top directory itself in place and anything new inside what I own.
            if not _inside_mine(op, state, mine):
                continue
            do(op)
    except OSError as e:
        errors.append("t%d op %d: %s failed with errno %s (%s)" % (
            i, n, inflight.get(i, ("?",))[0], errno_name(e.errno), e.filename))
    except Exception as e:  # noqa: BLE001 - a crash of a thread is an error to report
        errors.append("t%d op %d: the workload crashed: %r" % (i, n, e))
    finally:
        inflight.pop(i, None)
        result["oracles"][i] = state
        result["max_s"][i] = max_s
        result["ops"][i] = n


def _inside_mine(op, state, mine):
    """Whether op touches only paths strictly inside nodes this thread owns (not t<i> itself)."""
    def owned_parent(p):
        par = model.parent(p)
        return par in state and state[par][0] == "d"
    for key in ("p", "src", "dst"):
        if key in op:
            p = model.dec(op[key])
            if p == mine or b"/" not in p:
                return False
            if key in ("p", "dst") and op["op"] in ("mkdir", "create") and not owned_parent(p):
                return False
            if key == "dst" and not owned_parent(p):
                return False
    return True


def errno_name(code):
    import errno
    return errno.errorcode.get(code, str(code))


def main():
    root, seed, threads, ops, out = (os.fsencode(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                     int(sys.argv[4]), sys.argv[5])
    result = {"errors": [], "oracles": {}, "max_s": {}, "ops": {}}

    def report(signum, frame):
        """The runner's deadline passed: say what each thread is stuck in, then exit at once."""
        now = time.monotonic()
        for i, (what, t0) in sorted(inflight.items()):
            sys.stderr.write("t%d in flight for %.1f s: %s\n" % (i, now - t0, what))
        sys.stderr.flush()
        os._exit(3)
    signal.signal(signal.SIGUSR1, report)
    for i in range(threads):
        os.mkdir(os.path.join(root, b"t%d" % i))
    workers = [threading.Thread(target=run_thread, args=(i, root, seed, ops, threads, result), daemon=True)
               for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        while w.is_alive():
            w.join(0.5)
    oracle = {}
    for state in result["oracles"].values():
        for p, e in state.items():
            oracle[model.enc(p)] = [e[0], model.b64(e[1]) if e[0] == "f" else "",
                                    {k: model.b64(v) for k, v in e[-1].items()}]
    with open(out, "w") as f:
        json.dump({"oracle": oracle, "errors": result["errors"], "ops": sum(result["ops"].values()),
                   "max_op_s": max(result["max_s"].values() or [0])}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
