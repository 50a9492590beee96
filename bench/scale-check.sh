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
# The median of 9 renames back and forth (a single rename may meet a checkpoint), then the first.
time_rename() { python3 -c '
import os, statistics, sys, time
a, b = sys.argv[1], sys.argv[2]
times = []
for i in range(9):
    src, dst = (a, b) if i % 2 == 0 else (b, a)
    t = time.perf_counter(); os.rename(src, dst); times.append((time.perf_counter() - t) * 1e6)
print("%.1f %.1f" % (statistics.median(times), times[0]))' "$1" "$2"; }
echo 3 > /proc/sys/vm/drop_caches
before=$(rss)
count=$(ls -f "$mnt/big" | wc -l)
after=$(rss)
read -r small_us small_first < <(time_rename "$mnt/small" "$mnt/small2")
read -r big_us big_first < <(time_rename "$mnt/big" "$mnt/big2")
echo "entries listed: $count (expected $((n + 2)))"
echo "daemon RSS before listing: ${before} KiB, after: ${after} KiB, growth: $((after - before)) KiB"
echo "rename (median of 9) of a 1-entry directory: ${small_us} us; of a ${n}-entry directory: ${big_us} us"
echo "first rename of each: 1-entry ${small_first} us; ${n}-entry ${big_first} us"
