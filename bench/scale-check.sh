#!/usr/bin/env bash
# Scale on a holtfs mount: renaming a directory of N entries against one of 1 entry, and how much
# the daemon's RSS grows while `ls` lists the big directory.
#   bench/scale-check.sh [HOLTFS] [N]      (defaults: .build/release/holtfs, 200000)
set -euo pipefail
holtfs=${1:-.build/release/holtfs}
n=${2:-200000}
work=$(mktemp -d /var/tmp/holt-scale.XXXXXX)
mnt=$work/mnt; db=$work/db
mkdir -p "$mnt"
cleanup() { "$holtfs" umount "$mnt" >/dev/null 2>&1 || fusermount3 -u -z "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$holtfs" mount "$db" "$mnt" --sync periodic
mkdir "$mnt/big" "$mnt/small"
touch "$mnt/small/only"
# Create N entries fast: python's os.open in one process.
python3 - "$mnt/big" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(os.path.join(d, "f%07d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
PY
pid=$(sed -n 's/^pid=//p' "$db/holtfs.pid" 2>/dev/null || pgrep -f "holtfs mount $db" | head -1)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
time_rename() { python3 -c 'import os,sys,time; t=time.perf_counter(); os.rename(sys.argv[1], sys.argv[2]); print("%.1f" % ((time.perf_counter()-t)*1e6))' "$1" "$2"; }
echo 3 > /proc/sys/vm/drop_caches
before=$(rss)
count=$(ls -f "$mnt/big" | wc -l)
after=$(rss)
small_us=$(time_rename "$mnt/small" "$mnt/small2")
big_us=$(time_rename "$mnt/big" "$mnt/big2")
echo "entries listed: $count (expected $((n + 2)))"
echo "daemon RSS before listing: ${before} KiB, after: ${after} KiB, growth: $((after - before)) KiB"
echo "rename of a 1-entry directory: ${small_us} us; of a ${n}-entry directory: ${big_us} us"
