#!/usr/bin/env bash
# mount-random-creates.sh: creates in random directories of a holtfs mount whose tree outgrows
# its cache (where the engine's write buffer matters), then a few listings.
#
#   bench/mount-random-creates.sh HOLTFS [--files N] [--cache-mb M] [--work DIR]
#
# Mounts a fresh database with `--sync periodic --cache-mb M` (default 8), makes 1,000
# directories, creates N (default 200,000) empty files, each in a random one of them with a random
# name (a fixed seed), times that and 100 listings, prints `holtfs stats` (cache misses, bytes
# read and written, what the write buffer took), unmounts and removes the database. One run; run
# it alternately with the builds to compare.
set -euo pipefail

holtfs="${1:?usage: mount-random-creates.sh HOLTFS [--files N] [--cache-mb M] [--work DIR]}"
shift
files=200000
cache=8
work="/var/tmp/holt-random-creates"
while [ $# -gt 0 ]; do
    case "$1" in
        --files) files="$2"; shift 2 ;;
        --cache-mb) cache="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        *) echo "mount-random-creates.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
db="$work/db"
mnt="$work/mnt"
cleanup() {
    if grep -q " $mnt " /proc/mounts; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi
    for _ in $(seq 1 100); do grep -qs '"closed"\|state=closed\|closed' "$db/holtfs.pid" && break; sleep 0.1; done
    rm -rf "$work"
}
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$mnt"
"$holtfs" mount --sync periodic --cache-mb "$cache" "$db" "$mnt"
for _ in $(seq 1 100); do grep -q " $mnt " /proc/mounts && break; sleep 0.1; done
grep -q " $mnt " /proc/mounts || { echo "mount-random-creates.sh: the mount did not appear" >&2; exit 1; }
python3 - "$mnt" "$files" <<'PY'
import os, random, sys, time
mnt, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for d in range(1000):
    os.mkdir(os.path.join(mnt, "d%04d" % d))
t = time.time()
for _ in range(n):
    path = os.path.join(mnt, "d%04d/f%08d" % (rng.randrange(1000), rng.randrange(10**8)))
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
dt = time.time() - t
print("random creates: %d in %.1f s: %.0f/s" % (n, dt, n / dt))
t = time.time()
names = sum(len(os.listdir(os.path.join(mnt, "d%04d" % d))) for d in range(0, 1000, 10))
print("100 listings: %.2f s (%d names)" % (time.time() - t, names))
PY
"$holtfs" stats "$mnt" | grep -E "^(cache|blobs|write buffer):"
