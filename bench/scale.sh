#!/usr/bin/env bash
# scale.sh: a database many times larger than its cache (issue 16; BENCHMARKS.md, "Larger than memory").
#
#   bench/scale.sh [--scale 2m|10m|curve] [--keys N,N...] [--cache-mib M] [--mem-mib L]
#                  [--load-mem-mib R] [--systems holt,rocksdb,lmdb,sqlite] [--workloads W,W...] [--budget S]
#                  [--budget-for SYSTEM=S,...] [--holt-bench PATH] [--out DIR] [--db-dir DIR]
#
# Scales (the later options override what a scale sets):
#   2m     2,000,000 keys, 32 MiB cache, workloads put,get,list,scan (the default)
#   10m    10,000,000 keys, 256 MiB cache, workloads put,get,list,scan
#   curve  the cost curve: 1M, 2M and 10M keys, the cache fixed at 32 MiB, workloads put,get
#          (bench/plot-cost-curve.py draws it; the 2M point is the 2m scale's run when the
#          curve's own is left out with --keys 1000000,10000000)
# Every run is `holt-bench engine` for one system and one key count, inside a memory cgroup the
# script creates, that charges the page cache to the group too, so the OS cannot cache what the
# system's own cache does not hold:
#   cgroup v2  /sys/fs/cgroup/holt-bench-scale, memory.max = L, memory.swap.max = 0
#   cgroup v1  holt-bench-scale below the shell's own memory cgroup, memory.limit_in_bytes = L
#              (and memory.memsw.limit_in_bytes = L where swap accounting exists)
# The limit L defaults to 160 MiB per million keys (holt-bench's own memory: every key, the random
# orders, one latency per op; measured about 154 MiB per million) + the cache + 160 MiB (the
# system's memory beyond its cache, the binary and its libraries, and what page cache is left):
# 512 MiB at 2M keys and 32 MiB (as in the issue's first measurement), 2,016 MiB at 10M and
# 256 MiB, 352 MiB at 1M and 32 MiB, 1,792 MiB at 10M and 32 MiB.
# --load-mem-mib R: the load runs with R MiB, and the limit drops to L once the log shows that
# `put` finished (the write returns once the kernel has reclaimed the group's page cache down to
# L); the reads then run under L. For a peer whose load does not finish under L (LMDB at 2M
# keys): its reads can be measured under the limit all the same. Its put is not comparable, and
# the report says so; compare its reads with holt's run of the same kind. Runs are named
# BASE-loadR, and .lowered notes when the limit dropped.
# Before each run: sync and echo 3 > /proc/sys/vm/drop_caches. The shell moves itself into the
# group and execs holt-bench under `timeout` (the budget, default 1200 s, per system and key
# count; the key generation counts). A run stopped by its budget is recorded as "did not finish
# in S s" with its last progress line (holt-bench --progress-seconds 5) and the workloads it had
# finished. Every 5 s a sampler records holt-bench's /proc/PID/io, the group's memory (in all, anon
# and page cache) and the progress so far.
# Results in OUT (default bench-results/scale): per run BASE = SYSTEM-KEYS-cCACHE (-mLIMIT added
# with --mem-mib), BASE.engine.json (holt-bench's JSON, when it finished), .log (its stderr),
# .samples (the sampler), .run.json (the run's record: status, wall time, peak memory, I/O, load
# average, finished workloads); then OUT/scale.md, the
# tables of every record in OUT (bench/scale-report.py). The group is removed at the end, also
# after an error or ^C. Needs root and a memory cgroup; says so in one line otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
scale="2m"
keys="" cache_mib="" mem_mib="" load_mem_mib="" workloads=""
systems="holt,rocksdb,lmdb,sqlite"
budget=1200
budget_for=""
holt_bench=""
out="$root/bench-results/scale"
db_dir="/var/tmp/holt-bench-scale"
group_name="holt-bench-scale"
sample_seconds=5

usage() { sed -n '2,/^set /p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() { echo "scale.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --scale) scale="$2"; shift 2 ;;
        --keys) keys="$2"; shift 2 ;;
        --cache-mib) cache_mib="$2"; shift 2 ;;
        --mem-mib) mem_mib="$2"; shift 2 ;;
        --load-mem-mib) load_mem_mib="$2"; shift 2 ;;
        --systems) systems="$2"; shift 2 ;;
        --workloads) workloads="$2"; shift 2 ;;
        --budget) budget="$2"; shift 2 ;;
        --budget-for) budget_for="$2"; shift 2 ;;
        --holt-bench) holt_bench="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --db-dir) db_dir="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "scale.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
