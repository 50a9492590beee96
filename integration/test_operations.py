"""Operating holtfs like the file systems people already run: `holtfs DB MNT -o ...` (the form
mount.fuse3 runs) with holtfs's settings as -o options, `mount -t fuse.holtfs` and fstab lines
(`mount -T`), the daemon named holtfs for ps and pgrep, `make install` / `make uninstall`, and a
user who is not root mounting their own database through fusermount3.

mount(8) clears PATH for its helpers, so mount.fuse3's shell finds `holtfs` only in its default
path (/usr/local/sbin, /usr/local/bin, ...). Rather than install it system-wide, the mount(8) tests
run in a private mount namespace (`unshare --mount`) where a temporary directory holding a
`holtfs` symlink is bound over /usr/local/sbin; the daemon lives in that namespace, so the checks
on the mount run there too (a shell script), and the cleanup kills the daemon by its pid, which
ends the namespace and its mounts.
"""
import errno
import os
import pwd
import stat
import subprocess

from support import (check, fail, is_mounted, lock_held, mount_options, poll_until, read_lock_file, run, tail,
                     EXIT_DEADLINE)
from test_command import one_line_error

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TEST_USER = "holttest"
# The first directory of dash's default path, which mount.fuse3's `/bin/sh -c 'holtfs' ...` searches.
HELPER_DIR = "/usr/local/sbin"


def daemon_pid(db):
    info = read_lock_file(db)
    check("pid" in info, "no pid in %s/holtfs.pid: %r" % (db, info))
    return int(info["pid"])


