#!/usr/bin/env python3
"""The cost curve of issue 16 as an SVG line plot: put and get ops/s (log scale) against the key
count (log scale), one line per system, the cache fixed; from bench/scale.sh's run records
(*.run.json). A filled dot is a finished workload; a hollow one a workload that did not finish
within its budget (or was OOM-killed), at its average rate until it was stopped (an upper bound on
the rate of the whole workload, which only slows down as the store grows). Runs under the default
memory limit of bench/scale.sh are dots on thick lines; runs under a limit raised with --mem-mib
are squares on thin lines. Plain SVG written by hand: no plotting library.

    bench/plot-cost-curve.py [DIR] [--cache-mib 32] [--out docs/scale-cost-curve.svg]
"""
import argparse
import glob
import json
import math
import os

SYSTEMS = [("holt", "#d62728"), ("rocksdb", "#1f77b4"), ("lmdb", "#2ca02c"), ("sqlite", "#9467bd")]
PANEL_W, PANEL_H = 360, 260
LEFT, TOP, GAP, BOTTOM = 80, 60, 90, 125


def default_limit(record: dict) -> int:
    """bench/scale.sh's default memory limit for the record's key count and cache, in MiB."""
    return (record["keys"] * 160 + 999_999) // 1_000_000 + record["cache_mib"] + 160


def points(records: list[dict], system: str, workload: str, raised: bool) -> list[tuple[int, float, bool]]:
    """(keys, ops/s, finished) of `system`'s `workload` at each key count it reached, from its
    runs under the default limit (or, `raised`, under a limit set with --mem-mib)."""
    out = []
    mine = [r for r in records if r["system"] == system and (r["mem_limit_mib"] != default_limit(r)) == raised]
    for r in sorted(mine, key=lambda r: r["keys"]):
        row = next((x for x in r["finished"] if x["workload"] == workload), None)
        progress = r.get("last_progress")
        if row:
            out.append((r["keys"], row["ops_per_sec"], True))
        elif progress and progress["workload"] == workload and progress["seconds"] > 0:
            out.append((r["keys"], progress["done"] / progress["seconds"], False))
    return out


def decades(low: float, high: float) -> list[float]:
    """The powers of ten from below `low` to above `high`."""
    return [10.0 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]