case "$scale" in
    2m) : "${keys:=2000000}" "${cache_mib:=32}" "${workloads:=put,get,list,scan}" ;;
    10m) : "${keys:=10000000}" "${cache_mib:=256}" "${workloads:=put,get,list,scan}" ;;
    curve) : "${keys:=1000000,2000000,10000000}" "${cache_mib:=32}" "${workloads:=put,get}" ;;
    *) die "unknown scale $scale (2m, 10m or curve)" ;;
esac

# The memory cgroup: its directory and the names of its files, or one line and exit.
[[ $(id -u) -eq 0 ]] || die "needs root (it creates a memory cgroup and drops the page cache)"
if [[ -f /sys/fs/cgroup/cgroup.controllers ]] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
    cgroup_version=2
    group="/sys/fs/cgroup/$group_name"
    if ! grep -qw memory /sys/fs/cgroup/cgroup.subtree_control; then
        echo +memory > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null \
            || die "cgroup v2 without the memory controller for child groups (cannot write +memory to /sys/fs/cgroup/cgroup.subtree_control)"
    fi
    limit_file=memory.max peak_file=memory.peak usage_file=memory.current
else
    v1_mount=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
    [[ -n "$v1_mount" ]] || die "no memory cgroup: neither cgroup v2 with the memory controller at /sys/fs/cgroup nor a cgroup v1 memory hierarchy"
    cgroup_version=1
    own=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3; exit }' /proc/self/cgroup)
    group="$v1_mount${own%/}/$group_name"
    limit_file=memory.limit_in_bytes peak_file=memory.max_usage_in_bytes usage_file=memory.usage_in_bytes
fi

if [[ -z "$holt_bench" ]]; then
    (cd "$root" && swift build -c release --product holt-bench >&2)
    holt_bench="$(cd "$root" && swift build -c release --show-bin-path)/holt-bench"
fi
[[ -x "$holt_bench" ]] || die "no holt-bench at $holt_bench"
mkdir -p "$out" "$db_dir"

