#!/usr/bin/env python3
"""Turn `holt-bench engine --json FILE` results into the Markdown table BENCHMARKS.md uses:
per workload, holt's throughput as a multiple of each peer's first (above 1: holt is faster),
then every system's ops/s with its p50/p99 latency.

    bench/engine-report.py bench-results/engine.json [more.json ...]

Several files are merged: rounds of the same run (`make bench` runs three) or systems run
separately. Where several files hold a row for the same workload and system, the row of the
median throughput is taken (with its own p50/p99), and the header says how many rounds each
cell is the median of. Ratios are of those medians.
"""
import json
import sys

WORKLOADS = ["put", "get", "get-miss", "list", "scan", "rename-prefix", "rename-prefix-1", "durable-put"]
SYSTEMS = ["holt", "rocksdb", "lmdb", "sqlite"]


def micros(ns: float) -> str:
    us = ns / 1000
    return f"{us:,.0f}" if us >= 100 else f"{us:.2g}" if us < 1 else f"{us:.1f}"


def rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}"


def main(paths: list[str]) -> None:
    runs, keys, machine = {}, set(), None
    for path in paths:
        data = json.load(open(path))
        keys.add(data["keys"])
        machine = data.get("machine", machine)
        for r in data["results"]:
            runs.setdefault((r["workload"], r["system"]), []).append(r)
    rows = {}
    for key, found in runs.items():
        found.sort(key=lambda r: r["ops_per_sec"])
        rows[key] = found[(len(found) - 1) // 2]  # the median (the lower one of an even count)
    rounds = sorted({len(found) for found in runs.values()})
    systems = [s for s in SYSTEMS if any(k[1] == s for k in rows)]
    peers = [s for s in systems if s != "holt"]
    header = ["workload"] + [f"holt ÷ {p}" for p in peers if "holt" in systems] + systems
    print(f"keys: {', '.join(str(k) for k in sorted(keys))}; median of {'/'.join(map(str, rounds))} "
          f"round(s) per cell; machine: {json.dumps(machine)}")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for w in WORKLOADS:
        holt = rows.get((w, "holt"))
        cells = [f"`{w}`"]
        if "holt" in systems:
            for p in peers:
                peer = rows.get((w, p))
                cells.append(f"**{holt['ops_per_sec'] / peer['ops_per_sec']:.2f}**"
                             if holt and peer and peer["ops_per_sec"] > 0 else "-")
        for s in systems:
            r = rows.get((w, s))
            cells.append(f"{rate(r['ops_per_sec'])} ({micros(r['p50_ns'])} / {micros(r['p99_ns'])} µs)" if r else "-")
        if any(c != "-" for c in cells[1:]):
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: engine-report.py RESULTS.json [MORE.json ...]")
    main(sys.argv[1:])
