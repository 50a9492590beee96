"""A live mount, operated: `holtfs stats MNT` asks the daemon over DB/control.sock for its live
counters (text, --json, --watch), `--metrics HOST:PORT` serves Prometheus text at /metrics,
`--log-level` decides what the log keeps, and dump/check of a mounted database read a snapshot
from its daemon.

Every wait is a poll with a deadline; every process a test starts is killed in its cleanup.
"""
import json
import os
import re
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

from support import check, fail, is_mounted, poll_until, run, tail, Skipped
from test_command import one_line_error

WATCH_DEADLINE = 8.0   # seconds for --watch to print two reports (it prints one a second)


def stats(ctx, target, *args):
    r = run([ctx.holtfs, "stats", target, *args], timeout=30)
    check(r.returncode == 0, "holtfs stats %s %s: exit %d: %r" % (target, " ".join(args), r.returncode, r.stderr))
    return r.stdout


def stats_json(ctx, target):
    out = stats(ctx, target, "--json")
    try:
        return json.loads(out)
    except ValueError as e:
        fail("holtfs stats --json printed no JSON (%s): %r" % (e, out[:2000]))


def request_counts(text):
    """{op: count} from the request table of `holtfs stats` text."""
    counts = {}
    in_table = False
    for line in text.splitlines():
        if line.startswith("requests "):
            in_table = True
            continue
        if in_table:
            if not line.startswith("  "):
                break
            fields = line.split()
            counts[fields[0]] = int(fields[1])
    return counts


def make_files(mnt, count, prefix="f"):
    for i in range(count):
        with open(os.path.join(mnt, "%s%03d" % (prefix, i)), "w") as f:
            f.write("x" * i)


def test_stats_of_a_live_mount_shows_moving_counters(ctx):
    """stats MNT and stats DB ask the daemon: request counts per operation rise with the work done,
    and the engine's counters and the handles are there."""
    m = ctx.mount()
    before = stats(ctx, m.mnt)
    check("state: mounted at %s (daemon pid %d" % (m.mnt, m.proc.pid) in before, "stats before: %r" % before)
    check("requests " in before, "no request table: %r" % before)
    counts_before = request_counts(before)
    make_files(m.mnt, 50)
    after = stats(ctx, m.mnt)
    counts_after = request_counts(after)
    for op in ("create", "lookup"):
        check(counts_after.get(op, 0) >= counts_before.get(op, 0) + 50,
              "%s went from %s to %s after 50 creates:\n%s" % (op, counts_before.get(op), counts_after.get(op), after))
    check(counts_after.get("write", 0) >= 49, "writes: %r" % counts_after)
    for line in ("cache: ", "dirty bytes: ", "log: ", "checkpoints: ", "handles: "):
        check(any(l.startswith(line) for l in after.splitlines()), "no %r line in:\n%s" % (line, after))
    # The same daemon answers for the database directory.
    by_db = stats(ctx, m.db)
    check(request_counts(by_db).get("create", 0) >= 50, "stats DB: %r" % by_db)
    sock = os.path.join(m.db, "control.sock")
    info = os.stat(sock)
    check(stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600,
          "control.sock mode %o" % info.st_mode)
    m.umount()
    check(not os.path.exists(sock), "control.sock left after the unmount")
    r = run([ctx.holtfs, "stats", m.db])
    check(r.returncode == 0 and "state: offline" in r.stdout, "stats after unmount: %r %r" % (r.stdout, r.stderr))


def test_stats_json_parses_and_counts(ctx):
    m = ctx.mount()
    make_files(m.mnt, 20)
    held = open(os.path.join(m.mnt, "f001"))
    ctx.on_cleanup(held.close)
    report = stats_json(ctx, m.mnt)
    check(report.get("state") == "mounted" and report.get("pid") == m.proc.pid, "report: %r" % report)
    check(report.get("mountpoint") == m.mnt and report.get("database") == m.db, "paths: %r" % report)
    create = report["requests"]["create"]
    check(create["count"] >= 20 and create["errors"] == 0, "create: %r" % create)
    check(0 < create["p50Nanoseconds"] <= create["p99Nanoseconds"], "percentiles: %r" % create)
    check(report["filesystem"]["openFiles"] >= 1, "the open file is not counted: %r" % report["filesystem"])
    engine = report["engine"]
    check(engine["logRecords"] >= 20 and engine["logSyncs"] >= 1 and engine["cacheHits"] > 0, "engine: %r" % engine)
    check(report["uptimeSeconds"] > 0 and report["disk"]["bytes"] > 0, "report: %r" % report)
    held.close()
    # Offline, --json too.
    m.umount()
    offline = stats_json(ctx, m.db)
    check(offline["state"] == "offline" and offline["keys"]["keys"] >= 20, "offline: %r" % offline)


