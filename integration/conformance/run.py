#!/usr/bin/env python3
"""holt POSIX conformance suite: python3 run.py --target DIR [--group NAME] [-v]"""
import argparse
import importlib
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

ALL = ["chmod", "chown", "link", "mkdir", "mkfifo", "mknod", "open", "rename", "rmdir",
       "symlink", "truncate", "unlink", "utimensat", "xattr", "readdir"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--target", required=True, help="existing directory to test in")
    ap.add_argument("--group", action="append", default=[],
                    help="run only these groups (repeatable, or comma separated)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of crashing cases")
    args = ap.parse_args()

    groups = [g for arg in args.group for g in arg.split(",") if g] or ALL
    for g in groups:
        if g not in ALL:
            ap.error("unknown group %r (known: %s)" % (g, ", ".join(ALL)))
    if os.geteuid() != 0:
        ap.error("must run as root (permission cases switch to other users)")
    target = os.path.abspath(args.target)
    if not os.path.isdir(target):
        ap.error("%s is not a directory" % target)

    for g in groups:
        importlib.import_module("groups." + g)

    root = os.path.join(target, "conf.%d" % os.getpid())
    os.mkdir(root)
    os.chmod(root, 0o755)
    runner = harness.Runner(root, verbose=args.verbose)
    t0 = time.monotonic()
    try:
        for g in groups:
            runner.run_group(g)
    finally:
        os.chdir(target)
        harness.cleanup(root)

    tp = tf = 0
    print()
    print("%-10s %7s %7s" % ("group", "passed", "failed"))
    for g in groups:
        p, f = runner.counts.get(g, (0, 0))
        tp += p
        tf += f
        print("%-10s %7d %7d" % (g, p, f))
    print("(%.1f s)" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (tp, tf))
    return 0 if tf == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
