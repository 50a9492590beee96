"""Suites written in their own branches, run from here so `make test` runs everything:
- integration/conformance (POSIX conformance) on a fresh holtfs mount; on by default,
  HOLT_CONFORMANCE=0 skips it, HOLT_CONFORMANCE_SUITE=PATH runs another copy of its run.py;
- integration/robustness (kill -9, damage, full disk, ...) with this holtfs, its short form
  (~75 s); HOLT_ROBUSTNESS=0 skips it, HOLT_ROBUSTNESS_SUITE=PATH runs another copy.
Each returns (passed, failed) of its own checks, which the runner adds to the totals.
"""
import os
import re
import sys

from support import Skipped, check, run

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.environ.get("HOLT_CONFORMANCE_SUITE") or os.path.join(HERE, "conformance", "run.py")
ROBUSTNESS = os.environ.get("HOLT_ROBUSTNESS_SUITE") or os.path.join(HERE, "robustness", "run.py")


def counts_of(r, suite):
    """(passed, failed) from a sub-suite's last line `N passed, M failed`; FAIL lines are shown."""
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    match = re.match(r"^(\d+) passed, (\d+) failed$", last)
    check(match is not None, "%s output did not end with 'N passed, M failed' (exit %d):\n%s\n%s" % (
        suite, r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    passed, failed = int(match.group(1)), int(match.group(2))
    if failed:
        shown = [line for line in r.stdout.splitlines() if "FAIL" in line]
        print("\n".join("      | " + line for line in shown)[:6000])
    return passed, failed


def test_conformance_on_mount(ctx):
    if not os.path.exists(CONFORMANCE) or os.environ.get("HOLT_CONFORMANCE", "1") == "0":
        raise Skipped("%s absent or HOLT_CONFORMANCE=0" % CONFORMANCE)
    m = ctx.mount()
    r = run([sys.executable, CONFORMANCE, "--target", m.mnt], timeout=900)
    counts = counts_of(r, "conformance")
    m.umount()
    return counts


test_conformance_on_mount.timeout = 960


def test_robustness(ctx):
    if not os.path.exists(ROBUSTNESS) or os.environ.get("HOLT_ROBUSTNESS", "1") == "0":
        raise Skipped("%s absent or HOLT_ROBUSTNESS=0" % ROBUSTNESS)
    r = run([sys.executable, ROBUSTNESS, "--holtfs", ctx.holtfs], timeout=3000)
    return counts_of(r, "robustness")


test_robustness.timeout = 3060
