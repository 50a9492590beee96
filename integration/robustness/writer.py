#!/usr/bin/env python3
"""The write load of the kill -9 test: python3 writer.py MNT SEED SERIAL_BASE [MAX_OPS]

Snapshots the tree under MNT (grouping hard links by inode number), then does random valid ops
(model.choose, hard links included; ops on a linked file carry its other names in "also") one at
a time, printing one JSON line before each (`{"i": N, "s": "begin", "op": {...}}`) and one after it returned
successfully (`{"i": N, "s": "done"}`). The first op that fails prints `{"i": N, "s": "err",
"errno": E}` and ends the writer: once the daemon is killed every op fails (ENOTCONN), so the op in
flight is the last one begun and never done. Exit 0 unless the writer itself broke.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model  # noqa: E402


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    mnt, seed, serial_base = os.fsencode(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    max_ops = int(sys.argv[4]) if len(sys.argv) > 4 else 100000
    rng = random.Random(seed)
    try:
        state = model.snapshot(mnt)
    except OSError as e:
        say({"i": -1, "s": "err", "errno": e.errno, "what": "snapshot"})
        return 0
    try:
        links = model.Links(mnt, state)
    except OSError as e:
        say({"i": -1, "s": "err", "errno": e.errno, "what": "stat"})
        return 0
    for i in range(max_ops):
        op = model.choose(state, rng, serial_base + i, links=True)
        if op["op"] == "rename" and links.same_file(model.dec(op["src"]), model.dec(op["dst"])):
            continue  # rename between two names of one file does nothing (POSIX); not modelled
        links.annotate(op)
        say({"i": i, "s": "begin", "op": op})
        try:
            model.execute(mnt, op)
        except OSError as e:
            say({"i": i, "s": "err", "errno": e.errno})
            return 0
        model.apply(state, op)
        links.applied(op)
        say({"i": i, "s": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
