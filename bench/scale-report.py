#!/usr/bin/env python3
"""The Markdown tables of bench/scale.sh's runs (BENCHMARKS.md, "Larger than memory"), from every
SYSTEM-KEYS-cCACHE.run.json in a directory (bench/scale-record.py writes them):

1. per key count and cache: every system's ops/s with p50/p99 latency per workload, or how far a
   run that did not finish got; its wall time, the group's peak memory and the load average;
2. the issue's targets, holt ÷ peer under the same memory limit: put ÷ RocksDB, get ÷ LMDB (and
   holt's get p99 against 1 ms), list ÷ LMDB, scan ÷ LMDB (≥ 1.0 meets the target);
3. the load's I/O per key inserted (from /proc/PID/io, sampled while `put` ran);
4. the cost curve: put and get ops/s against the key count, per cache size, each cell with the
   memory limit of its run (a system may have runs under several limits: scale.sh --mem-mib).

A run whose load had more room (scale.sh --load-mem-mib) shows its put marked as such, and is
compared only with holt's run of the same kind; its put is compared with nothing.

    bench/scale-report.py bench-results/scale
"""
import glob
import json
import os
import sys

SYSTEMS = ["holt", "rocksdb", "lmdb", "sqlite"]
WORKLOADS = ["put", "get", "list", "scan"]
TARGETS = [("put", "rocksdb"), ("get", "lmdb"), ("list", "lmdb"), ("scan", "lmdb")]


def load(directory: str) -> list[dict]:
    """Every run record in `directory`, ordered by key count, cache and system."""
    records = [json.load(open(path)) for path in glob.glob(os.path.join(directory, "*.run.json"))]
    order = {s: i for i, s in enumerate(SYSTEMS)}
    return sorted(records, key=lambda r: (r["keys"], r["cache_mib"], order.get(r["system"], 99)))


def rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}"


def micros(ns: float) -> str:
    us = ns / 1000
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}" if us >= 1 else f"{us:.2f}"


def result(record: dict, workload: str) -> dict | None:
    """The finished `workload` row of `record`, if any."""
    return next((r for r in record["finished"] if r["workload"] == workload), None)


def cell(record: dict, workload: str) -> str:
    """`ops/s (p50 / p99 µs)`, or why there is none."""
    row = result(record, workload)
    if row:
        roomy = f" [loaded with {record['load_mem_limit_mib']:,} MiB]" if workload == "put" and record.get("load_mem_limit_mib") else ""
        return f"{rate(row['ops_per_sec'])} ({micros(row['p50_ns'])} / {micros(row['p99_ns'])} µs){roomy}"
    if workload not in record["workloads"]:
        return "-"
    progress = record.get("last_progress")
    if progress and progress["workload"] == workload:
        average = progress["done"] / progress["seconds"] if progress["seconds"] else 0
        stop = {"dnf": f"did not finish in {record['budget_s']} s", "oom": "OOM-killed"}.get(record["status"], "failed")
        return (f"{stop}: {progress['done']:,} of {progress['total']:,} in {progress['seconds']:.0f} s "
                f"({rate(average)}/s on average, {rate(progress['recent_ops_per_sec'])}/s at the end)")
    return {"dnf": "not reached", "oom": "not reached (OOM)"}.get(record["status"], "not reached (failed)")


def ratio(records: list[dict], workload: str, peer: str) -> str:
    """holt ÷ `peer` for `workload` among `records`, or why not."""
    def kind(r: dict) -> tuple:
        return (r["mem_limit_mib"], r.get("load_mem_limit_mib"))
    candidates = [r for r in records if r["system"] == peer and not (workload == "put" and r.get("load_mem_limit_mib"))]
    pairs = [(h, o) for o in candidates for h in records if h["system"] == "holt" and kind(h) == kind(o)]
    # A pair whose runs both finished the workload first.
    pairs.sort(key=lambda p: (result(p[0], workload) is None) + (result(p[1], workload) is None))
    holt, other = pairs[0] if pairs else (None, None)
    if holt is None or other is None:
        return "not run"
    a, b = result(holt, workload), result(other, workload)
    if a is None or b is None:
        missing = [name for name, row in (("holt", a), (peer, b)) if row is None]
        return f"- ({' and '.join(missing)} did not finish it)"
    text = f"{a['ops_per_sec'] / b['ops_per_sec']:.2f}"
    if workload == "get":
        text += f"; holt p99 {micros(a['p99_ns'])} µs ({'≤' if a['p99_ns'] <= 1e6 else '>'} 1 ms)"
    return text