def _collect(proc, lines):
    for line in proc.stdout:
        lines.append(line)


def test_stats_watch_refreshes_until_killed(ctx):
    m = ctx.mount()
    for args, is_report in ((["--watch"], lambda line: line.startswith("state: mounted")),
                            (["--watch", "--json", "--interval", "0.5"], lambda line: line.startswith("{"))):
        proc = subprocess.Popen([ctx.holtfs, "stats", m.mnt, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        ctx.on_cleanup(lambda proc=proc: (proc.kill(), proc.wait()))
        lines = []
        reader = threading.Thread(target=_collect, args=(proc, lines), daemon=True)
        reader.start()
        make_files(m.mnt, 5, prefix="w%d-" % len(args))
        poll_until(lambda: sum(1 for line in lines if is_report(line)) >= 2, WATCH_DEADLINE,
                   "two reports of holtfs stats %s" % " ".join(args),
                   lambda: "\n  printed: %r\n  stderr: %r" % ("".join(lines)[-2000:], proc.poll()))
        check(proc.poll() is None, "stats --watch exited by itself: %r" % "".join(lines)[-2000:])
        proc.kill()
        proc.wait(timeout=10)
        if "--json" in args:
            reports = [json.loads(line) for line in lines if line.startswith("{")]
            check(reports[1]["uptimeSeconds"] > reports[0]["uptimeSeconds"], "the reports do not move")
    # --watch of a database that is not mounted: one line, non-zero.
    one_line_error(run([ctx.holtfs, "stats", ctx.path("missing.db"), "--watch"], timeout=10), "stats")


def _scrape(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def _sample(text, name, labels=""):
    """The value of the sample `name{labels}` in Prometheus text, or None."""
    pattern = re.compile(r"^%s%s (\S+)$" % (re.escape(name), re.escape("{%s}" % labels) if labels else ""), re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else None


def test_metrics_endpoint_counts_requests(ctx):
    """The daemon (started by `holtfs mount`, so the settings cross to it) serves /metrics on the
    port it picked; holtfs stats names it; the request counter rises with the work done."""
    r, m = ctx.mount_daemon(args=["-o", "metrics=127.0.0.1:0"])
    check(r.returncode == 0, "mount: %r%s" % (r.stderr, m.log_tail()))
    url = stats_json(ctx, m.mnt).get("metrics")
    check(url and re.match(r"^http://127\.0\.0\.1:[1-9][0-9]*/metrics$", url), "metrics URL: %r" % url)
    content_type, before = _scrape(url)
    check(content_type.startswith("text/plain") and "version=0.0.4" in content_type, content_type)
    created_before = _sample(before, "holtfs_requests_total", 'op="create"')
    check(created_before is not None, "no holtfs_requests_total{op=\"create\"} in:\n" + before[:3000])
    make_files(m.mnt, 30)
    _, after = _scrape(url)
    created_after = _sample(after, "holtfs_requests_total", 'op="create"')
    check(created_after >= created_before + 30, "create went from %s to %s" % (created_before, created_after))
    for name, labels in (("holtfs_request_duration_seconds_count", 'op="create"'),
                         ("holtfs_request_errors_total", 'op="create"'),
                         ("holtfs_engine_log_syncs_total", ""), ("holtfs_engine_dirty_bytes", ""),
                         ("holtfs_engine_cache_hits_total", ""), ("holtfs_open_files", ""),
                         ("holtfs_uptime_seconds", "")):
        check(_sample(after, name, labels) is not None, "no %s{%s} in:\n%s" % (name, labels, after[:3000]))
    check(_sample(after, "holtfs_request_duration_seconds_count", 'op="create"') >= 30, "duration count")
    check(_sample(after, "holtfs_engine_log_syncs_total") >= 1, "log syncs")
    try:
        _scrape(url.replace("/metrics", "/nothing"))
        fail("/nothing answered 200")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "/nothing: %d" % e.code)
    m.umount()


def test_metrics_bad_or_busy_address_fails_one_line(ctx):
    mnt = ctx.dir("mnt")
    ctx._register_mount_cleanup(mnt, ctx.path("x.db"), [None])  # in case a refusal regresses
    for address in ("nonsense", "127.0.0.1", "127.0.0.1:99999", "example.com:80"):
        line = one_line_error(run([ctx.holtfs, "mount", "--metrics", address, ctx.path("x.db"), mnt]), "mount")
        check(address in line, "the line does not name the address: %r" % line)
    busy = socket.socket()
    ctx.on_cleanup(busy.close)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    ctx._register_mount_cleanup(mnt, ctx.path("y.db"), [None])
    r = run([ctx.holtfs, "mount", "--metrics", "127.0.0.1:%d" % port, ctx.path("y.db"), mnt], timeout=60)
    line = one_line_error(r, "mount")
    check("cannot serve metrics" in line and "in use" in line, line)
    check(not is_mounted(mnt), "mounted although the metrics port is taken")


LOG_LINE = re.compile(r"^\S+ (trace|debug|info|notice|warning|error|critical) holtfs\[\d+\]: ", re.M)


def test_log_level_decides_what_the_log_keeps(ctx):
    m = ctx.mount(args=["--log-level", "debug"], name="debug")
    stats(ctx, m.mnt)
    m.umount()
    with open(m.log) as f:
        levels = [found.group(1) for found in LOG_LINE.finditer(f.read())]
    check("debug" in levels and "info" in levels, "levels in the debug log: %r\n%s" % (levels, tail(m.log)))

    m = ctx.mount(args=["-o", "log-level=error"], name="error")
    make_files(m.mnt, 3)
    stats(ctx, m.mnt)
    m.umount()
    with open(m.log) as f:
        text = f.read()
    levels = [found.group(1) for found in LOG_LINE.finditer(text)]
    check(all(level in ("error", "critical") for level in levels), "an error-level log has %r:\n%s" % (levels, text))
    z_db, z_mnt = ctx.path("z.db"), ctx.dir("z.mnt")
    ctx._register_mount_cleanup(z_mnt, z_db, [None])  # in case the refusal regresses
    one_line_error(run([ctx.holtfs, "mount", "--log-level", "chatty", z_db, z_mnt]), "mount")


def test_dump_and_check_of_a_mounted_database_read_a_snapshot(ctx):
    """Both ask the daemon, which reads one snapshot while the mount serves (see test_snapshots)."""
    m = ctx.mount()
    with open(os.path.join(m.mnt, "f"), "w") as f:
        f.write("x")
    for op in ("dump", "check"):
        for target in (m.db, m.mnt):
            r = run([ctx.holtfs, op, target])
            check(r.returncode == 0, "%s %s: exit %d: %r" % (op, target, r.returncode, r.stderr))
    r = run([ctx.holtfs, "dump", m.mnt, "--json"])
    check(r.returncode == 0 and '"end":true' in r.stdout, "dump --json: %r %r" % (r.stdout[-300:], r.stderr))
    m.umount()


def test_the_control_socket_answers_only_its_owner_and_root(ctx):
    """Another user can neither connect to DB/control.sock (mode 0600) nor get live counters."""
    from test_operations import TEST_USER, _as_user, _ensure_test_user
    if run(["which", "setpriv"]).returncode != 0:
        raise Skipped("setpriv is missing")
    _ensure_test_user(ctx)
    m = ctx.mount()
    holtfs = ctx.holtfs
    if _as_user(["test", "-x", holtfs]).returncode != 0:
        holtfs = ctx.path("holtfs")
        subprocess.run(["cp", ctx.holtfs, holtfs], check=True)
        os.chmod(holtfs, 0o755)
    r = _as_user([holtfs, "stats", m.db, "--json"], timeout=30)
    line = one_line_error(r, "stats")
    check("owner" in line, "the refusal does not say who may ask: %r" % line)
    r = _as_user(["python3", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])",
                  os.path.join(m.db, "control.sock")], timeout=30)
    check(r.returncode != 0 and "Permission denied" in r.stderr, "%s could connect: %r" % (TEST_USER, r.stderr))
    # Root still can.
    check(request_counts(stats(ctx, m.mnt)), "root's stats has no request table")
    m.umount()
