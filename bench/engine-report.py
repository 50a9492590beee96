#!/usr/bin/env python3
"""Turn `holt-bench engine --json FILE` results into the Markdown tables BENCHMARKS.md uses:
1. per workload, holt's throughput as a multiple of each peer's first (above 1: holt is faster),
   then every system's ops/s with its p50/p99 latency;
2. the tail of every workload and system: p99.9 / p99.99 / max latency;
3. the read/write ratios, per system: `read-with-writer` p99.9 ÷ `read-alone` p99.9 and
   throughput ÷ `read-alone`'s, the writer's keys/s, `get-2-threads` ÷ `get`, and
   `put-2-threads` ÷ `put-1-thread`;
4. space: per system the bytes on disk after the load (allocated, as du) ÷ the bytes of the keys
   and values (median of the rounds), holt's amplification ÷ each peer's, and the same after an
   in-place full compaction where the system has one;
5. compaction beside a reader: the reader's p50/p99/p99.9/max with the deleter compacting
   (`read-with-compaction`) and without (`read-with-deleter`), each the median of the rounds,
   and the p99 ratio.

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
             "durable-put", "read-alone", "read-with-writer", "put-1-thread", "put-2-threads",
             "read-with-deleter", "read-with-compaction"]
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
    space(runs, systems)
    compaction(runs, systems)


def median(values: list):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def space(runs: dict, systems: list[str]) -> None:
    """Bytes on disk ÷ bytes of keys and values after the load, median of the rounds."""
    found = {s: runs.get(("space", s), []) for s in systems}
    found = {s: r for s, r in found.items() if r}
    if not found:
        return
    amp = {s: median([r.get("amplification") for r in rs]) for s, rs in found.items()}
    disk = {s: median([r.get("disk_bytes") for r in rs]) for s, rs in found.items()}
    apparent = {s: median([r.get("apparent_bytes") for r in rs]) for s, rs in found.items()}
    after = {s: median([r.get("extra", {}).get("amplification_after_compaction") for r in rs]) for s, rs in found.items()}
    live = median([r.get("live_bytes") for rs in found.values() for r in rs])
    print()
    print(f"Space after the load: bytes on disk (allocated, as du) ÷ {live / 1e6:,.1f} MB of keys and values; "
          f"median of {'/'.join(sorted({str(len(r)) for r in found.values()}))} round(s)")
    print()
    print("| system | amplification | holt ÷ system | on disk | apparent (du -sb) | after full compaction | rounds |")
    print("|---|---|---|---|---|---|---|")
    for s in found:
        rounds = ", ".join(f"{r['amplification']:.3f}" for r in found[s])
        print(f"| {s} | **{amp[s]:.3f}×** | {ratio(amp.get('holt'), amp[s])} | {disk[s] / 1e6:,.1f} MB | "
              f"{apparent[s] / 1e6:,.1f} MB | {f'{after[s]:.3f}×' if after[s] is not None else '-'} | {rounds} |")
    peers = [s for s in found if s != "holt"]
    if "holt" in amp and peers:
        best = min(peers, key=lambda s: amp[s])
        print()
        print(f"holt {amp['holt']:.3f}× (target ≤ 1.5×); best peer {best} {amp[best]:.3f}×, "
              f"holt ÷ best peer {amp['holt'] / amp[best]:.2f} (target ≤ 1.2)")
    rocks = found.get("rocksdb")
    if rocks:
        extra = rocks[0].get("extra", {})
        levels = ", ".join(f"L{n} {extra.get(f'sst_files_level{n}', 0):.0f}" for n in range(7))
        print()
        below = sum(max(extra.get(f"sst_files_level{n}", 0), 0) for n in range(1, 7))
        print(f"rocksdb (round 1): SST files per level {levels} ({'a compaction ran' if below else 'no compaction ran'} "
              f"after the load); flushes and compactions wrote {extra.get('flush_compaction_write_gb', -1):.2f} GB "
              f"since open; no compression (as every workload)")


def compaction(runs: dict, systems: list[str]) -> None:
    """The reader beside a deleter, with and without compaction: medians of the rounds."""
    lines = []
    for s in systems:
        without, with_ = runs.get(("read-with-deleter", s), []), runs.get(("read-with-compaction", s), [])
        if not without and not with_:
            continue

        def m(rs, name):
            return median([r.get(name, r.get("extra", {}).get(name)) for r in rs])

        cells = []
        for rs in (without, with_):
            cells.append(" / ".join(micros(m(rs, f)) if m(rs, f) is not None else "-"
                                    for f in ("p50_ns", "p99_ns", "p999_ns", "max_ns")))
        p99 = ratio(m(with_, "p99_ns"), m(without, "p99_ns"))
        comp = m(with_, "compactions")
        lines.append(
            f"| {s} | {cells[0]} | {cells[1]} | **{p99}** | {rate(m(without, 'ops_per_sec') or 0)} / "
            f"{rate(m(with_, 'ops_per_sec') or 0)} | {comp if comp is not None else '-'} "
            f"({micros(m(with_, 'compaction_p50_ns') or 0)} / {micros(m(with_, 'compaction_max_ns') or 0)} µs) | "
            f"{(m(without, 'deleter_seconds') or 0):.1f} / {(m(with_, 'deleter_seconds') or 0):.1f} | "
            f"{(m(without, 'disk_bytes_after') or 0) / 1e6:,.1f} / {(m(with_, 'disk_bytes_after') or 0) / 1e6:,.1f} MB |")
    if not lines:
        return
    print()
    print("Compaction beside a reader: the reader's latency, µs, p50 / p99 / p99.9 / max (median of the rounds)")
    print()
    print("| system | without compaction (`read-with-deleter`) | with (`read-with-compaction`) | p99 with ÷ without | "
          "reader gets/s without / with | compactions (p50 / max) | deleter s without / with | on disk after, without / with |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))


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
