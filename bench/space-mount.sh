#!/usr/bin/env bash
# space-mount.sh: does space come back on a holtfs mount? (BENCHMARKS.md, "Space")
#
#   bench/space-mount.sh [--scenarios rm,churn] [--files N] [--big-mib M] [--poll S] [--rounds R]
#                        [--churn-bytes B] [--controls ext4,tmpfs] [--holtfs PATH] [--work DIR] [--out DIR]
#
# Scenarios (default both):
#   rm     a fresh `holtfs mount DB MNT --sync periodic`; one M-MiB file (default 400, from
#          /dev/urandom, written in 1 MiB writes) and N empty files (default 100,000, in one directory); the DB directory's
#          du (peak) and the bytes written; `rm -rf` of all of it; then du of the DB every second
#          for up to S seconds (default 60) with no other command, until it is below 10% of the
#          peak; unmount; du again. The same steps on plain directories as control (--controls:
#          ext4 = a folder next to the DB, tmpfs = /dev/shm; `none` for no control).
#   churn  R rounds (default 10) on one fresh mount of: create N files of B bytes each (default
#          4096, the same bytes in every file), `rm -rf` them; the DB's du once the files
#          exist (the top of the round) and after the rm -rf with the file sizes, each round, and
#          after the unmount.
# du is taken both ways: `du -sb` (apparent: st_size summed) and `du -s --block-size=1`
# (allocated: st_blocks x 512, what holes do not count). Bytes written: the writing processes'
# own write_bytes (/proc/self/io; on ext4 the bytes they dirtied, the control's figure), the
# daemon's write_bytes (/proc/PID/io), the engine's own counters (`holtfs stats --json`: log bytes
# appended, blob bytes written; asked at the peak and before the unmount, never while du is
# polled), and, in the JSON only, the disk's sectors written (/proc/diskstats: the whole device,
# other processes' writes included).
# Results: OUT/events.jsonl (one JSON object per measurement), OUT/summary.json, OUT/summary.md
# (bench/summarize-space.py). Every mount the script makes is unmounted on exit (trap EXIT),
# also after an error or ^C; the mount is awaited with a deadline, never a fixed sleep.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
scenarios="rm churn"
files=100000
big_mib=400
poll=60
rounds=10
churn_bytes=4096
controls="ext4 tmpfs"
holtfs=""
work="/var/tmp/holt-space-bench"
out="$root/bench-results/space-$(date -u +%Y%m%dT%H%M%SZ)"

usage() { sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --scenarios) scenarios="${2//,/ }"; shift 2 ;;
        --files) files="$2"; shift 2 ;;
        --big-mib) big_mib="$2"; shift 2 ;;
        --poll) poll="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --churn-bytes) churn_bytes="$2"; shift 2 ;;
        --controls) controls="${2//,/ }"; [[ "$controls" == none ]] && controls=""; shift 2 ;;
        --holtfs) holtfs="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "space-mount: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { echo "space-mount: $*" >&2; }
die() { log "$*"; exit 1; }

[[ -e /dev/fuse ]] || die "/dev/fuse is missing"
if [[ -z "$holtfs" ]]; then
    holtfs="$(cd "$root" && swift build -c release --show-bin-path)/holtfs"
fi
[[ -x "$holtfs" ]] || die "holtfs not found at $holtfs (make bench-space builds it)"
mkdir -p "$out" "$work"
events="$out/events.jsonl"
: >"$events"