def main(directory: str) -> None:
    records = load(directory)
    if not records:
        sys.exit(f"scale-report: no *.run.json in {directory}")
    groups: dict[tuple[int, int], list[dict]] = {}
    for record in records:
        groups.setdefault((record["keys"], record["cache_mib"]), []).append(record)
    for (keys, cache), group in groups.items():
        limits = sorted({r["mem_limit_mib"] for r in group})
        print(f"#### {keys:,} keys, {cache} MiB cache, memory limit {' or '.join(map(str, limits))} MiB "
              f"({group[0]['cgroup'].split()[0]} cgroup)")
        print()
        workloads = [w for w in WORKLOADS if any(w in r["workloads"] for r in group)]
        print("| system | limit MiB | " + " | ".join(f"{w} ops/s (p50 / p99)" for w in workloads)
              + " | wall s | peak MiB | load before → after |")
        print("|---" * (len(workloads) + 5) + "|")
        for r in group:
            limit = f"{r['mem_limit_mib']}" + (f" (load {r['load_mem_limit_mib']:,})" if r.get("load_mem_limit_mib") else "")
            print(f"| {r['system']} | {limit} | " + " | ".join(cell(r, w) for w in workloads)
                  + f" | {r['wall_s']:.0f} | {r['peak_memory_bytes'] / 2**20:.0f} | {r['load_before']} → {r['load_after']} |")
        print()
        targets = [(w, p) for w, p in TARGETS if w in workloads]
        if any(r["system"] == "holt" for r in group) and targets:
            print("| target (holt ÷ peer, ≥ 1.0) | " + " | ".join(f"{w} ÷ {p}" for w, p in targets) + " |")
            print("|---" * (len(targets) + 1) + "|")
            print("| measured | " + " | ".join(ratio(group, w, p) for w, p in targets) + " |")
            print()
        io = [r for r in group if r.get("put_io")]
        if io:
            print("| load I/O per key inserted | keys sampled | read B | written B | read syscalls | write syscalls "
                  "| rchar B | wchar B |")
            print("|---" * 8 + "|")
            for r in io:
                f = r["put_io"]
                print(f"| {r['system']} ({r['mem_limit_mib']} MiB) | {f['from_key']:,}–{f['to_key']:,} | {f['read_bytes_per_key']:,.0f} "
                      f"| {f['write_bytes_per_key']:,.0f} | {f['syscr_per_key']:.2f} | {f['syscw_per_key']:.2f} "
                      f"| {f['rchar_per_key']:,.0f} | {f['wchar_per_key']:,.0f} |")
            print()
    caches = sorted({c for _, c in groups})
    for cache in caches:
        counts = sorted({k for k, c in groups if c == cache})
        if len(counts) < 2:
            continue
        print(f"#### Cost curve, {cache} MiB cache: ops/s against keys")
        print()
        print("| system | workload | " + " | ".join(f"{k:,} keys" for k in counts) + " |")
        print("|---" * (len(counts) + 2) + "|")
        for system in SYSTEMS:
            for workload in ("put", "get"):
                cells = []
                for k in counts:
                    runs = [r for r in groups.get((k, cache), []) if r["system"] == system]
                    cells.append(" · ".join(f"{cell(r, workload)} [{r['mem_limit_mib']} MiB]" for r in runs) or "not run")
                if any(c != "not run" for c in cells):
                    print(f"| {system} | {workload} | " + " | ".join(cells) + " |")
        print()
    machine = next((r["machine"] for r in records if r.get("machine")), None)
    if machine:
        print(f"machine: {machine['cpu']}, {machine['nproc']} CPUs, {machine['memory_bytes'] / 2**30:.1f} GiB, "
              f"kernel {machine['kernel']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-results/scale")
