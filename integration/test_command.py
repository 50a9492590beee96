"""The holtfs command end to end: daemon mount and umount (what `make run` does), signals,
one-line errors for bad mounts, a second mount of a mounted database, and check/dump/stats.
"""
import os
import signal
import time

from support import (check, fail, is_mounted, lock_held, needs_persistence, poll_until, read_lock_file,
                     run, tail)


def one_line_error(r, operation):
    """r failed with exactly one stderr line `holtfs: <operation> ...: ...`."""
    lines = r.stderr.splitlines()
    check(r.returncode != 0, "expected a failure, got exit 0 (stdout %r)" % r.stdout)
    check(len(lines) == 1, "expected one stderr line, got %d: %r" % (len(lines), r.stderr))
    check(lines[0].startswith("holtfs: %s " % operation) or lines[0].startswith("holtfs: %s:" % operation),
          "stderr does not start with 'holtfs: %s': %r" % (operation, lines[0]))
    return lines[0]


def test_daemon_mount_umount_check(ctx):
    """`holtfs mount DB MNT` returns with the mount up; `holtfs umount` waits for a clean close."""
    r, m = ctx.mount_daemon()
    check(r.returncode == 0, "holtfs mount: exit %d: %s%s" % (r.returncode, r.stderr.strip(), m.log_tail()))
    check(r.stderr == "" and r.stdout == "", "holtfs mount printed %r %r" % (r.stdout, r.stderr))
    # The contract: the mount answers when the command returns, no polling needed.
    check(is_mounted(m.mnt, "fuse.holtfs"), "not mounted when holtfs mount returned")
    check(os.stat(m.mnt).st_dev != os.stat(os.path.dirname(m.mnt)).st_dev, "MNT shows the parent's file system")
    info = read_lock_file(m.db)
    check(info.get("state") == "mounted", "DB/holtfs.pid says %r" % info)
    pid = int(info["pid"])
    check(os.getsid(pid) == pid, "the daemon is not a session leader (setsid)")
    with open(os.path.join(m.mnt, "hello"), "w") as f:
        f.write("hello\n")
    os.mkdir(os.path.join(m.mnt, "dir"))
    r = run([ctx.holtfs, "umount", m.mnt])
    check(r.returncode == 0, "holtfs umount: exit %d: %s%s" % (r.returncode, r.stderr.strip(), m.log_tail()))
    # umount returns only after the daemon closed the database.
    check(not is_mounted(m.mnt), "still mounted after holtfs umount")
    check(not lock_held(m.db), "the daemon still holds the database after holtfs umount returned")
    check(read_lock_file(m.db).get("state") == "closed", "holtfs.pid: %r" % read_lock_file(m.db))
    check(not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z",
          "daemon pid %d still running" % pid)
    with open(m.log) as f:
        log = f.read()
    check("closed the database cleanly" in log, "log lacks the clean close:\n" + tail(m.log))
    r = run([ctx.holtfs, "check", m.db])
    check(r.returncode == 0, "holtfs check: exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))


def test_sigterm_unmounts_cleanly(ctx):
    """SIGTERM to the daemon unmounts, closes the database and exits 0."""
    m = ctx.mount()
    with open(os.path.join(m.mnt, "f"), "w") as f:
        f.write("x")
    m.proc.send_signal(signal.SIGTERM)
    m.wait_exit(expect_status=0)
    check(not is_mounted(m.mnt), "still mounted after SIGTERM")
    check(read_lock_file(m.db).get("state") == "closed", "holtfs.pid: %r" % read_lock_file(m.db))


def test_sigint_unmounts_cleanly(ctx):
    m = ctx.mount()
    m.proc.send_signal(signal.SIGINT)
    m.wait_exit(expect_status=0)
    check(not is_mounted(m.mnt), "still mounted after SIGINT")


def test_fusermount_unmount_ends_daemon(ctx):
    """An unmount from outside (fusermount3 -u) ends the foreground daemon with status 0."""
    m = ctx.mount()
    m.umount(via_command=False)
    check(read_lock_file(m.db).get("state") == "closed", "holtfs.pid: %r" % read_lock_file(m.db))


def test_mount_missing_dir_fails_one_line(ctx):
    missing = ctx.path("no-such-dir")
    for args in ([], ["-f"]):
        r = run([ctx.holtfs, "mount", *args, ctx.path("x.db"), missing], timeout=30)
        line = one_line_error(r, "mount")
        check(missing in line, "the line does not name the mount point: %r" % line)
    check(not os.path.exists(ctx.path("x.db")), "a failed mount created the database")


def test_mount_on_a_file_fails_one_line(ctx):
    f = ctx.path("file")
    open(f, "w").close()
    one_line_error(run([ctx.holtfs, "mount", ctx.path("x.db"), f]), "mount")


def test_mount_bad_options_fail_one_line(ctx):
    mnt = ctx.dir("mnt")
    one_line_error(run([ctx.holtfs, "mount", "--sync", "sometimes", ctx.path("x.db"), mnt]), "mount")
    one_line_error(run([ctx.holtfs, "mount", "--cache-mb", "0", ctx.path("x.db"), mnt]), "mount")
    one_line_error(run([ctx.holtfs, "mount", "-o", "a,,b", ctx.path("x.db"), mnt]), "mount")
    one_line_error(run([ctx.holtfs, "mount", "--max-file-size", "1.5G", ctx.path("x.db"), mnt]), "mount")
    # A chunk key holds 32 bits of the chunk index: 2^32 chunks of 32 KiB (128 TiB) at most.
    ctx._register_mount_cleanup(mnt, ctx.path("x.db"), [None])  # in case a refusal regresses
    for args in ([], ["-f"]):
        line = one_line_error(run([ctx.holtfs, "mount", *args, "--max-file-size", "%d" % ((1 << 47) + 1),
                                   ctx.path("x.db"), mnt], timeout=30), "mount")
        check("128T" in line, "the line does not give the largest size: %r" % line)
    check(not os.path.exists(ctx.path("x.db")), "a refused mount created the database")
    # An option libfuse does not know is reported by the daemon through the parent.
    ctx._register_mount_cleanup(mnt, ctx.path("y.db"), [None])
    r = run([ctx.holtfs, "mount", "-o", "no_such_fuse_option_xyz", ctx.path("y.db"), mnt], timeout=30)
    line = one_line_error(r, "mount")
    check("unknown option" in line, "libfuse's own explanation is missing: %r" % line)
    check(not is_mounted(mnt), "mounted despite a bad option")


def test_second_mount_of_same_db_fails_at_once(ctx):
    m = ctx.mount()
    with open(os.path.join(m.mnt, "keep"), "w") as f:
        f.write("first mount")
    other = ctx.dir("other.mnt")
    ctx._register_mount_cleanup(other, m.db, [None])
    start = time.monotonic()
    r = run([ctx.holtfs, "mount", m.db, other], timeout=30)
    elapsed = time.monotonic() - start
    line = one_line_error(r, "mount")
    check("in use" in line, "the reason does not say the database is in use: %r" % line)
    check(elapsed < 5, "the second mount took %.1f s to fail" % elapsed)
    check(not is_mounted(other), "the second mount is mounted")
    check(m.proc.poll() is None, "the first daemon died")
    with open(os.path.join(m.mnt, "keep")) as f:
        check(f.read() == "first mount", "the first mount lost its file")
    # Foreground too.
    one_line_error(run([ctx.holtfs, "mount", "-f", m.db, other], timeout=30), "mount")
    m.umount()


def test_umount_of_a_non_holtfs_path_fails_one_line(ctx):
    one_line_error(run([ctx.holtfs, "umount", ctx.root]), "umount")
    one_line_error(run([ctx.holtfs, "umount", "/proc"]), "umount")
    one_line_error(run([ctx.holtfs, "umount", ctx.path("missing")]), "umount")


def test_check_and_dump_of_a_mounted_database_ask_its_daemon(ctx):
    m = ctx.mount()
    os.mkdir(os.path.join(m.mnt, "dir"))
    for target in (m.mnt, m.db):
        r = run([ctx.holtfs, "check", target])
        check(r.returncode == 0, "check %s while mounted: exit %d: %r" % (target, r.returncode, r.stderr))
        r = run([ctx.holtfs, "dump", target])
        check(r.returncode == 0 and "dir" in r.stdout, "dump %s while mounted: exit %d: %r %r" % (
            target, r.returncode, r.stdout[:500], r.stderr))
    for target in (m.mnt, m.db):
        r = run([ctx.holtfs, "stats", target])
        check(r.returncode == 0, "stats %s: %s" % (target, r.stderr))
        check("state: mounted" in r.stdout, "stats %s while mounted: %r" % (target, r.stdout))
    m.umount()


def test_check_missing_database(ctx):
    r = run([ctx.holtfs, "check", ctx.path("nothing")])
    one_line_error(r, "check")
    check(r.returncode == 2, "exit %d, expected 2" % r.returncode)


@needs_persistence
def test_dump_and_stats_after_unmount(ctx):
    m = ctx.mount()
    os.makedirs(os.path.join(m.mnt, "alpha/beta"))
    with open(os.path.join(m.mnt, "alpha/beta/gamma"), "w") as f:
        f.write("g" * 100)
    m.umount()
    r = run([ctx.holtfs, "dump", m.db])
    check(r.returncode == 0, "dump: %s" % r.stderr)
    check("alpha/beta/gamma" in r.stdout, "dump lacks alpha/beta/gamma:\n" + r.stdout[:2000])
    r = run([ctx.holtfs, "dump", m.db, "alpha/beta", "--keys", "--json"])
    check(r.returncode == 0, "dump --keys --json: %s" % r.stderr)
    import json
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    check(any(row["key"] == "alpha/beta/gamma" for row in rows), "dump --json rows: %r" % rows[:10])
    check(all(row["key"].startswith("alpha/beta") for row in rows), "dump PREFIX leaked: %r" % rows[:10])
    r = run([ctx.holtfs, "stats", m.db])
    check(r.returncode == 0, "stats: %s" % r.stderr)
    keys = [int(line.split(":")[1]) for line in r.stdout.splitlines() if line.startswith("keys:")]
    check(keys and keys[0] >= 3, "stats keys: %r" % r.stdout)


@needs_persistence
def test_check_finds_a_flipped_byte(ctx):
    m = ctx.mount()
    for i in range(200):
        d = os.path.join(m.mnt, "d%02d" % (i % 20))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%03d" % i), "w") as f:
            f.write("content %d\n" % i)
    m.umount()
    r = run([ctx.holtfs, "check", m.db])
    check(r.returncode == 0, "check before damage: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
    files = []
    for dirpath, _, names in os.walk(m.db):
        for n in names:
            if n not in ("holtfs.log", "holtfs.pid", "LOCK"):
                p = os.path.join(dirpath, n)
                if os.path.getsize(p) > 0:
                    files.append((os.path.getsize(p), p))
    check(files, "no database files to damage in %s: %r" % (m.db, os.listdir(m.db)))
    # Damage the blob file (log segments are preallocated, so the largest file may be a log
    # segment whose tail is zeros): flip the first non-zero byte that lies past the first 4 KiB
    # of a 512 KiB region (a blob's data area, not its header), so the byte is live data that a
    # checksum covers; fall back to the middle of the file.
    blob_files = [p for _, p in files if os.path.basename(p) == "blobs"]
    check(blob_files, "no blob file in %s" % m.db)
    path = blob_files[0]
    with open(path, "r+b") as f:
        data = f.read()
        blob = 512 * 1024
        offset = len(data) // 2
        for base in range(0, len(data), blob):
            area = data[base + 4096:base + blob]
            if area.strip(b"\0"):
                offset = base + 4096 + (len(area) - len(area.lstrip(b"\0")))
                break
        f.seek(offset)
        f.write(bytes([data[offset] ^ 0xFF]))
    r = run([ctx.holtfs, "check", m.db])
    check(r.returncode == 1, "check after flipping byte %d of %s: exit %d, expected 1\n%s%s" % (
        offset, path, r.returncode, r.stdout, r.stderr))
    lines = (r.stdout + r.stderr).splitlines()
    check(lines and all(line.startswith("holtfs: check ") for line in lines), "check output: %r" % lines)


def test_umount_of_a_busy_mount_fails_and_keeps_it(ctx):
    """umount of a mount some process still uses fails with one line; the mount keeps serving."""
    import subprocess
    m = ctx.mount()
    os.mkdir(os.path.join(m.mnt, "inside"))
    busy = subprocess.Popen(["sleep", "60"], cwd=os.path.join(m.mnt, "inside"))
    ctx.on_cleanup(lambda: (busy.kill(), busy.wait()))
    r = run([ctx.holtfs, "umount", m.mnt])
    line = one_line_error(r, "umount")
    check(is_mounted(m.mnt, "fuse.holtfs"), "a failed umount left no mount: %r" % line)
    check(m.proc.poll() is None, "the daemon exited after a failed umount")
    check(os.path.isdir(os.path.join(m.mnt, "inside")), "the busy mount stopped answering")
    busy.kill()
    busy.wait()
    m.umount()


def test_umount_after_daemon_crash_reports_unclean_close(ctx):
    """A daemon killed by SIGKILL leaves a dead mount; umount removes it and says the close was unclean."""
    m = ctx.mount()
    m.proc.kill()
    m.proc.wait(timeout=30)
    check(is_mounted(m.mnt), "the dead mount vanished by itself")
    r = run([ctx.holtfs, "umount", m.mnt])
    line = one_line_error(r, "umount")
    check("cleanly" in line, "the line does not mention the unclean close: %r" % line)
    check(not is_mounted(m.mnt), "the dead mount is still there")
    # The database mounts again.
    m2 = ctx.mount(db=m.db, mnt=m.mnt, name="again")
    m2.umount()


def test_sync_modes_and_read_only(ctx):
    """--sync periodic/none, --max-file-size and -o ro mount and serve: EFBIG past the limit, EROFS
    for writes to a read-only mount."""
    import errno
    from support import expect_errno
    for args in (["--sync", "periodic", "--sync-interval-ms", "50"], ["--sync", "none"]):
        m = ctx.mount(args=args, name="sync-" + args[1])
        with open(os.path.join(m.mnt, "f"), "w") as f:
            f.write("data")
        with open(os.path.join(m.mnt, "f")) as f:
            check(f.read() == "data", "read back failed with %r" % args)
        m.umount()
    m = ctx.mount(args=["--max-file-size", "1M"], name="max")
    path = os.path.join(m.mnt, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        check(os.pwrite(fd, b"z", (1 << 20) - 1) == 1, "the last byte below the limit")
        expect_errno(errno.EFBIG, os.pwrite, fd, b"z", 1 << 20)
        expect_errno(errno.EFBIG, os.ftruncate, fd, (1 << 20) + 1)
    finally:
        os.close(fd)
    m.umount()
    # The largest maximum, 128 TiB: its last byte and the first one keep their own data.
    m = ctx.mount(args=["--max-file-size", "128T"], name="max128t")
    path = os.path.join(m.mnt, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        check(os.pwrite(fd, b"a", 0) == 1 and os.pwrite(fd, b"z", (1 << 47) - 1) == 1, "writes below 128 TiB")
        expect_errno(errno.EFBIG, os.pwrite, fd, b"z", 1 << 47)
        check(os.pread(fd, 1, 0) == b"a" and os.pread(fd, 1, (1 << 47) - 1) == b"z", "the two bytes mixed up")
    finally:
        os.close(fd)
    m.umount()
    m = ctx.mount(args=["-o", "ro"], name="ro")
    expect_errno(errno.EROFS, os.mkdir, os.path.join(m.mnt, "d"))
    expect_errno(errno.EROFS, open, os.path.join(m.mnt, "f"), "w")
    m.umount()


def test_mount_over_a_mount_fails_one_line(ctx):
    """A second database on a mount point already served, or a mount point left dead by a crash,
    is refused with one line; the first mount is untouched."""
    m = ctx.mount()
    r = run([ctx.holtfs, "mount", ctx.path("other.db"), m.mnt])
    line = one_line_error(r, "mount")
    check("already a holtfs mount" in line, line)
    check(m.proc.poll() is None and os.path.isdir(m.mnt), "the first mount suffered")
    m.proc.kill()
    m.proc.wait(timeout=30)
    r = run([ctx.holtfs, "mount", ctx.path("other.db"), m.mnt])
    line = one_line_error(r, "mount")
    check("holtfs umount" in line, "no hint at the dead mount: %r" % line)


def test_paths_with_spaces_and_relative_paths(ctx):
    """Mount points and databases named with spaces, given as relative paths, mount and unmount."""
    mnt = ctx.dir("mount point")
    ctx._register_mount_cleanup(mnt, ctx.path("data base"), [None])
    r = run([ctx.holtfs, "mount", "data base", "mount point"], cwd=ctx.root)
    check(r.returncode == 0, "mount: %s" % r.stderr)
    check(is_mounted(mnt, "fuse.holtfs"), "not mounted at %r" % mnt)
    with open(os.path.join(mnt, "f"), "w") as f:
        f.write("x")
    r = run([ctx.holtfs, "stats", "mount point"], cwd=ctx.root)
    check(r.returncode == 0 and "state: mounted" in r.stdout, "stats: %r %r" % (r.stdout, r.stderr))
    r = run([ctx.holtfs, "umount", "./mount point/"], cwd=ctx.root)
    check(r.returncode == 0, "umount: %s" % r.stderr)
    check(not is_mounted(mnt), "still mounted")
    check(not lock_held(ctx.path("data base")), "the daemon still runs")


def test_empty_paths_are_refused(ctx):
    """An empty path never means the current directory (it once mounted the cwd as a database)."""
    mnt = ctx.dir("mnt")
    for argv in (["mount", "", mnt], ["mount", ctx.path("db"), ""], ["check", ""], ["dump", ""], ["stats", ""],
                 ["umount", ""]):
        r = run([ctx.holtfs, *argv], cwd=ctx.root)
        one_line_error(r, argv[0])
    check(not is_mounted(mnt), "something got mounted")
    check(sorted(os.listdir(ctx.root)) == ["mnt"], "files appeared in the cwd: %r" % os.listdir(ctx.root))


def test_database_or_log_inside_the_mount_point_is_refused(ctx):
    """The daemon would write them through its own mount (a deadlock): refused with one line."""
    mnt = ctx.dir("mnt")
    os.symlink(mnt, ctx.path("link"))
    for argv in (["mount", os.path.join(mnt, "db"), mnt], ["mount", mnt, mnt],
                 ["mount", ctx.path("link/sub/db"), mnt],
                 ["mount", "--log", os.path.join(mnt, "log"), ctx.path("db"), mnt]):
        ctx._register_mount_cleanup(mnt, ctx.path("db"), [None])
        line = one_line_error(run([ctx.holtfs, *argv], timeout=30), "mount")
        check("inside the mount point" in line, line)
    check(not is_mounted(mnt), "something got mounted")


def test_root_mounts_like_a_local_file_system(ctx):
    """As root: allow_other, and devices and set-user-ID bits work (no nodev/nosuid); -o nodev,nosuid
    brings libfuse's defaults back."""
    from support import mount_options
    m = ctx.mount(name="local")
    options = mount_options(m.mnt)
    check("nodev" not in options and "nosuid" not in options, "root mount options: %r" % sorted(options))
    os.mknod(os.path.join(m.mnt, "null"), 0o666 | 0o020000, os.makedev(1, 3))
    with open(os.path.join(m.mnt, "null"), "wb") as f:
        f.write(b"into /dev/null")
    m.umount()
    m = ctx.mount(args=["-o", "nodev,nosuid"], name="restricted")
    options = mount_options(m.mnt)
    check({"nodev", "nosuid"} <= options, "-o nodev,nosuid gave %r" % sorted(options))
    m.umount()


def _fingerprint(db):
    """{relative path: bytes} of the database's files, holtfs's own files (the lock file, the log
    and the control socket a killed daemon leaves) and LOCK aside."""
    out = {}
    for dirpath, _, names in os.walk(db):
        for n in names:
            if n in ("LOCK", "holtfs.pid", "control.sock") or n.startswith("holtfs.log"):
                continue
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, db)] = f.read()
    return out


@needs_persistence
def test_check_dump_stats_write_nothing_and_report_recovery(ctx):
    """After a daemon crash, check/dump/stats replay the log but write nothing (no checkpoint),
    and check and stats say what the replay did."""
    m = ctx.mount()
    for i in range(30):
        with open(os.path.join(m.mnt, "f%02d" % i), "w") as f:
            f.write("x" * i)
    m.proc.kill()
    m.proc.wait(timeout=30)
    run(["fusermount3", "-u", "-z", m.mnt])
    before = _fingerprint(m.db)
    r = run([ctx.holtfs, "check", m.db])
    check(r.returncode == 0, "check after a crash: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
    check(any(line.startswith("holtfs: check %s: note: replayed" % m.db) for line in r.stdout.splitlines()),
          "check does not report the replay: %r" % r.stdout)
    r = run([ctx.holtfs, "stats", m.db])
    check(r.returncode == 0 and "recovery: replayed" in r.stdout, "stats: %r %r" % (r.stdout, r.stderr))
    r = run([ctx.holtfs, "dump", m.db])
    check(r.returncode == 0 and "f29" in r.stdout, "dump: %r" % r.stderr)
    after = _fingerprint(m.db)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    check(not changed, "offline commands changed %s" % changed)
