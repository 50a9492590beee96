#!/usr/bin/env python3
"""holtfs integration runner: python3 runner.py HOLTFS_BIN [-k SUBSTRING] [-v]

Runs every test_* function of every integration/test_*.py, each with a fresh support.Context,
prints PASS/FAIL/XFAIL lines and ends with the line `N passed, M failed`. Exit 0 only if none
failed. XFAIL: a test that needs the on-disk engine, with HOLT_EXPECT_PERSISTENCE=0.
"""
import argparse
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import support  # noqa: E402

DEFAULT_TIMEOUT = 120  # seconds per test; a function may set its own `timeout` attribute


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("holtfs")
    ap.add_argument("-k", dest="pattern", default="", help="run only tests whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    holtfs = os.path.abspath(args.holtfs)
    if not os.access(holtfs, os.X_OK):
        print("runner: %s is not an executable" % holtfs)
        print("0 passed, 1 failed")
        return 1
    if os.geteuid() != 0:
        print("runner: warning: not root; chown and allow_other cases will fail")

    modules = sorted(f[:-3] for f in os.listdir(HERE) if f.startswith("test_") and f.endswith(".py"))
    passed = failed = xfailed = skipped = 0
    extra_passed = extra_failed = 0
    t0 = time.monotonic()
    for name in modules:
        module = importlib.import_module(name)
        tests = [(n, f) for n, f in vars(module).items() if n.startswith("test_") and callable(f)]
        tests.sort(key=lambda item: item[1].__code__.co_firstlineno)
        for test_name, fn in tests:
            full = "%s.%s" % (name, test_name)
            if args.pattern and args.pattern not in full:
                continue
            ctx = support.Context(holtfs)
            start = time.monotonic()
            outcome, detail = "PASS", ""
            counts = None
            limit = getattr(fn, "timeout", DEFAULT_TIMEOUT)

            def on_alarm(signum, frame, ctx=ctx, limit=limit):
                # Kill the test's daemons: a request blocked on a hung mount then fails (ENOTCONN)
                # and this exception reaches the test.
                for kill in ctx.kill_on_timeout:
                    try:
                        kill()
                    except Exception:
                        pass
                raise support.TestFailure("the test took more than %d s (its daemons were killed)" % limit)
            signal.signal(signal.SIGALRM, on_alarm)
            signal.alarm(limit)
            try:
                counts = fn(ctx)
                if isinstance(counts, tuple):  # a sub-suite reporting its own counts
                    extra_passed += counts[0]
                    extra_failed += counts[1]
                    if counts[1]:
                        outcome = "FAIL"
                        detail = "%d of its checks failed" % counts[1]
            except support.Skipped as e:
                outcome, detail = "SKIP", str(e)
            except support.ExpectedFailure as e:
                outcome, detail = "XFAIL", str(e)
            except support.TestFailure as e:
                outcome, detail = "FAIL", str(e)
            except Exception:
                outcome, detail = "FAIL", traceback.format_exc()
            finally:
                signal.alarm(0)
                ctx.cleanup()
            if outcome == "FAIL" and getattr(fn, "needs_persistence", False) and not support.EXPECT_PERSISTENCE:
                outcome, detail = "XFAIL", "needs the on-disk engine: " + detail.splitlines()[0] if detail else ""
            elapsed = time.monotonic() - start
            print("%-5s %s (%.1f s)" % (outcome, full, elapsed), flush=True)
            if detail and (outcome in ("FAIL", "SKIP") or args.verbose):
                print("      " + detail.replace("\n", "\n      "), flush=True)
            for note in ctx.notes:
                if args.verbose:
                    print("      note: " + note)
            if isinstance(counts, tuple) and outcome in ("PASS", "FAIL"):
                pass  # a sub-suite: its checks are counted, not the wrapper
            elif outcome == "SKIP":
                skipped += 1
            elif outcome == "PASS":
                passed += 1
            elif outcome == "XFAIL":
                xfailed += 1
            else:
                failed += 1
    print()
    print("integration: %d tests passed, %d failed, %d expected failures, %d skipped (%.1f s)" % (
        passed, failed, xfailed, skipped, time.monotonic() - t0))
    if extra_passed or extra_failed:
        print("checks of sub-suites (conformance, robustness): %d passed, %d failed" % (extra_passed, extra_failed))
    print("%d passed, %d failed" % (passed + extra_passed, failed + extra_failed))
    return 0 if failed + extra_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
