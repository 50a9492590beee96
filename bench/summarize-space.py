#!/usr/bin/env python3
"""Summarize space-mount.sh results: OUT/events.jsonl (one JSON object per measurement) into
OUT/summary.json and OUT/summary.md.

    bench/summarize-space.py OUT

rm scenario: per kind (holtfs, then the plain-directory controls) the peak du (apparent `du -sb`
and allocated), the bytes written to reach it, and for holtfs the du timeline after `rm -rf`, the
first second at which each du fell below 10% of its peak (or "not within S s"), and du after the
unmount. churn: du and the database files' sizes after each round, and round N ÷ round 1.
The disk's sectors written (whole device) stay in summary.json only: on a shared machine other
processes' writes dominate them.
"""
import json
import sys
from pathlib import Path


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main(out: Path) -> None:
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]
    run = next((e["run"] for e in events if "run" in e), {})
    end = next((e["end"] for e in events if "end" in e), {})
    summary = {"run": run, "end": end, "rm": {}, "churn": None}
    lines = [f"space-mount: {run.get('date', '?')} to {end.get('date', '?')}, commit {run.get('commit', '?')}, "
             f"work dir {run.get('work', '?')} ({run.get('work_fs', '?')}), nproc {run.get('nproc', '?')}, "
             f"kernel {run.get('kernel', '?')}", "",
             f"uptime at start: `{run.get('uptime', '?')}`; at end: `{end.get('uptime', '?')}`", ""]

    rm_events = [e for e in events if e.get("scenario") == "rm"]
    kinds = list(dict.fromkeys(e["kind"] for e in rm_events))
    if kinds:
        lines += [f"### rm -rf of one {run.get('big_mib')} MiB file and {run.get('files'):,} empty files",
                  "",
                  "| | " + " | ".join(kinds) + " |",
                  "|---|" + "---|" * len(kinds)]
        table = {}
        for kind in kinds:
            mine = [e for e in rm_events if e["kind"] == kind]
            peak = next(e for e in mine if e["step"] == "peak")
            after_rm = next((e for e in mine if e["step"] == "rm"), None)
            polls = [e for e in mine if e["step"] == "poll"]
            final = next((e for e in mine if e["step"] == "end"), None)
            before_unmount = next((e for e in mine if e["step"] == "before-unmount"), None)
            below = {}
            for field in ("du_apparent", "du_allocated"):
                hit = next((p["second"] for p in polls if p[field] * 10 < peak[field]), None)
                if after_rm and after_rm[field] * 10 < peak[field]:
                    hit = 0
                below[field] = hit
            entry = {
                "peak_du_apparent": peak["du_apparent"], "peak_du_allocated": peak["du_allocated"],
                "writer_write_bytes": peak.get("writer_write_bytes"),
                "daemon_write_bytes_to_peak": peak.get("daemon_write_bytes"),
                "device_write_bytes_to_peak": peak.get("device_write_bytes"),
                "write_big_seconds": peak.get("write_big_seconds"), "create_seconds": peak.get("create_seconds"),
                "rm_seconds": after_rm and after_rm["rm_seconds"],
                "after_rm_du_apparent": after_rm and after_rm["du_apparent"],
                "after_rm_du_allocated": after_rm and after_rm["du_allocated"],
                "poll": [[p["second"], p["du_apparent"], p["du_allocated"]] for p in polls],
                "below_10pct_second_apparent": below["du_apparent"],
                "below_10pct_second_allocated": below["du_allocated"],
                "daemon_write_bytes_total": before_unmount and before_unmount["daemon_write_bytes"],
                "engine_at_peak": peak.get("engine"),
                "engine_before_unmount": before_unmount and before_unmount.get("engine"),
                "end_du_apparent": final and final["du_apparent"], "end_du_allocated": final and final["du_allocated"],
                "device_write_bytes_total": final and final["device_write_bytes"],
                "end_files": final and final.get("files"),
            }
            table[kind] = entry
        summary["rm"] = table
        poll_limit = run.get("poll", 60)

        def row(label, fn):
            lines.append(f"| {label} | " + " | ".join(fn(table[k], k) for k in kinds) + " |")

        def opt(v, f=mib):
            return "-" if v is None else f(v)

        def when(v, k):
            if k != "holtfs":
                return "at once" if v == 0 else "-"
            return "not within %d s" % poll_limit if v is None else ("at once" if v == 0 else f"{v} s")

        row("write the big file, s", lambda e, k: opt(e["write_big_seconds"], str))
        row(f"create the empty files, s", lambda e, k: opt(e["create_seconds"], str))
        row("peak `du -sb` (apparent)", lambda e, k: mib(e["peak_du_apparent"]))
        row("peak du, allocated", lambda e, k: mib(e["peak_du_allocated"]))
        row("the writers' write_bytes (dirtied)", lambda e, k: opt(e["writer_write_bytes"]))
        row("daemon write_bytes to the peak", lambda e, k: opt(e["daemon_write_bytes_to_peak"]) if k == "holtfs" else "-")
        def engine(e, key, field):
            return opt(e[key][field]) if e.get(key) else "-"

        row("holt log bytes appended to the peak", lambda e, k: engine(e, "engine_at_peak", "logBytes"))
        row("holt blob bytes written to the peak", lambda e, k: engine(e, "engine_at_peak", "dataBytesWritten"))
        row("`rm -rf`, s", lambda e, k: opt(e["rm_seconds"], str))
        row("du -sb right after rm -rf", lambda e, k: opt(e["after_rm_du_apparent"]))
        row("du allocated right after rm -rf", lambda e, k: opt(e["after_rm_du_allocated"]))
        row("`du -sb` below 10% of peak after", lambda e, k: when(e["below_10pct_second_apparent"], k))
        row("du allocated below 10% of peak after", lambda e, k: when(e["below_10pct_second_allocated"], k))
        row("daemon write_bytes, mount to unmount", lambda e, k: opt(e["daemon_write_bytes_total"]) if k == "holtfs" else "-")
        row("holt log bytes appended, mount to unmount", lambda e, k: engine(e, "engine_before_unmount", "logBytes"))
        row("holt blob bytes written, mount to unmount", lambda e, k: engine(e, "engine_before_unmount", "dataBytesWritten"))
        row("du -sb at the end (after the unmount)", lambda e, k: opt(e["end_du_apparent"]))
        row("du allocated at the end", lambda e, k: opt(e["end_du_allocated"]))
        holt = table.get("holtfs")
        if holt and holt["poll"]:
            lines += ["", "holtfs after `rm -rf`, second: du -sb / allocated (MiB)", "",
                      ", ".join(f"{s}: {a / 2**20:.1f} / {b / 2**20:.1f}" for s, a, b in holt["poll"])]
        if holt and holt["end_files"]:
            lines += ["", "holtfs database files after the unmount: "
                      + ", ".join(f"`{f['name']}` {f['size']:,} B ({f['allocated']:,} allocated)" for f in holt["end_files"])]
        lines.append("")

    rounds = [e for e in events if e.get("scenario") == "churn" and e["step"] == "round"]
    if rounds:
        after = next((e for e in events if e.get("scenario") == "churn" and e["step"] == "after-unmount"), None)
        first = rounds[0]

        def biggest(e):
            return max((f["size"] for f in e["db_files"]), default=0)

        def sizes(e):
            return " / ".join(f"{f['size'] / 2**20:.1f}" for f in e["db_files"] if f["name"] == "blobs" or f["name"].startswith("wal/")) or "-"

        lines += [f"### churn: {len(rounds)} rounds of {first['files']:,} files of {first['file_bytes']:,} bytes, created then `rm -rf`",
                  "", "Top: du once the files exist (before the rm -rf); after: du right after the rm -rf.", "",
                  "| round | create s | rm s | top: du -sb / allocated | after: du -sb | after: du allocated | blobs / wal files, size MiB | holt log MiB appended (cumulative) | du -sb ÷ round 1 | allocated ÷ round 1 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for e in rounds:
            log_bytes = (e.get("engine") or {}).get("logBytes")
            top = (f"{mib(e['top_du_apparent'])} / {mib(e['top_du_allocated'])}" if "top_du_apparent" in e else "-")
            lines.append(f"| {e['round']} | {e['create_seconds']} | {e['rm_seconds']} | {top} | {mib(e['du_apparent'])} | "
                         f"{mib(e['du_allocated'])} | {sizes(e)} | {'-' if log_bytes is None else f'{log_bytes / 2**20:,.0f}'} | "
                         f"{e['du_apparent'] / first['du_apparent']:.2f} | {e['du_allocated'] / first['du_allocated']:.2f} |")
        if after:
            lines.append(f"| after unmount | | | | {mib(after['du_apparent'])} | {mib(after['du_allocated'])} | {sizes(after)} | | "
                         f"{after['du_apparent'] / first['du_apparent']:.2f} | "
                         f"{after['du_allocated'] / first['du_allocated']:.2f} |")
        last = rounds[-1]
        summary["churn"] = {
            "rounds": [{k: e.get(k) for k in ("round", "create_seconds", "rm_seconds", "top_du_apparent",
                                               "top_du_allocated", "du_apparent", "du_allocated",
                                               "daemon_write_bytes", "engine")} | {"largest_file": biggest(e)} for e in rounds],
            "after_unmount": after and {"du_apparent": after["du_apparent"], "du_allocated": after["du_allocated"],
                                        "largest_file": biggest(after)},
            "last_over_first_apparent": last["du_apparent"] / first["du_apparent"],
            "last_over_first_allocated": last["du_allocated"] / first["du_allocated"],
        }
        if "top_du_apparent" in first:
            summary["churn"]["top_last_over_first_apparent"] = last["top_du_apparent"] / first["top_du_apparent"]
            summary["churn"]["top_last_over_first_allocated"] = last["top_du_allocated"] / first["top_du_allocated"]
        lines += ["", f"round {last['round']} ÷ round 1, after the rm -rf: du -sb {summary['churn']['last_over_first_apparent']:.2f}, "
                  f"allocated {summary['churn']['last_over_first_allocated']:.2f} (target ≤ 1.2)"
                  + (f"; at the top of the round: du -sb {summary['churn']['top_last_over_first_apparent']:.2f}, "
                     f"allocated {summary['churn']['top_last_over_first_allocated']:.2f}" if "top_du_apparent" in first else ""), ""]

    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
