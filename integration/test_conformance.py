"""The POSIX conformance suite (integration/conformance, written in its own branch) run on a
holtfs mount; its checks count into the runner's totals. Skipped when absent or HOLT_CONFORMANCE=0.
"""
import os
import re
import sys

from support import Skipped, check, run

SUITE = os.environ.get("HOLT_CONFORMANCE_SUITE") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "conformance", "run.py")


def test_conformance_on_mount(ctx):
    if not os.path.exists(SUITE) or os.environ.get("HOLT_CONFORMANCE", "1") == "0":
        raise Skipped("integration/conformance/run.py absent or HOLT_CONFORMANCE=0")
    m = ctx.mount()
    r = run([sys.executable, SUITE, "--target", m.mnt], timeout=900)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    match = re.match(r"^(\d+) passed, (\d+) failed$", last)
    check(match is not None, "conformance output did not end with 'N passed, M failed':\n%s\n%s" % (
        r.stdout[-3000:], r.stderr[-3000:]))
    passed, failed = int(match.group(1)), int(match.group(2))
    if failed:
        print("\n".join("      | " + line for line in r.stdout.splitlines() if "FAIL" in line)[:6000])
    m.umount()
    return (passed, failed)


test_conformance_on_mount.timeout = 960
