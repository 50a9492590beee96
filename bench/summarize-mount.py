#!/usr/bin/env python3
"""Summarize mount-bench.sh results: the median per system, thread count and phase of
mdbench's JSON files OUT/raw/SYSTEM-tT-rR.json, written to OUT/summary.json and OUT/summary.md.

Ratios come first: holtfs (periodic) against passthrough_ll over the local disk (both durable
within seconds), and holtfs (always) against JuiceFS on SQLite with synchronous=FULL (both
durable per op). Above 1 means holtfs does more ops per second.
"""
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

PHASES = ["mkdir", "create", "stat", "readdir", "lookup-miss", "setxattr", "getxattr",
          "rename", "rename-cross", "chmod", "unlink", "rmdir"]
PAIRS = [("holtfs-periodic", "passthrough"), ("holtfs-always", "juicefs")]
SYSTEMS = ["holtfs-periodic", "holtfs-always", "passthrough", "juicefs"]


def main(out: Path) -> None:
    runs = defaultdict(list)  # (system, threads, phase) -> [phase result]
    for path in sorted((out / "raw").glob("*.json")):
        match = re.fullmatch(r"(.+)-t(\d+)-r(\d+)\.json", path.name)
        if not match:
            continue
        system, threads = match.group(1), int(match.group(2))
        for phase in json.loads(path.read_text())["phases"]:
            runs[(system, threads, phase["phase"])].append(phase)

    summary = []
    for (system, threads, phase), results in sorted(runs.items()):
        summary.append({
            "system": system, "threads": threads, "phase": phase, "rounds": len(results),
            "ops_per_sec": statistics.median(r["ops_per_sec"] for r in results),
            "p50_us": statistics.median(r["p50_us"] for r in results),
            "p99_us": statistics.median(r["p99_us"] for r in results),
        })
    (out / "summary.json").write_text(json.dumps({"results": summary}, indent=2) + "\n")

    by_key = {(r["system"], r["threads"], r["phase"]): r for r in summary}
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in summary)]
    systems += sorted({r["system"] for r in summary} - set(systems))
    pairs = [p for p in PAIRS if p[0] in systems and p[1] in systems]
    lines = []
    for threads in sorted({r["threads"] for r in summary}):
        lines.append(f"#### {threads} thread(s): ops/s, median of {max(r['rounds'] for r in summary)} rounds")
        lines.append("")
        header = ["phase"] + [f"{a} ÷ {b}" for a, b in pairs] + systems
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for phase in PHASES:
            row = [phase]
            for a, b in pairs:
                ra, rb = by_key.get((a, threads, phase)), by_key.get((b, threads, phase))
                row.append(f"**{ra['ops_per_sec'] / rb['ops_per_sec']:.2f}**"
                           if ra and rb and rb["ops_per_sec"] > 0 else "-")
            for system in systems:
                r = by_key.get((system, threads, phase))
                row.append(f"{r['ops_per_sec']:,.0f} (p99 {r['p99_us']:,.0f} µs)" if r else "-")
            if any(cell != "-" for cell in row[1:]):
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    (out / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize-mount.py OUT")
    main(Path(sys.argv[1]))
