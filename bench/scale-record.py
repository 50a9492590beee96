#!/usr/bin/env python3
"""The record of one run of bench/scale.sh, written to BASE.run.json: how the run ended, what it
had finished, how far it got, and what it cost in I/O. Reads BASE.log (holt-bench's stderr),
BASE.samples (scale.sh's sampler) and BASE.engine.json (holt-bench's results, when it finished).

    bench/scale-record.py BASE --system S --keys N --cache-mib M --mem-mib L --budget S --exit RC
                          --wall S --peak BYTES --oom-kills K --dropped-caches true|false
                          --load-before "1 5 15" --load-after "1 5 15" --cgroup TEXT --workloads W,...

Status: "ok" (exit 0 and the JSON written), "dnf" (stopped by its budget: did not finish in S s),
"oom" (the group's OOM killer ended it) or "failed" (any other exit). Finished workloads come from
the JSON, or, when there is none, from holt-bench's result lines in the log. `put_io` is the
I/O of the load per key inserted: the difference of /proc/PID/io between the first and the last
sample taken while `put` was running, over the keys the progress lines say were inserted between
them (the progress line of a sample is at most 5 s older than the sample; both ends lag alike).
"""
import argparse
import json
import os
import re

RESULT = re.compile(r"^\[(?P<system>[a-z]+)\] (?P<workload>[a-z0-9-]+): (?P<ops>\d+) ops in (?P<seconds>[\d.]+) s, "
                    r"(?P<rate>[\d.]+) ops/s, p50 (?P<p50>[\d.]+) µs, p99 (?P<p99>[\d.]+) µs, "
                    r"p99\.9 (?P<p999>[\d.]+) µs, max (?P<max>[\d.]+) µs")
PROGRESS = re.compile(r"^\[(?P<system>[a-z]+)\] (?P<workload>[a-z0-9-]+): progress (?P<done>\d+) of (?P<total>\d+) "
                      r"ops after (?P<seconds>[\d.]+) s \((?P<rate>[\d.]+) ops/s in the last")
IO_FIELDS = ["rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes"]


def parse_samples(path: str) -> list[dict]:
    """Each sample line as a dict: elapsed, the /proc/PID/io fields, memory, and the progress line."""
    samples = []
    if not os.path.exists(path):
        return samples
    for line in open(path):
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        sample = {k: float(fields[k]) for k in ["elapsed", "memory", "anon", "file", *IO_FIELDS] if k in fields}
        match = PROGRESS.match(fields.get("last", "").replace("_", " "))
        if match:
            sample["workload"], sample["done"] = match["workload"], int(match["done"])
        samples.append(sample)
    return samples


def put_io(samples: list[dict]) -> dict | None:
    """Bytes and syscalls per key inserted during the load, from the samples taken in `put`."""
    during = [s for s in samples if s.get("workload") == "put" and all(k in s for k in IO_FIELDS)]
    if len(during) < 2 or during[-1]["done"] <= during[0]["done"]:
        return None
    first, last = during[0], during[-1]
    keys = last["done"] - first["done"]
    figures = {f"{k}_per_key": (last[k] - first[k]) / keys for k in IO_FIELDS}
    figures.update(keys=keys, seconds=last["elapsed"] - first["elapsed"], from_key=first["done"], to_key=last["done"])
    return figures


def finished_from_log(path: str) -> list[dict]:
    """holt-bench's result lines in the log, as the JSON's result rows (latencies in ns)."""
    rows = []
    for line in open(path) if os.path.exists(path) else []:
        match = RESULT.match(line)
        if match:
            rows.append({"workload": match["workload"], "system": match["system"], "ops": int(match["ops"]),
                         "seconds": float(match["seconds"]), "ops_per_sec": float(match["rate"]),
                         "p50_ns": float(match["p50"]) * 1000, "p99_ns": float(match["p99"]) * 1000,
                         "p999_ns": float(match["p999"]) * 1000, "max_ns": float(match["max"]) * 1000,
                         "from": "log"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base")
    for name in ["system", "cgroup", "workloads", "load-before", "load-after", "dropped-caches"]:
        parser.add_argument(f"--{name}", required=True)
    for name in ["keys", "cache-mib", "mem-mib", "budget", "exit", "peak", "oom-kills"]:
        parser.add_argument(f"--{name}", type=int, required=True)
    parser.add_argument("--load-mem-mib", type=int, default=0, help="the load's limit when it had more room (0: the same)")
    parser.add_argument("--wall", type=float, required=True)
    args = parser.parse_args()

    engine_path = args.base + ".engine.json"
    engine = json.load(open(engine_path)) if os.path.exists(engine_path) else None
    log_lines = open(args.base + ".log").read().splitlines() if os.path.exists(args.base + ".log") else []
    if args.oom_kills > 0:
        status = "oom"
    elif args.exit in (124, 137) and args.wall >= args.budget:
        status = "dnf"
    elif args.exit == 0 and engine is not None:
        status = "ok"
    else:
        status = "failed"
    progress = None
    for line in log_lines:
        match = PROGRESS.match(line)
        if match:
            progress = {"workload": match["workload"], "done": int(match["done"]), "total": int(match["total"]),
                        "seconds": float(match["seconds"]), "recent_ops_per_sec": float(match["rate"])}
    finished = engine["results"] if engine else finished_from_log(args.base + ".log")
    samples = parse_samples(args.base + ".samples")
    record = {
        "system": args.system, "keys": args.keys, "cache_mib": args.cache_mib, "mem_limit_mib": args.mem_mib,
        "load_mem_limit_mib": args.load_mem_mib or None,
        "limit_lowered": open(args.base + ".lowered").read().strip() if os.path.exists(args.base + ".lowered") else None,
        "workloads": args.workloads.split(","), "budget_s": args.budget, "status": status, "exit": args.exit,
        "wall_s": args.wall, "peak_memory_bytes": args.peak, "oom_kills": args.oom_kills,
        "dropped_caches": args.dropped_caches == "true", "cgroup": args.cgroup,
        "load_before": args.load_before, "load_after": args.load_after,
        "finished": finished, "last_progress": progress,
        "failures": [line for line in log_lines if "FAILED" in line],
        "put_io": put_io(samples),
        "last_sample": samples[-1] if samples else None,
        "machine": engine.get("machine") if engine else None,
    }
    with open(args.base + ".run.json", "w") as out:
        json.dump(record, out, indent=1)
    what = {"ok": "finished", "dnf": f"did not finish in {args.budget} s", "oom": "killed by the OOM killer",
            "failed": f"failed (exit {args.exit})"}[status]
    where = f"; last progress: {progress['workload']} {progress['done']} of {progress['total']}" \
        if progress and status != "ok" else ""
    print(f"scale.sh: {args.system} at {args.keys} keys {what} after {args.wall:.0f} s{where}", flush=True)


if __name__ == "__main__":
    main()
