#!/usr/bin/env python3
"""Turn `holt-bench engine --json FILE` results into the Markdown tables BENCHMARKS.md uses:
1. per workload, holt's throughput as a multiple of each peer's first (above 1: holt is faster),
   then every system's ops/s with its p50/p99 latency;
2. the tail of every workload and system: p99.9 / p99.99 / max latency;
3. the read/write ratios, per system: `read-with-writer` p99.9 ÷ `read-alone` p99.9 and
   throughput ÷ `read-alone`'s, the writer's keys/s, `get-2-threads` ÷ `get`, and
   `put-2-threads` ÷ `put-1-thread`.

    bench/engine-report.py bench-results/engine.json [more.json ...]

Several files are merged: rounds of the same run (`make bench` runs three) or systems run
separately. Where several files hold a row for the same workload and system, the row of the
median throughput is taken (with its own latencies and extra figures), and the header says how
many rounds each cell is the median of. Ratios are of those medians. Files from before the tail
fields existed still read (their tail cells show "-").
"""
import json
import sys

WORKLOADS = ["put", "get", "get-2-threads", "get-miss", "list", "scan", "rename-prefix", "rename-prefix-1",
             "durable-put", "read-alone", "read-with-writer", "put-1-thread", "put-2-threads"]
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
    tails(rows, systems)
    read_write(rows, systems)


def tails(rows: dict, systems: list[str]) -> None:
    """The tail latencies of the rows above: p99.9 / p99.99 / max, in µs."""
    print()
    print("Tail latency, µs: p99.9 / p99.99 / max (the same rows as above)")
    print()
    print("| workload | " + " | ".join(systems) + " |")
    print("|" + "---|" * (len(systems) + 1))
    for w in WORKLOADS:
        cells = []
        for s in systems:
            r = rows.get((w, s))
            fields = [r.get(f) for f in ("p999_ns", "p9999_ns", "max_ns")] if r else [None]
            cells.append(" / ".join(micros(f) for f in fields) if None not in fields else "-")
        if any(c != "-" for c in cells):
            print(f"| `{w}` | " + " | ".join(cells) + " |")


def ratio(numerator, denominator) -> str:
    return f"{numerator / denominator:.2f}" if numerator is not None and denominator else "-"


def read_write(rows: dict, systems: list[str]) -> None:
    """Per system, the ratios the read/write targets are stated in, from the rows above."""
    def field(w, s, name):
        r = rows.get((w, s))
        return None if r is None else r.get(name, r.get("extra", {}).get(name))

    lines = []
    for s in systems:
        rww_max = field("read-with-writer", s, "max_ns")
        writer = field("read-with-writer", s, "writer_keys_per_sec")
        cells = [
            ratio(field("read-with-writer", s, "p999_ns"), field("read-alone", s, "p999_ns")),
            ratio(field("read-with-writer", s, "ops_per_sec"), field("read-alone", s, "ops_per_sec")),
            micros(rww_max) if rww_max is not None else "-",
            rate(writer) if writer is not None else "-",
            ratio(field("get-2-threads", s, "ops_per_sec"), field("get", s, "ops_per_sec")),
            ratio(field("put-2-threads", s, "ops_per_sec"), field("put-1-thread", s, "ops_per_sec")),
        ]
        if any(c != "-" for c in cells):
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
    if not lines:
        return
    print()
    print("Read/write ratios (of the rows above)")
    print()
    print("| system | read-with-writer p99.9 ÷ read-alone p99.9 | read-with-writer ops/s ÷ read-alone | "
          "read-with-writer max µs | its writer, keys/s | get-2-threads ÷ get | put-2-threads ÷ put-1-thread |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: engine-report.py RESULTS.json [MORE.json ...]")
    main(sys.argv[1:])