def process_name(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def daemon_arguments(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def wait_closed(db, log=None):
    """Polls until the daemon of db released its lock, then checks it closed the database cleanly."""
    poll_until(lambda: not lock_held(db), EXIT_DEADLINE, "the daemon to close " + db,
               lambda: "\n  log:\n" + tail(log or os.path.join(db, "holtfs.log")))
    state = read_lock_file(db).get("state")
    check(state == "closed", "%s/holtfs.pid says state=%s after the unmount" % (db, state))


def in_mount_namespace(ctx, script, timeout=90):
    """Runs the shell `script` in a private mount namespace where `holtfs` (this test's binary) is
    in mount.fuse3's default path; $HOLTFS is the binary. Returns the CompletedProcess."""
    helper = ctx.dir("helper-bin")
    link = os.path.join(helper, "holtfs")
    if not os.path.islink(link):
        os.symlink(ctx.holtfs, link)
    if not os.path.isdir(HELPER_DIR):
        fail("%s is missing: the mount(8) tests bind a directory over it" % HELPER_DIR)
    prologue = 'mount --bind "%s" %s || exit 99\n' % (helper, HELPER_DIR)
    env = dict(os.environ, HOLTFS=ctx.holtfs)
    return run(["unshare", "--mount", "--propagation", "private", "sh", "-c", prologue + script],
               timeout=timeout, env=env)


def lines_with(output, prefix):
    return [line[len(prefix):] for line in output.splitlines() if line.startswith(prefix)]


def test_helper_form_takes_settings_as_options_and_names_the_daemon(ctx):
    """`holtfs DB MNT -o rw,sync=periodic,...,noauto,...,dev,suid` (what mount.fuse3 runs) mounts
    with the settings applied, ignores mount(8)'s options, names the daemon holtfs, shows DB as the
    source; `holtfs -o ... DB MNT` works too."""
    db, mnt = ctx.path("helper.db"), ctx.dir("helper.mnt")
    ctx._register_mount_cleanup(mnt, db, [None])
    options = ("rw,sync=periodic,sync-interval-ms=50,cache-mb=64,max-file-size=1M,noauto,nofail,_netdev,"
               "defaults,user,users,auto,x-systemd.automount,comment=holt,dev,suid")
    r = run([ctx.holtfs, db, mnt, "-o", options], timeout=60)
    check(r.returncode == 0 and r.stderr == "", "holtfs DB MNT -o %s: exit %d: %r%s" % (
        options, r.returncode, r.stderr, "\n" + tail(os.path.join(db, "holtfs.log"))))
    check(is_mounted(mnt, "fuse.holtfs"), "not mounted when holtfs returned")
    pid = daemon_pid(db)
    check(process_name(pid) == "holtfs", "the daemon's name is %r, not holtfs" % process_name(pid))
    r = run(["ps", "-o", "comm=", "-p", str(pid)])
    check(r.stdout.strip() == "holtfs", "ps -o comm= says %r" % r.stdout)
    r = run(["pgrep", "-x", "holtfs"])
    check(str(pid) in r.stdout.split(), "pgrep -x holtfs: %r does not list the daemon %d" % (r.stdout, pid))
    arguments = daemon_arguments(pid)
    for expected in (["--sync", "periodic"], ["--sync-interval-ms", "50"], ["--cache-mb", "64"],
                     ["--max-file-size", str(1 << 20)]):
        i = arguments.index(expected[0]) if expected[0] in arguments else -1
        check(i >= 0 and arguments[i + 1] == expected[1], "the daemon runs with %r, expected %r" % (arguments, expected))
    r = run(["findmnt", "-n", "-o", "SOURCE", mnt])
    check(r.stdout.strip() == db, "findmnt SOURCE %r, expected the database %s" % (r.stdout, db))
    # max-file-size=1M is in force.
    fd = os.open(os.path.join(mnt, "f"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            os.pwrite(fd, b"z", 1 << 20)
            fail("a write past -o max-file-size=1M succeeded")
        except OSError as e:
            check(e.errno == errno.EFBIG, "a write past max-file-size: %s" % errno.errorcode.get(e.errno))
    finally:
        os.close(fd)
    r = run([ctx.holtfs, "umount", mnt])
    check(r.returncode == 0, "holtfs umount: %s" % r.stderr)
    wait_closed(db)

    # Options first.
    r = run([ctx.holtfs, "-o", "sync=none", db, mnt], timeout=60)
    check(r.returncode == 0, "holtfs -o sync=none DB MNT: exit %d: %r" % (r.returncode, r.stderr))
    check("--sync" in daemon_arguments(daemon_pid(db)) and "none" in daemon_arguments(daemon_pid(db)),
          "sync=none did not reach the daemon: %r" % daemon_arguments(daemon_pid(db)))
    r = run([ctx.holtfs, "umount", mnt])
    check(r.returncode == 0, "holtfs umount: %s" % r.stderr)
    wait_closed(db)


def test_bad_options_in_the_helper_form_fail_in_one_line(ctx):
    db, mnt = ctx.path("bad.db"), ctx.dir("bad.mnt")
    ctx._register_mount_cleanup(mnt, db, [None])
    for options, words in (("sync=sometimes", "sync"), ("cache-mb", "cache-mb"), ("cache-mb=0", "cache-mb"),
                           ("sync-interval-ms=x", "sync-interval-ms"), ("max-file-size=1.5G", "max-file-size"),
                           ("rw,,sync=none", "empty")):
        line = one_line_error(run([ctx.holtfs, db, mnt, "-o", options]), "mount")
        check(words in line, "-o %s: %r does not name %r" % (options, line, words))
    line = one_line_error(run([ctx.holtfs, db, mnt, "--sync", "periodic", "-o", "sync=none"]), "mount")
    check("disagree" in line, line)
    # An option neither holtfs nor mount(8) owns goes to libfuse, which refuses it.
    line = one_line_error(run([ctx.holtfs, db, mnt, "-o", "rw,no_such_option_xyz"], timeout=30), "mount")
    check("unknown option" in line, "libfuse's explanation is missing: %r" % line)
    one_line_error(run([ctx.holtfs, db]), "mount")
    one_line_error(run([ctx.holtfs, db, ctx.path("missing"), "-o", "rw"]), "mount")
    check(not is_mounted(mnt), "something got mounted")


def test_fstab_lines_mount_with_mount_T_and_mount_a(ctx):
    """fstab lines of type fuse.holtfs, carrying mount(8)'s and systemd's options next to holtfs's:
    `mount -T FSTAB MNT` mounts one (umount(8) ends it cleanly); `mount -a -T FSTAB` mounts the
    others, and a second `mount -a` knows they are mounted (the source is the database)."""
    db, mnt = ctx.path("fstab.db"), ctx.dir("fstab.mnt")
    db2, mnt2 = ctx.path("auto.db"), ctx.dir("auto.mnt")
    for d, m in ((db, mnt), (db2, mnt2)):
        ctx._register_mount_cleanup(m, d, [None])
    fstab = ctx.path("fstab")
    with open(fstab, "w") as f:
        f.write("# holtfs test fstab\n")
        f.write("%s %s fuse.holtfs defaults,noauto,nofail,_netdev,x-systemd.automount,comment=holt,"
                "sync=periodic,sync-interval-ms=50,cache-mb=64 0 0\n" % (db, mnt))
        f.write("%s %s fuse.holtfs sync=none,nofail 0 0\n" % (db2, mnt2))
    script = r'''
mount -T "{fstab}" "{mnt}"; echo "mount=$?"
grep " {mnt} " /proc/self/mountinfo | sed 's/^/mountinfo=/'
echo hello > "{mnt}/hello" && echo "write=ok"
echo "read=$(cat "{mnt}/hello")"
mount -a -T "{fstab}"; echo "mount-a=$?"
mount -a -T "{fstab}"; echo "mount-a-again=$?"
echo "auto-mounts=$(grep -c " {mnt2} " /proc/self/mountinfo)"
echo auto > "{mnt2}/auto" && echo "write2=ok"
umount "{mnt}"; echo "umount=$?"
"$HOLTFS" umount "{mnt2}"; echo "holtfs-umount=$?"
'''.format(fstab=fstab, mnt=mnt, mnt2=mnt2)
    r = in_mount_namespace(ctx, script)
    out = r.stdout
    detail = "\n  stdout:\n%s\n  stderr:\n%s\n  log:\n%s" % (out, r.stderr, tail(os.path.join(db, "holtfs.log")))
    check(r.returncode != 99, "cannot bind over %s: %s" % (HELPER_DIR, r.stderr))
    check(lines_with(out, "mount=") == ["0"], "mount -T fstab MNT failed" + detail)
    info = lines_with(out, "mountinfo=")
    check(len(info) == 1 and " - fuse.holtfs %s " % db in info[0], "the mount's type and source" + detail)
    check(lines_with(out, "read=") == ["hello"], "the mount does not serve" + detail)
    check(lines_with(out, "mount-a=") == ["0"] and lines_with(out, "mount-a-again=") == ["0"],
          "mount -a is not idempotent" + detail)
    check(lines_with(out, "auto-mounts=") == ["1"], "mount -a mounted the second line %s times" %
          lines_with(out, "auto-mounts=") + detail)
    check(lines_with(out, "write2=") == ["ok"], "the mount -a mount does not serve" + detail)
    check(lines_with(out, "umount=") == ["0"], "umount(8) failed" + detail)
    check(lines_with(out, "holtfs-umount=") == ["0"], "holtfs umount failed" + detail)
    wait_closed(db)
    wait_closed(db2)
    with open(os.path.join(db, "holtfs.log")) as f:
        log = f.read()
    check("sync periodic" in log, "the fstab line's sync=periodic is not in the daemon's log:\n" + log[-2000:])
    r = run([ctx.holtfs, "dump", db])
    check(r.returncode == 0 and "hello" in r.stdout, "dump after the fstab mount: %r %r" % (r.stdout, r.stderr))


def test_mount_t_fuse_holtfs(ctx):
    """`mount -t fuse.holtfs DB MNT -o sync=periodic` (mount(8) -> mount.fuse3 -> holtfs): the
    daemon, named holtfs, runs with --sync periodic; `holtfs umount` ends it."""
    db, mnt = ctx.path("t.db"), ctx.dir("t.mnt")
    ctx._register_mount_cleanup(mnt, db, [None])
    script = r'''
mount -t fuse.holtfs "{db}" "{mnt}" -o sync=periodic; echo "mount=$?"
grep " {mnt} " /proc/self/mountinfo | sed 's/^/mountinfo=/'
pid=$(sed -n 's/^pid=//p' "{db}/holtfs.pid")
echo "pid=$pid"
echo "comm=$(ps -o comm= -p "$pid")"
echo "pgrep=$(pgrep -x holtfs | tr '\n' ' ')"
echo "args=$(tr '\0' ' ' < /proc/$pid/cmdline)"
mkdir "{mnt}/dir" && echo "mkdir=ok"
"$HOLTFS" umount "{mnt}"; echo "umount=$?"
'''.format(db=db, mnt=mnt)
    r = in_mount_namespace(ctx, script)
    out = r.stdout
    detail = "\n  stdout:\n%s\n  stderr:\n%s\n  log:\n%s" % (out, r.stderr, tail(os.path.join(db, "holtfs.log")))
    check(r.returncode != 99, "cannot bind over %s: %s" % (HELPER_DIR, r.stderr))
    check(lines_with(out, "mount=") == ["0"], "mount -t fuse.holtfs failed" + detail)
    info = lines_with(out, "mountinfo=")
    check(len(info) == 1 and " - fuse.holtfs %s " % db in info[0], "the mount's type and source" + detail)
    pid = lines_with(out, "pid=")[0]
    check(lines_with(out, "comm=") == ["holtfs"], "ps -o comm= does not say holtfs" + detail)
    check(pid in lines_with(out, "pgrep=")[0].split(), "pgrep -x holtfs misses the daemon" + detail)
    args = lines_with(out, "args=")[0]
    check(args.startswith("holtfs ") and "--sync periodic" in args, "the daemon's arguments" + detail)
    check(lines_with(out, "mkdir=") == ["ok"], "the mount does not serve" + detail)
    check(lines_with(out, "umount=") == ["0"], "holtfs umount failed" + detail)
    wait_closed(db)


def test_make_install_and_uninstall(ctx):
    """`make install PREFIX=P` puts holtfs in P/bin; `make uninstall PREFIX=P` leaves no file.
    (HOLTFS_BIN names this test's binary, so no release build is needed.)"""
    prefix = ctx.dir("prefix")
    r = run(["make", "-C", REPO, "--no-print-directory", "install", "PREFIX=" + prefix, "HOLTFS_BIN=" + ctx.holtfs],
            timeout=120)
    check(r.returncode == 0, "make install: exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
    installed = os.path.join(prefix, "bin", "holtfs")
    check(os.path.isfile(installed) and os.access(installed, os.X_OK), "no executable %s" % installed)
    check(stat.S_IMODE(os.stat(installed).st_mode) == 0o755, "mode %o" % stat.S_IMODE(os.stat(installed).st_mode))
    r = run([installed, "--version"])
    check(r.returncode == 0 and r.stdout == run([ctx.holtfs, "--version"]).stdout, "the installed holtfs: %r" % r.stdout)
    r = run(["make", "-C", REPO, "--no-print-directory", "uninstall", "PREFIX=" + prefix], timeout=60)
    check(r.returncode == 0, "make uninstall: exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
    left = [os.path.join(d, n) for d, _, names in os.walk(prefix) for n in names]
    check(not left, "make uninstall left %r" % left)
    # DESTDIR, as packagers use it.
    stage = ctx.dir("stage")
    r = run(["make", "-C", REPO, "--no-print-directory", "install", "DESTDIR=" + stage, "PREFIX=/usr",
             "HOLTFS_BIN=" + ctx.holtfs], timeout=120)
    check(r.returncode == 0 and os.path.isfile(os.path.join(stage, "usr/bin/holtfs")),
          "make install DESTDIR: %s %s" % (r.stdout, r.stderr))
    r = run(["make", "-C", REPO, "--no-print-directory", "uninstall", "DESTDIR=" + stage, "PREFIX=/usr"], timeout=60)
    left = [os.path.join(d, n) for d, _, names in os.walk(stage) for n in names]
    check(r.returncode == 0 and not left, "make uninstall DESTDIR left %r" % left)


def _ensure_test_user(ctx):
    """The account TEST_USER as a pwd entry; one this test creates is removed again when it ends
    (registered before any mount, so it runs after the user's daemon is gone)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        r = run(["useradd", "-m", TEST_USER])
        if r.returncode not in (0, 9):  # 9: created meanwhile
            fail("useradd -m %s: %s" % (TEST_USER, r.stderr))
        if r.returncode == 0:
            ctx.on_cleanup(lambda: run(["userdel", "-r", TEST_USER]))
        return pwd.getpwnam(TEST_USER)


def _as_user(argv, **kwargs):
    return run(["setpriv", "--reuid", TEST_USER, "--regid", TEST_USER, "--init-groups", "--reset-env"] + argv,
               **kwargs)


def _user_allow_other():
    try:
        with open("/etc/fuse.conf") as f:
            return any(line.split("#", 1)[0].split() == ["user_allow_other"] for line in f)
    except OSError:
        return False


def test_a_user_mounts_their_own_database_through_fusermount3(ctx):
    """A user who is not root mounts their database (as mount.fuse3 would run it, -o rw,dev,suid),
    works in it, unmounts with fusermount3 -u; the mount is nosuid,nodev, the daemon runs as the
    user and is named holtfs, root cannot look in (no allow_other without user_allow_other), and
    root's `holtfs umount` of the user's mount waits for the clean close."""
    user = _ensure_test_user(ctx)
    if not os.path.exists("/dev/fuse"):
        fail("/dev/fuse is missing")
    # Most systems give /dev/fuse mode 0666; where it is 0600 (this machine), open it up for the test.
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    if mode & 0o006 != 0o006:
        os.chmod("/dev/fuse", mode | 0o006)
        ctx.on_cleanup(lambda: os.chmod("/dev/fuse", mode))
    home = ctx.dir("user")
    os.chown(home, user.pw_uid, user.pw_gid)
    holtfs = ctx.holtfs
    if _as_user(["test", "-x", holtfs]).returncode != 0:
        holtfs = os.path.join(home, "holtfs")
        subprocess.run(["cp", ctx.holtfs, holtfs], check=True)
        os.chmod(holtfs, 0o755)
    db, mnt = os.path.join(home, "db"), os.path.join(home, "mnt")
    check(_as_user(["mkdir", mnt]).returncode == 0, "mkdir as %s failed" % TEST_USER)
    ctx._register_mount_cleanup(mnt, db, [None])

    r = _as_user([holtfs, db, mnt, "-o", "rw,dev,suid,sync=periodic"], timeout=60)
    check(r.returncode == 0, "mount as %s: exit %d: %r\n%s" % (TEST_USER, r.returncode, r.stderr,
                                                               tail(os.path.join(db, "holtfs.log"))))
    check(is_mounted(mnt, "fuse.holtfs"), "not mounted")
    options = mount_options(mnt)
    check({"nosuid", "nodev"} <= options, "a user's mount has options %r" % sorted(options))
    pid = daemon_pid(db)
    check(os.stat("/proc/%d" % pid).st_uid == user.pw_uid, "the daemon does not run as %s" % TEST_USER)
    check(process_name(pid) == "holtfs", "the daemon's name is %r" % process_name(pid))
    r = _as_user(["sh", "-c", 'touch "$1/file" && echo data > "$1/data" && cat "$1/data" && ls "$1"', "sh", mnt])
    check(r.returncode == 0 and r.stdout.split() == ["data", "data", "file"], "work as %s: %r %r" % (
        TEST_USER, r.stdout, r.stderr))
    if not _user_allow_other():
        try:
            os.listdir(mnt)
            fail("root could list a user's mount made without allow_other")
        except PermissionError:
            pass
        other_mnt = os.path.join(home, "other.mnt")
        _as_user(["mkdir", other_mnt])
        ctx._register_mount_cleanup(other_mnt, os.path.join(home, "other.db"), [None])
        line = one_line_error(_as_user([holtfs, os.path.join(home, "other.db"), other_mnt, "-o", "allow_other"]),
                              "mount")
        check("user_allow_other" in line, line)
        check(not is_mounted(other_mnt), "allow_other got mounted")
    r = _as_user(["fusermount3", "-u", mnt])
    check(r.returncode == 0, "fusermount3 -u as %s: %r" % (TEST_USER, r.stderr))
    wait_closed(db)
    check(not is_mounted(mnt), "still mounted")

    # Again, and root unmounts it: holtfs umount finds the database from the mount's source.
    r = _as_user([holtfs, db, mnt], timeout=60)
    check(r.returncode == 0, "second mount as %s: %r" % (TEST_USER, r.stderr))
    r = run([ctx.holtfs, "umount", mnt])
    check(r.returncode == 0, "holtfs umount (root) of a user's mount: %r" % r.stderr)
    check(not lock_held(db), "holtfs umount returned before the user's daemon closed the database")
    check(read_lock_file(db).get("state") == "closed", "state: %r" % read_lock_file(db))
    r = run([ctx.holtfs, "dump", db])
    check(r.returncode == 0 and "file" in r.stdout and "data" in r.stdout, "dump: %r %r" % (r.stdout, r.stderr))
