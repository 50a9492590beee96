#!/usr/bin/env bash
# Runs the holtfs integration suite against the given holtfs binary (needs root and /dev/fuse).
# The last line of output is `N passed, M failed`; exit 0 only if nothing failed.
#   HOLT_EXPECT_PERSISTENCE=0  report tests needing the on-disk engine as XFAIL instead of FAIL
#   HOLT_CONFORMANCE=0         skip the POSIX conformance suite (integration/conformance)
#   HOLT_ROBUSTNESS=0          skip the robustness suite (integration/robustness, short form)
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 PATH-TO-HOLTFS [-k SUBSTRING] [-v]" >&2
  echo "0 passed, 1 failed"
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
exec python3 "$here/runner.py" "$@"