def label(value: float) -> str:
    """1000 → 1k, 1000000 → 1M."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def panel(x0: float, title: str, series: dict, keys: list[int], ys: list[float]) -> list[str]:
    """The SVG elements of one panel with its left edge at `x0`."""
    kmin, kmax = min(keys) / 1.25, max(keys) * 1.25
    ymin, ymax = decades(min(ys), max(ys))[0], decades(min(ys), max(ys))[-1]

    def x(k: float) -> float:
        return x0 + PANEL_W * (math.log10(k) - math.log10(kmin)) / (math.log10(kmax) - math.log10(kmin))

    def y(v: float) -> float:
        return TOP + PANEL_H * (1 - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)))

    e = [f'<text x="{x0 + PANEL_W / 2}" y="{TOP - 14}" text-anchor="middle" font-weight="bold">{title}</text>',
         f'<rect x="{x0}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#333"/>']
    for v in decades(ymin, ymax):
        e.append(f'<line x1="{x0}" y1="{y(v):.1f}" x2="{x0 + PANEL_W}" y2="{y(v):.1f}" stroke="#ddd"/>')
        e.append(f'<text x="{x0 - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{label(v)}</text>')
    for k in keys:
        e.append(f'<line x1="{x(k):.1f}" y1="{TOP}" x2="{x(k):.1f}" y2="{TOP + PANEL_H}" stroke="#eee"/>')
        e.append(f'<text x="{x(k):.1f}" y="{TOP + PANEL_H + 18}" text-anchor="middle">{label(k)}</text>')
    e.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP + PANEL_H + 40}" text-anchor="middle">keys (log scale)</text>')
    e.append(f'<text x="{x0 - 58}" y="{TOP + PANEL_H / 2}" text-anchor="middle" '
             f'transform="rotate(-90 {x0 - 58} {TOP + PANEL_H / 2})">ops/s (log scale)</text>')
    for (system, raised), pts in series.items():
        color = dict(SYSTEMS)[system]
        for (k1, v1, _), (k2, v2, done) in zip(pts, pts[1:]):
            dash = "" if done else ' stroke-dasharray="5,4"'
            e.append(f'<line x1="{x(k1):.1f}" y1="{y(v1):.1f}" x2="{x(k2):.1f}" y2="{y(v2):.1f}" '
                     f'stroke="{color}" stroke-width="{1 if raised else 2}"{dash}/>')
        for k, v, done in pts:
            fill = color if done else "white"
            shape = (f'<rect x="{x(k) - 4.5:.1f}" y="{y(v) - 4.5:.1f}" width="9" height="9"' if raised
                     else f'<circle cx="{x(k):.1f}" cy="{y(v):.1f}" r="4.5"')
            e.append(f'{shape} fill="{fill}" stroke="{color}" stroke-width="2"><title>{system}'
                     f'{" (raised limit)" if raised else ""} {label(k)} keys: {v:,.0f} ops/s'
                     f'{"" if done else " (did not finish)"}</title>{"</rect>" if raised else "</circle>"}')
    return e


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", nargs="?", default="bench-results/scale")
    parser.add_argument("--cache-mib", type=int, default=32)
    parser.add_argument("--out", default="docs/scale-cost-curve.svg")
    args = parser.parse_args()
    records = [json.load(open(p)) for p in glob.glob(os.path.join(args.directory, "*.run.json"))]
    records = [r for r in records if r["cache_mib"] == args.cache_mib]
    if not records:
        raise SystemExit(f"plot-cost-curve: no runs with a {args.cache_mib} MiB cache in {args.directory}")
    keys = sorted({r["keys"] for r in records})
    limits = ", ".join(f"{label(k)}: {default_limit({'keys': k, 'cache_mib': args.cache_mib})} MiB" for k in keys)
    raised = sorted({(r["system"], r["keys"], r["mem_limit_mib"]) for r in records if r["mem_limit_mib"] != default_limit(r)})
    width = LEFT + 2 * PANEL_W + GAP + 30
    height = TOP + PANEL_H + BOTTOM
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">Cost curve: {args.cache_mib} MiB cache, '
            f'memory cgroup limit per key count ({limits})</text>']
    for i, workload in enumerate(("put", "get")):
        series = {(s, up): points(records, s, workload, up) for s, _ in SYSTEMS for up in (False, True)}
        series = {key: pts for key, pts in series.items() if pts}
        ys = [v for pts in series.values() for _, v, _ in pts] or [1.0, 10.0]
        body += panel(LEFT + i * (PANEL_W + GAP), f"{workload} (ops/s)", series, keys, ys)
    legend_y = TOP + PANEL_H + 70
    for i, (system, color) in enumerate(SYSTEMS):
        lx = LEFT + i * 120
        body.append(f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 24}" y2="{legend_y}" stroke="{color}" stroke-width="2"/>')
        body.append(f'<circle cx="{lx + 12}" cy="{legend_y}" r="4.5" fill="{color}"/>')
        body.append(f'<text x="{lx + 30}" y="{legend_y + 4}">{system}</text>')
    body.append(f'<text x="{LEFT}" y="{legend_y + 22}">filled: finished; hollow: did not finish within its budget '
                f'or was OOM-killed (average rate until stopped, an upper bound; dashed line to it)</text>')
    if raised:
        runs = "; ".join(f"{s} {label(k)}: {m} MiB" for s, k, m in raised)
        body.append(f'<text x="{LEFT}" y="{legend_y + 40}">squares, thin line: runs under a raised memory limit ({runs})</text>')
    body.append("</svg>")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as out:
        out.write("\n".join(body) + "\n")
    print(f"plot-cost-curve: wrote {args.out} ({len(records)} runs, keys {', '.join(label(k) for k in keys)})")


if __name__ == "__main__":
    main()
