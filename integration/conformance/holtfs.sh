#!/usr/bin/env bash
# Runs the POSIX conformance suite on a real holtfs mount:
#   bash integration/conformance/holtfs.sh HOLTFS_BIN [run.py options, e.g. --group rename -v]
# Mounts a fresh database (in the foreground, as a child of this script) on a temp dir, runs
# `python3 integration/conformance/run.py --target MNT/conf`, unmounts cleanly and exits with the
# suite's status. Whatever happens, the EXIT trap lazily unmounts, kills the daemon and removes the
# temp dir. The last line printed is always `N passed, M failed`.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 HOLTFS_BIN [run.py options]" >&2
  echo "0 passed, 1 failed"
  exit 2
fi
holtfs="$(realpath "$1")"; shift
here="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "conformance: $*"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$holtfs" ] || fail "$holtfs is not an executable"
[ "$(id -u)" = 0 ] || fail "must run as root (the suite switches users; the mount uses allow_other)"

work="$(mktemp -d /tmp/holtfs-conf.XXXXXX)"
chmod 755 "$work"
db="$work/db"; mnt="$work/mnt"; log="$work/holtfs.log"
mkdir -p "$mnt"
daemon=""
cleanup() {
  fusermount3 -u -z "$mnt" 2>/dev/null
  if [ -n "$daemon" ]; then kill -9 "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; fi
  rm -rf "$work" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Field 5 of /proc/self/mountinfo is the mount point, the field after "-" the type.
mounted() {
  awk -v m="$mnt" '{ for (i = 7; i <= NF; i++) if ($i == "-") break; if ($5 == m && $(i + 1) == "fuse.holtfs") f = 1 }
                   END { exit !f }' /proc/self/mountinfo
}

# --sync always: what users get by default. -f keeps the daemon our child, so the trap can end it.
"$holtfs" mount -f --log "$log" --sync always -o allow_other,default_permissions "$db" "$mnt" \
  </dev/null >"$log.stderr" 2>&1 &
daemon=$!
deadline=$((SECONDS + 30))
until mounted; do
  if ! kill -0 "$daemon" 2>/dev/null; then
    wait "$daemon"; status=$?; daemon=""
    echo "conformance: holtfs mount -f exited with status $status before the mount appeared:"
    sed 's/^/  | /' "$log.stderr" | tail -5; [ -f "$log" ] && sed 's/^/  | /' "$log" | tail -15
    echo "0 passed, 1 failed"
    exit 1
  fi
  [ $SECONDS -lt $deadline ] || fail "no holtfs mount at $mnt after 30 s"
  # Poll the mount table; the short sleep is the polling interval, not a wait for the condition.
  sleep 0.02
done
chmod 755 "$mnt"
mkdir "$mnt/conf" || fail "mkdir $mnt/conf failed on the fresh mount"

python3 "$here/run.py" --target "$mnt/conf" "$@" 2>&1 | tee "$work/suite.out"
status=${PIPESTATUS[0]}
summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/suite.out" | tail -1)"
[ -n "$summary" ] || summary="0 passed, 0 failed"
passed=${summary%% passed*}; failed=${summary#*, }; failed=${failed%% failed*}

if ! kill -0 "$daemon" 2>/dev/null; then
  wait "$daemon"; ds=$?; daemon=""
  echo "conformance: FAIL the holtfs daemon died during the suite (status $ds); its log ends:"
  tail -20 "$log" | sed 's/^/  | /'
  failed=$((failed + 1)); status=1
elif "$holtfs" umount "$mnt" >"$work/umount.out" 2>&1; then
  wait "$daemon"; ds=$?; daemon=""
  if [ $ds != 0 ]; then
    echo "conformance: FAIL the daemon exited with status $ds after holtfs umount"
    failed=$((failed + 1)); status=1
  fi
else
  echo "conformance: FAIL holtfs umount: $(head -1 "$work/umount.out")"
  failed=$((failed + 1)); status=1
fi
echo "$passed passed, $failed failed"
exit $status