# --- cleanup: the mount point and daemon this script started ----------------------------------
mnt=""        # the mount point while mounted by us
daemon=""     # the daemon's pid while it runs
cleanup() {
    local status=$?
    if [[ -n "$mnt" ]] && mountpoint -q "$mnt" 2>/dev/null; then
        log "cleanup: unmounting $mnt"
        fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    fi
    if [[ -n "$daemon" ]] && kill -0 "$daemon" 2>/dev/null; then
        kill "$daemon" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$daemon" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- measurements ------------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }  # elapsed FROM TO: seconds
du_apparent() { du -sb "$1" | cut -f1; }
du_allocated() { du -s --block-size=1 "$1" | cut -f1; }
# The block device under DIR (vda for /dev/vda) or "" (tmpfs), and its sectors written so far.
device_of() { local s; s="$(df --output=source "$1" | tail -1)"; [[ "$s" == /dev/* ]] && basename "$s" || echo ""; }
device_written() {  # bytes written to device $1 since boot (0 without a device)
    [[ -n "$1" ]] || { echo 0; return; }
    awk -v d="$1" '$3 == d { printf "%.0f\n", $10 * 512 }' /proc/diskstats
}
daemon_written() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }
files_json() {  # files_json DIR: [{"name", "size", "allocated"}] of the regular files below DIR
    python3 - "$1" <<'EOF'
import json, os, sys
root, found = sys.argv[1], []
for parent, _, names in os.walk(root):
    for name in sorted(names):
        path = os.path.join(parent, name)
        info = os.lstat(path)
        if os.path.isfile(path) and not os.path.islink(path):
            found.append({"name": os.path.relpath(path, root), "size": info.st_size, "allocated": info.st_blocks * 512})
print(json.dumps(found))
EOF
}
# engine_json: the mounted engine's write counters (`holtfs stats --json`): log bytes appended,
# blob bytes written by checkpoints, checkpoints, log syncs.
engine_json() {
    "$holtfs" stats "$mnt" --json | python3 -c '
import json, sys
e = json.loads(sys.stdin.readline())["engine"]
print(json.dumps({k: e.get(k) for k in ("logBytes", "dataBytesWritten", "checkpoints", "logSyncs", "dirtyBytes", "blobs")}))'
}
emit() { echo "$1" >>"$events"; }  # one JSON object per line

# --- mount / unmount -------------------------------------------------------------------------
mount_holtfs() {  # mount_holtfs DB MNT: a fresh holtfs --sync periodic, in the foreground as our child
    local db="$1" point="$2"
    if grep -qs " $point " /proc/mounts; then
        log "unmounting a stale $point"
        fusermount3 -uz "$point" 2>/dev/null || umount -l "$point"
    fi
    rm -rf "$db" "$point"
    mkdir -p "$point"
    mnt="$point"  # registered for cleanup before the daemon starts
    "$holtfs" mount "$db" "$point" --sync periodic -f >"$work/daemon.log" 2>&1 &
    daemon=$!
    local deadline=$(( $(date +%s) + 30 ))
    until mountpoint -q "$point"; do
        if ! kill -0 "$daemon" 2>/dev/null; then
            tail -20 "$work/daemon.log" >&2 || true
            die "holtfs exited before mounting $point"
        fi
        if (( $(date +%s) >= deadline )); then
            tail -20 "$work/daemon.log" >&2 || true
            die "holtfs did not mount $point within 30 s"
        fi
        sleep 0.05
    done
}

umount_holtfs() {  # unmounts $mnt and waits (60 s) for the daemon to exit
    "$holtfs" umount "$mnt" >/dev/null 2>&1 || fusermount3 -u "$mnt"
    local deadline=$(( $(date +%s) + 60 ))
    while kill -0 "$daemon" 2>/dev/null; do
        (( $(date +%s) < deadline )) || die "holtfs $daemon did not exit within 60 s of the unmount"
        sleep 0.05
    done
    wait "$daemon" 2>/dev/null || true
    mnt=""
    daemon=""
}

# --- the workload steps --------------------------------------------------------------------------
# The writers print their own write_bytes (/proc/self/io: the bytes they caused to be written,
# counted when they dirty the page cache), the control's figure for the bytes written.
make_big_file() {  # make_big_file PATH MIB: MIB MiB from /dev/urandom; prints write_bytes
    python3 - "$1" "$2" <<'EOF'
import os, sys
path, mib = sys.argv[1], int(sys.argv[2])
with open("/dev/urandom", "rb") as source, open(path, "wb") as out:
    for _ in range(mib):
        out.write(source.read(1 << 20))
print(next(int(l.split()[1]) for l in open("/proc/self/io") if l.startswith("write_bytes:")))
EOF
}

make_empty_files() {  # make_empty_files DIR N; prints write_bytes
    python3 - "$1" "$2" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
for i in range(n):
    os.close(os.open(f"{d}/f{i:07d}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
print(next(int(l.split()[1]) for l in open("/proc/self/io") if l.startswith("write_bytes:")))
EOF
}

make_data_files() {  # make_data_files DIR N BYTES: N files of the same BYTES pseudo-random bytes
    python3 - "$1" "$2" "$3" <<'EOF'
import os, random, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
data = random.Random(7).randbytes(size)
for i in range(n):
    fd = os.open(f"{d}/f{i:07d}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.write(fd, data)
    os.close(fd)
print(next(int(l.split()[1]) for l in open("/proc/self/io") if l.startswith("write_bytes:")))
EOF
}

# rm_scenario KIND DIR DB: the rm scenario on DIR (the mount, or the control's folder). KIND is
# holtfs, ext4 or tmpfs; DB is the directory measured (the database for holtfs, DIR otherwise).
rm_scenario() {
    local kind="$1" dir="$2" db="$3"
    local dev; dev="$(device_of "$db")"
    local dev0; dev0="$(device_written "$dev")"
    local dw0=0; [[ "$kind" == holtfs ]] && dw0="$(daemon_written "$daemon")"
    log "[$kind] writing one $big_mib MiB file and $files empty files"
    local t0; t0="$(now)"
    local wb_big wb_empty
    wb_big="$(make_big_file "$dir/big" "$big_mib")"
    local t1; t1="$(now)"
    wb_empty="$(make_empty_files "$dir/empty" "$files")"
    local t2; t2="$(now)"
    local peak_app peak_alloc; peak_app="$(du_apparent "$db")"; peak_alloc="$(du_allocated "$db")"
    local dw1=0; [[ "$kind" == holtfs ]] && dw1="$(daemon_written "$daemon")"
    local dev1; dev1="$(device_written "$dev")"
    local eng1=null; [[ "$kind" == holtfs ]] && eng1="$(engine_json)"
    emit "{\"scenario\": \"rm\", \"kind\": \"$kind\", \"step\": \"peak\", \"big_bytes\": $(( big_mib << 20 )), \"empty_files\": $files, \"write_big_seconds\": $(elapsed "$t0" "$t1"), \"create_seconds\": $(elapsed "$t1" "$t2"), \"du_apparent\": $peak_app, \"du_allocated\": $peak_alloc, \"writer_write_bytes\": $(( wb_big + wb_empty )), \"daemon_write_bytes\": $(( dw1 - dw0 )), \"device_write_bytes\": $(( dev1 - dev0 )), \"engine\": $eng1, \"files\": $(files_json "$db")}"
    log "[$kind] peak: du -sb $peak_app, allocated $peak_alloc; rm -rf"
    local t3; t3="$(now)"
    rm -rf "$dir/big" "$dir/empty"
    local t4; t4="$(now)"
    emit "{\"scenario\": \"rm\", \"kind\": \"$kind\", \"step\": \"rm\", \"rm_seconds\": $(elapsed "$t3" "$t4"), \"du_apparent\": $(du_apparent "$db"), \"du_allocated\": $(du_allocated "$db")}"
    if [[ "$kind" == holtfs ]]; then
        # du every second, on a deadline, with nothing else done to the mount.
        local start; start="$(date +%s.%N)"
        local second app alloc
        for second in $(seq "$poll"); do
            sleep "$(awk -v s="$start" -v k="$second" -v n="$(now)" 'BEGIN { d = s + k - n; print (d > 0 ? d : 0) }')"
            app="$(du_apparent "$db")"; alloc="$(du_allocated "$db")"
            emit "{\"scenario\": \"rm\", \"kind\": \"$kind\", \"step\": \"poll\", \"second\": $second, \"du_apparent\": $app, \"du_allocated\": $alloc}"
            log "[$kind] +${second}s: du -sb $app, allocated $alloc"
            if (( app * 10 < peak_app && alloc * 10 < peak_alloc )); then break; fi
        done
        local dw2; dw2="$(daemon_written "$daemon")"
        emit "{\"scenario\": \"rm\", \"kind\": \"$kind\", \"step\": \"before-unmount\", \"daemon_write_bytes\": $(( dw2 - dw0 )), \"engine\": $(engine_json), \"files\": $(files_json "$db")}"
        umount_holtfs
    fi
    sync -f "$db" 2>/dev/null || sync
    local dev2; dev2="$(device_written "$dev")"
    emit "{\"scenario\": \"rm\", \"kind\": \"$kind\", \"step\": \"end\", \"du_apparent\": $(du_apparent "$db"), \"du_allocated\": $(du_allocated "$db"), \"device_write_bytes\": $(( dev2 - dev0 )), \"files\": $(files_json "$db")}"
    log "[$kind] end: du -sb $(du_apparent "$db"), allocated $(du_allocated "$db")"
}

churn_scenario() {
    local db="$work/churn/db" point="$work/churn/mnt"
    mount_holtfs "$db" "$point"
    local dev; dev="$(device_of "$db")"
    local dev0; dev0="$(device_written "$dev")"
    local dw0; dw0="$(daemon_written "$daemon")"
    local round t0 t1 t2 top_app top_alloc
    for round in $(seq "$rounds"); do
        t0="$(now)"
        make_data_files "$point/churn" "$files" "$churn_bytes" >/dev/null
        t1="$(now)"
        top_app="$(du_apparent "$db")"; top_alloc="$(du_allocated "$db")"
        rm -rf "$point/churn"
        t2="$(now)"
        emit "{\"scenario\": \"churn\", \"step\": \"round\", \"round\": $round, \"files\": $files, \"file_bytes\": $churn_bytes, \"create_seconds\": $(elapsed "$t0" "$t1"), \"rm_seconds\": $(elapsed "$t1" "$t2"), \"top_du_apparent\": $top_app, \"top_du_allocated\": $top_alloc, \"du_apparent\": $(du_apparent "$db"), \"du_allocated\": $(du_allocated "$db"), \"daemon_write_bytes\": $(( $(daemon_written "$daemon") - dw0 )), \"engine\": $(engine_json), \"db_files\": $(files_json "$db")}"
        log "[churn] round $round: du -sb $(du_apparent "$db"), allocated $(du_allocated "$db")"
    done
    umount_holtfs
    emit "{\"scenario\": \"churn\", \"step\": \"after-unmount\", \"du_apparent\": $(du_apparent "$db"), \"du_allocated\": $(du_allocated "$db"), \"device_write_bytes\": $(( $(device_written "$dev") - dev0 )), \"db_files\": $(files_json "$db")}"
    rm -rf "$work/churn"
}

# --- run -------------------------------------------------------------------------------------
emit "{\"run\": {\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"nproc\": $(nproc), \"kernel\": \"$(uname -r)\", \"uptime\": \"$(uptime | sed 's/^ *//')\", \"holtfs\": \"$holtfs\", \"commit\": \"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"scenarios\": \"$scenarios\", \"files\": $files, \"big_mib\": $big_mib, \"poll\": $poll, \"rounds\": $rounds, \"churn_bytes\": $churn_bytes, \"controls\": \"$controls\", \"work\": \"$work\", \"work_fs\": \"$(df --output=fstype "$work" | tail -1)\"}}"
log "results in $out"
for scenario in $scenarios; do
    case "$scenario" in
        rm)
            mount_holtfs "$work/rm/db" "$work/rm/mnt"
            rm_scenario holtfs "$work/rm/mnt" "$work/rm/db"
            rm -rf "$work/rm"
            for control in $controls; do
                case "$control" in
                    ext4) dir="$work/control" ;;
                    tmpfs) dir="/dev/shm/holt-space-bench-control" ;;
                    *) die "unknown control $control (ext4, tmpfs)" ;;
                esac
                rm -rf "$dir"; mkdir -p "$dir"
                rm_scenario "$control" "$dir" "$dir"
                rm -rf "$dir"
            done
            ;;
        churn) churn_scenario ;;
        *) die "unknown scenario $scenario (rm, churn)" ;;
    esac
done
emit "{\"end\": {\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"uptime\": \"$(uptime | sed 's/^ *//')\"}}"
python3 "$here/summarize-space.py" "$out"
cat "$out/summary.md"
