"""Permissions through a real mount (allow_other, default_permissions): unprivileged users can read
and change only what mode bits allow, a sticky directory protects other users' files, and a
setgid directory passes its group (and, to subdirectories, its setgid bit) on. Users 65534 and
65533 are forked children (setgroups([]), setresgid, setresuid); errnos are compared as numbers.
"""
import errno
import os
import stat

import rlib
from rlib import check, needs

U, UG = 65534, 65534   # "nobody"
V, VG = 65533, 65533   # another unprivileged user
SG = 1234              # the group of the setgid directory


def super_options(mnt):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mnt:
                return fields[-1].split(",")
    return []


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def read(path):
    with open(path, "rb") as f:
        return f.read()


@needs("root", "mount with allow_other,default_permissions", "ownership from the caller", "mode bits",
       "sticky directories", "setgid inheritance")
def test_unprivileged_users_get_what_mode_bits_allow(ctx):
    """Read/write/search/chmod/chown/utime/xattr by mode bits, sticky deletes, setgid inheritance."""
    db, mnt = ctx.path("perm.db"), ctx.dir("perm.mnt")
    m = rlib.mount(ctx, db, mnt, ["-o", "allow_other,default_permissions"], name="perm")
    opts = super_options(mnt)
    check("allow_other" in opts and "default_permissions" in opts, "mount options: %r" % opts)
    os.chmod(mnt, 0o755)
    j = lambda *p: os.path.join(mnt, *p)  # noqa: E731
    os.mkdir(j("pub"), 0o777)
    os.chmod(j("pub"), 0o777)
    os.mkdir(j("priv"), 0o700)
    write(j("priv", "secret"), b"secret", 0o644)
    write(j("ro"), b"ro", 0o644)
    write(j("rw"), b"rw", 0o666)
    write(j("grp"), b"grp", 0o640)
    os.chown(j("grp"), 0, UG)
    os.mkdir(j("nox"))
    os.chmod(j("nox"), 0o766)
    write(j("nox", "f"), b"f", 0o644)
    os.mkdir(j("tmp"))
    os.chmod(j("tmp"), 0o1777)
    write(j("tmp", "rootfile"), b"root", 0o666)
    os.mkdir(j("sg"))
    os.chown(j("sg"), 0, SG)
    os.chmod(j("sg"), 0o2777)
    check(stat.S_IMODE(os.stat(j("sg")).st_mode) == 0o2777, "chmod 2777 by root kept %o" % os.stat(j("sg")).st_mode)

    def expect(uid, gid, want, fn, what):
        got = rlib.user_errno(uid, gid, fn)
        check(got == want, "uid %d: %s: got %s, expected %s" % (uid, what, rlib.ename(got), rlib.ename(want)))

    # Other users' files: what the mode bits allow, and no more.
    check(rlib.as_user(U, UG, lambda: read(j("ro")).decode()) == "ro", "uid %d cannot read a 0644 file" % U)
    expect(U, UG, errno.EACCES, lambda: os.open(j("ro"), os.O_WRONLY), "open O_WRONLY of root's 0644 file")
    expect(U, UG, errno.EACCES, lambda: os.open(j("ro"), os.O_RDWR), "open O_RDWR of root's 0644 file")
    expect(U, UG, errno.EACCES, lambda: os.truncate(j("ro"), 0), "truncate of root's 0644 file")
    expect(U, UG, errno.EACCES, lambda: os.setxattr(j("ro"), "user.u", b"1"), "setxattr on root's 0644 file")
    expect(U, UG, errno.EPERM, lambda: os.chmod(j("ro"), 0o666), "chmod of root's file")
    expect(U, UG, errno.EPERM, lambda: os.chown(j("ro"), U, UG), "chown of root's file")
    expect(U, UG, errno.EPERM, lambda: os.utime(j("ro"), (1, 1)), "explicit utime of root's file")
    expect(U, UG, errno.EACCES, lambda: os.utime(j("ro")), "utime now of root's read-only file")
    expect(U, UG, errno.EACCES, lambda: os.unlink(j("ro")), "unlink in root's 0755 dir")
    expect(U, UG, errno.EACCES, lambda: os.mkdir(j("u-dir")), "mkdir in root's 0755 dir")
    expect(U, UG, errno.EACCES, lambda: os.rename(j("rw"), j("pub", "rw")), "rename out of root's 0755 dir")
    check(rlib.as_user(U, UG, lambda: os.access(j("ro"), os.X_OK)) is False, "access X_OK of a 0644 file")
    check(read(j("ro")) == b"ro" and stat.S_IMODE(os.stat(j("ro")).st_mode) == 0o644, "root's file changed")
    # A 0666 file: anyone may write it, and utime now.
    expect(U, UG, None, lambda: write_existing(j("rw"), b"by nobody"), "write of a 0666 file")
    expect(U, UG, None, lambda: os.utime(j("rw")), "utime now of a 0666 file")
    check(read(j("rw")) == b"by nobody", "the write of a 0666 file by uid %d did not land" % U)
    # Group bits: 0640 root:UG is readable by U (group), not by V.
    check(rlib.as_user(U, UG, lambda: read(j("grp")).decode()) == "grp", "group member cannot read 0640")
    expect(V, VG, errno.EACCES, lambda: read(j("grp")), "read of a 0640 file of another group")
    # Directories: no search permission, no read permission.
    expect(U, UG, errno.EACCES, lambda: os.listdir(j("priv")), "listdir of root's 0700 dir")
    expect(U, UG, errno.EACCES, lambda: os.stat(j("priv", "secret")), "stat inside root's 0700 dir")
    expect(U, UG, errno.EACCES, lambda: open(j("priv", "new"), "wb"), "create inside root's 0700 dir")
    check(rlib.as_user(U, UG, lambda: os.listdir(j("nox"))) == ["f"], "listdir of a 0766 dir (r, no x)")
    expect(U, UG, errno.EACCES, lambda: os.stat(j("nox", "f")), "stat inside a dir without x")
    m.answers("the mode-bit checks")

    # New files belong to their creator; the owner can chmod them, others cannot.
    expect(U, UG, None, lambda: write(j("pub", "ufile"), b"u", 0o600), "create in a 0777 dir")
    st = os.stat(j("pub", "ufile"))
    check((st.st_uid, st.st_gid) == (U, UG), "a file created by %d:%d is owned by %d:%d" % (U, UG, st.st_uid, st.st_gid))
    check(stat.S_IMODE(st.st_mode) == 0o600, "mode %o after the owner's chmod 600" % st.st_mode)
    expect(V, VG, errno.EACCES, lambda: read(j("pub", "ufile")), "read of another user's 0600 file")
    expect(V, VG, errno.EPERM, lambda: os.chmod(j("pub", "ufile"), 0o666), "chmod of another user's file")
    expect(U, UG, errno.EPERM, lambda: os.chown(j("pub", "ufile"), V, VG), "giving a file away (chown)")
    expect(U, UG, None, lambda: os.setxattr(j("pub", "ufile"), "user.own", b"1"), "setxattr on one's own file")
    expect(V, VG, None, lambda: os.unlink(j("pub", "ufile")), "unlink of another's file in a 0777 non-sticky dir")

    # Sticky directory: only the file's owner (or the dir's owner, or root) may delete or rename it.
    expect(U, UG, None, lambda: write(j("tmp", "ufile"), b"u", 0o666), "create in a sticky dir")
    expect(V, VG, None, lambda: write(j("tmp", "vfile"), b"v", 0o666), "create in a sticky dir")
    expect(V, VG, errno.EPERM, lambda: os.unlink(j("tmp", "ufile")), "unlink of another's file in a sticky dir")
    expect(V, VG, errno.EPERM, lambda: os.rename(j("tmp", "ufile"), j("tmp", "stolen")), "rename of another's file in a sticky dir")
    expect(V, VG, errno.EPERM, lambda: os.rename(j("tmp", "vfile"), j("tmp", "ufile")), "rename over another's file in a sticky dir")
    expect(V, VG, None, lambda: write_existing(j("tmp", "ufile"), b"v wrote"), "write of another's 0666 file in a sticky dir")
    expect(U, UG, errno.EPERM, lambda: os.unlink(j("tmp", "rootfile")), "unlink of root's file in a sticky dir")
    expect(U, UG, None, lambda: os.unlink(j("tmp", "ufile")), "unlink of one's own file in a sticky dir")
    expect(V, VG, None, lambda: os.rename(j("tmp", "vfile"), j("tmp", "vfile2")), "rename of one's own file in a sticky dir")
    os.unlink(j("tmp", "vfile2"))
    check(sorted(os.listdir(j("tmp"))) == ["rootfile"], "sticky dir holds %r" % sorted(os.listdir(j("tmp"))))
    m.answers("the sticky-directory checks")

    # Setgid directory: new files take its group; new subdirectories also keep the setgid bit.
    expect(U, UG, None, lambda: write(j("sg", "f"), b"f", 0o644), "create in a setgid dir")
    expect(U, UG, None, lambda: os.mkdir(j("sg", "d"), 0o755), "mkdir in a setgid dir")
    expect(U, UG, None, lambda: write(j("pub", "plain"), b"p", 0o644), "create in a plain dir")
    f, d, plain = os.stat(j("sg", "f")), os.stat(j("sg", "d")), os.stat(j("pub", "plain"))
    check((f.st_uid, f.st_gid) == (U, SG), "a file in a setgid dir is %d:%d, expected %d:%d" % (f.st_uid, f.st_gid, U, SG))
    check(d.st_gid == SG, "a subdir of a setgid dir has gid %d, expected %d" % (d.st_gid, SG))
    check(d.st_mode & stat.S_ISGID, "a subdir of a setgid dir lost the setgid bit: %o" % d.st_mode)
    check(not f.st_mode & stat.S_ISGID, "a file in a setgid dir got the setgid bit: %o" % f.st_mode)
    check(plain.st_gid == UG, "a file in a plain dir has gid %d, expected the creator's %d" % (plain.st_gid, UG))
    expect(U, UG, None, lambda: write(j("sg", "d", "g"), b"g", 0o644), "create two levels under a setgid dir")
    check(os.stat(j("sg", "d", "g")).st_gid == SG, "a file two levels under a setgid dir has gid %d" % (
        os.stat(j("sg", "d", "g")).st_gid))
    m.answers("the setgid checks")
    # All of it survives a remount.
    m.stop()
    if not ctx.remount_checks():
        return
    m = rlib.mount(ctx, db, mnt, ["-o", "allow_other,default_permissions"], name="perm")
    d = os.stat(j("sg", "d"))
    check(d.st_gid == SG and d.st_mode & stat.S_ISGID, "the setgid subdir after a remount: gid %d mode %o" % (
        d.st_gid, d.st_mode))
    check(os.stat(j("tmp")).st_mode & stat.S_ISVTX, "the sticky bit after a remount")
    check(os.stat(j("pub", "plain")).st_uid == U, "ownership after a remount")
    expect(V, VG, errno.EPERM, lambda: os.unlink(j("tmp", "rootfile")), "sticky protection after a remount")
    m.stop()


def write_existing(path, data):
    """Overwrites an existing file without creating or truncating it by other means."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