sampler_pid="" lowering_pid=""
# Ends the sampler and the limit's watcher, anything of ours left in the group, and the group itself.
cleanup() {
    if [[ -n "$sampler_pid" ]]; then
        kill "$sampler_pid" 2>/dev/null || true
        wait "$sampler_pid" 2>/dev/null || true
        sampler_pid=""
    fi
    if [[ -n "$lowering_pid" ]]; then
        kill "$lowering_pid" 2>/dev/null || true
        wait "$lowering_pid" 2>/dev/null || true
        lowering_pid=""
    fi
    if [[ -d "$group" ]]; then
        for pid in $(cat "$group/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$group" 2>/dev/null && break; sleep 0.5; done
        [[ -d "$group" ]] && echo "scale.sh: could not remove $group" >&2
    fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Creates the group afresh with the limit of `$1` MiB.
make_group() {
    local bytes=$(($1 << 20))
    [[ -d "$group" ]] && cleanup
    mkdir "$group" || die "cannot create the cgroup $group"
    echo "$bytes" > "$group/$limit_file" || die "cannot set $group/$limit_file"
    if [[ $cgroup_version == 2 ]]; then
        [[ -f "$group/memory.swap.max" ]] && echo 0 > "$group/memory.swap.max"
    else
        [[ -f "$group/memory.memsw.limit_in_bytes" ]] && echo "$bytes" > "$group/memory.memsw.limit_in_bytes"
    fi
    return 0
}

# Once the log `$1` shows that `$2`'s put finished: lowers the group's limit to `$3` MiB and
# writes what happened to `$4` (--load-mem-mib).
lower_after_put() {
    local log=$1 system=$2 bytes=$(($3 << 20)) note=$4
    until grep -qE "^\[$system\] put: [0-9]+ ops in" "$log" 2>/dev/null; do sleep 0.2; done
    local started; started=$(date +%s.%N)
    if echo "$bytes" > "$group/$limit_file" 2>/dev/null; then
        if [[ $cgroup_version == 1 && -f "$group/memory.memsw.limit_in_bytes" ]]; then
            echo "$bytes" > "$group/memory.memsw.limit_in_bytes" 2>/dev/null || true
        fi
        echo "lowered to $3 MiB after the put, in $(since "$started") s" > "$note"
    else
        echo "could not lower the limit to $3 MiB after the put" > "$note"
    fi
}

# Seconds since `$1` (a `date +%s.%N`), to a tenth.
since() { awk -v from="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - from }'; }

# Every `sample_seconds`: the time, holt-bench's /proc/PID/io, the group's memory and the last
# progress or finished-workload line of the log `$2`, one line each, into `$1`.
sample() {
    local file=$1 log=$2 start pid
    start=$(date +%s.%N)
    while sleep "$sample_seconds"; do
        pid=$(head -n 1 "$group/cgroup.procs" 2>/dev/null) || continue
        [[ -n "$pid" && -r "/proc/$pid/io" ]] || continue
        printf 'elapsed=%s %s memory=%s %s last=%s\n' \
            "$(since "$start")" \
            "$(tr -d ' ' < "/proc/$pid/io" | tr ':\n' '= ')" \
            "$(cat "$group/$usage_file")" \
            "$(awk '$1 == "anon" || $1 == "rss" { printf "anon=%s ", $2 } $1 == "file" || $1 == "cache" { printf "file=%s ", $2 }' "$group/memory.stat")" \
            "$(grep -E '^\[[a-z]+\] [a-z0-9-]+: ' "$log" | tail -n 1 | tr ' ' '_')" >> "$file" || true
    done
}

# The budget of system `$1` in seconds.
budget_of() {
    local entry
    for entry in ${budget_for//,/ }; do
        [[ "${entry%%=*}" == "$1" ]] && { echo "${entry#*=}"; return; }
    done
    echo "$budget"
}

echo "scale.sh: cgroup v$cgroup_version at $group; out $out" >&2
for n in ${keys//,/ }; do
    limit=${mem_mib:-$(( (n * 160 + 999999) / 1000000 + cache_mib + 160 ))}
    for system in ${systems//,/ }; do
        base="$out/$system-$n-c$cache_mib${mem_mib:+-m$mem_mib}${load_mem_mib:+-load$load_mem_mib}"
        rm -f "$base".engine.json "$base".log "$base".samples "$base".run.json "$base".lowered
        seconds=$(budget_of "$system")
        sync
        dropped=true; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || dropped=false
        make_group "${load_mem_mib:-$limit}"
        load_before=$(cut -d' ' -f1-3 /proc/loadavg)
        echo "scale.sh: $system, $n keys, cache $cache_mib MiB, memory limit $limit MiB${load_mem_mib:+ ($load_mem_mib MiB for the load)}, budget $seconds s (load $load_before)" >&2
        : > "$base.samples"
        : > "$base.log"
        sample "$base.samples" "$base.log" & sampler_pid=$!
        if [[ -n "$load_mem_mib" ]]; then
            lower_after_put "$base.log" "$system" "$limit" "$base.lowered" & lowering_pid=$!
        fi
        started=$(date +%s.%N)
        set +e
        timeout --kill-after=20 "$seconds" sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' scale \
            "$group" "$holt_bench" engine --systems "$system" --keys "$n" --cache-mib "$cache_mib" \
            --workloads "$workloads" --json "$base.engine.json" --db-dir "$db_dir" --progress-seconds 5 \
            > /dev/null 2> "$base.log"
        status=$?
        set -e
        wall=$(since "$started")
        kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""
        if [[ -n "$lowering_pid" ]]; then
            kill "$lowering_pid" 2>/dev/null || true; wait "$lowering_pid" 2>/dev/null || true; lowering_pid=""
        fi
        peak=$(cat "$group/$peak_file" 2>/dev/null || echo 0)
        oom_kills=$(cat "$group/memory.events" "$group/memory.oom_control" 2>/dev/null | awk '$1 == "oom_kill" { print $2; exit }' || true)
        load_after=$(cut -d' ' -f1-3 /proc/loadavg)
        cleanup
        rm -rf "${db_dir:?}/$system" "${db_dir:?}/$system-space"
        python3 "$here/scale-record.py" "$base" --system "$system" --keys "$n" --cache-mib "$cache_mib" \
            --mem-mib "$limit" --load-mem-mib "${load_mem_mib:-0}" --budget "$seconds" --exit "$status" --wall "$wall" --peak "$peak" \
            --oom-kills "${oom_kills:-0}" --dropped-caches "$dropped" --load-before "$load_before" \
            --load-after "$load_after" --cgroup "v$cgroup_version $group $limit_file" --workloads "$workloads"
    done
done
python3 "$here/scale-report.py" "$out" | tee "$out/scale.md"
