"""What a mount writes survives unmount and remount: names, kinds, modes, owners, link counts,
sizes, content, symlink targets, xattrs, mtimes and st_ino. Needs the on-disk engine.
"""
import hashlib
import os
import signal

from support import check, fail, needs_persistence


def snapshot(root):
    """{relative path: attributes} for everything under root (atime left out: reads change it)."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            entry = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "nlink": st.st_nlink,
                     "ino": st.st_ino, "mtime_ns": st.st_mtime_ns}
            if os.path.islink(path):
                entry["target"] = os.readlink(path)
                entry["size"] = st.st_size
            elif os.path.isfile(path):
                entry["size"] = st.st_size
                with open(path, "rb") as f:
                    entry["sha256"] = hashlib.sha256(f.read()).hexdigest()
            if not os.path.islink(path):
                entry["xattrs"] = {k: os.getxattr(path, k) for k in sorted(os.listxattr(path))
                                   if k.startswith("user.")}
            result[rel] = entry
    return result


def populate(root):
    os.makedirs(os.path.join(root, "a/b/c"))
    os.mkdir(os.path.join(root, "empty"))
    for i in range(50):
        with open(os.path.join(root, "a/b/file%02d" % i), "w") as f:
            f.write("line %d\n" % i * (i + 1))
    with open(os.path.join(root, "a/big"), "wb") as f:
        f.write(bytes(range(256)) * 1024)   # 256 KiB: past any inline limit
    with open(os.path.join(root, "a/sparse"), "wb") as f:
        f.seek(5 << 20)
        f.write(b"end")
    open(os.path.join(root, "a/zero"), "w").close()
    os.link(os.path.join(root, "a/b/file07"), os.path.join(root, "a/hardlink"))
    os.symlink("b/file03", os.path.join(root, "a/symlink"))
    os.symlink("/does/not/exist", os.path.join(root, "dangling"))
    os.chmod(os.path.join(root, "a/b/file01"), 0o600)
    os.chmod(os.path.join(root, "a/b/c"), 0o1777)
    os.chown(os.path.join(root, "a/b/file02"), 1234, 5678)
    os.chown(os.path.join(root, "empty"), 42, 43)
    os.lchown(os.path.join(root, "a/symlink"), 77, 88)
    os.setxattr(os.path.join(root, "a/b/file04"), "user.color", b"blue")
    os.setxattr(os.path.join(root, "a/b/file04"), "user.bin", bytes([0, 1, 2, 255]))
    os.setxattr(os.path.join(root, "empty"), "user.dir", b"yes")
    os.utime(os.path.join(root, "a/b/file05"), ns=(1_000_000_000, 1_234_567_891_000_000_000))
    os.rename(os.path.join(root, "a/b/file06"), os.path.join(root, "a/moved"))
    os.rename(os.path.join(root, "a/b/c"), os.path.join(root, "c-moved"))
    os.unlink(os.path.join(root, "a/b/file08"))


def compare(before, after):
    if before == after:
        return
    lines = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            lines.append("  %s:\n    before %r\n    after  %r" % (path, before.get(path), after.get(path)))
    fail("%d paths differ after remount:\n%s" % (len(lines), "\n".join(lines[:6])))


@needs_persistence
def test_remount_keeps_everything(ctx):
    m = ctx.mount()
    populate(m.mnt)
    before = snapshot(m.mnt)
    check(len(before) > 50, "populate made only %d paths" % len(before))
    m.umount()
    m2 = ctx.mount(db=m.db, mnt=m.mnt, name="again")
    compare(before, snapshot(m2.mnt))
    # And once more after changing things in the second mount.
    with open(os.path.join(m2.mnt, "a/late"), "w") as f:
        f.write("late")
    os.rename(os.path.join(m2.mnt, "a"), os.path.join(m2.mnt, "a-renamed"))
    before2 = snapshot(m2.mnt)
    m2.umount()
    m3 = ctx.mount(db=m.db, mnt=m.mnt, name="third")
    compare(before2, snapshot(m3.mnt))
    m3.umount()


@needs_persistence
def test_remount_after_daemon_mode(ctx):
    r, m = ctx.mount_daemon()
    check(r.returncode == 0, "holtfs mount: %s" % r.stderr)
    populate(m.mnt)
    before = snapshot(m.mnt)
    m.umount()
    r, m2 = ctx.mount_daemon(db=m.db, mnt=m.mnt)
    check(r.returncode == 0, "holtfs mount again: %s" % r.stderr)
    compare(before, snapshot(m2.mnt))
    m2.umount()


@needs_persistence
def test_sync_always_survives_sigkill(ctx):
    """With --sync always, every acknowledged change survives a SIGKILL of the daemon."""
    m = ctx.mount(args=["--sync", "always"])
    populate(m.mnt)
    before = snapshot(m.mnt)
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    import subprocess
    subprocess.run(["fusermount3", "-u", "-z", m.mnt], capture_output=True)
    m2 = ctx.mount(db=m.db, mnt=m.mnt, name="after-kill")
    compare(before, snapshot(m2.mnt))
    m2.umount()
    from support import run
    r = run([ctx.holtfs, "check", m.db])
    check(r.returncode == 0, "check after a crash: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))


@needs_persistence
def test_a_tree_larger_than_its_cache_buffers_and_survives_sigkill(ctx):
    """With a 2 MiB cache the tree soon outgrows it, and the engine's write buffer takes the
    mount's guarded batches (creates, writes, unlinks: conditions on single keys); readdir and
    renames flush what they name. Everything acknowledged survives a SIGKILL under --sync always."""
    from support import run
    import subprocess
    m = ctx.mount(args=["--sync", "always", "--cache-mb", "2"])
    for d in range(40):
        os.mkdir(os.path.join(m.mnt, "d%02d" % d))
        for i in range(60):
            with open(os.path.join(m.mnt, "d%02d/f%03d" % (d, i)), "wb") as f:
                f.write(bytes([d, i]) * 1000)
    # Changes beside the buffer: rewrites, unlinks, a file and a directory renamed, listings.
    for d in range(0, 40, 3):
        with open(os.path.join(m.mnt, "d%02d/f007" % d), "wb") as f:
            f.write(b"rewritten %d" % d)
        os.unlink(os.path.join(m.mnt, "d%02d/f008" % d))
        os.rename(os.path.join(m.mnt, "d%02d/f009" % d), os.path.join(m.mnt, "d%02d/moved" % d))
        check(len(os.listdir(os.path.join(m.mnt, "d%02d" % d))) == 59, "d%02d lists %d names" % (
            d, len(os.listdir(os.path.join(m.mnt, "d%02d" % d)))))
    os.rename(os.path.join(m.mnt, "d01"), os.path.join(m.mnt, "renamed"))
    r = run([ctx.holtfs, "stats", m.mnt])
    check(r.returncode == 0, "stats: %s" % r.stderr)
    buffered = [int(line.split(",")[1].split()[0]) for line in r.stdout.splitlines() if line.startswith("write buffer:")]
    check(buffered and buffered[0] > 1000, "the write buffer took %r ops:\n%s" % (buffered, r.stdout))
    before = snapshot(m.mnt)
    check(len(before) == 40 + 40 * 60 - 14, "%d paths" % len(before))
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=30)
    subprocess.run(["fusermount3", "-u", "-z", m.mnt], capture_output=True)
    m2 = ctx.mount(db=m.db, mnt=m.mnt, name="after-kill")
    compare(before, snapshot(m2.mnt))
    with open(os.path.join(m2.mnt, "d03/f007"), "rb") as f:
        check(f.read() == b"rewritten 3", "d03/f007 lost its rewrite")
    m2.umount()
    r = run([ctx.holtfs, "check", m.db])
    check(r.returncode == 0, "check after a crash: exit %d: %s%s" % (r.returncode, r.stdout, r.stderr))
