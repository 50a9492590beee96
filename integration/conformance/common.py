"""Path-resolution errors shared by every syscall group.

path_errors(t, label, op, prep) runs op(path) against:
  names of 255 bytes (ok) and 256 bytes (ENAMETOOLONG),
  paths of 4095 bytes (ok) and 4096/5000 bytes (ENAMETOOLONG),
  missing components (ENOENT), empty path (ENOENT),
  every non-directory type used as a directory component (ENOTDIR),
  a trailing slash after a regular file (ENOTDIR),
  symlink loops in the path (ELOOP),
  directories without search permission for the caller's class (EACCES).
prep(path), when given, creates the node op needs at path (as root).
"""
import os

from harness import (NONDIR_TYPES, U1, G1, U2, G2, make, make_long_dirs, uerr)


def path_errors(t, label, op, prep=None, user_op=None, create=False):
    """user_op: the op to run as an unprivileged user for the EACCES cases
    (defaults to op)."""
    uop = user_op or op

    def ready(p):
        if prep:
            prep(p)

    # --- name length
    for n in (1, 254, 255):
        name = "n" * n
        ready(name)
        t.e(0, "%s: %d-byte name ok" % (label, n), op, name)
    for n in (256, 1000):
        t.e(36, "%s: %d-byte name ENAMETOOLONG" % (label, n), op, "m" * n)
    # a long name in an intermediate component
    t.e(36, "%s: 256-byte directory component ENAMETOOLONG" % label, op, "m" * 256 + "/x")

    # --- path length (relative, so the kernel sees exactly these bytes)
    p = make_long_dirs(4095)
    ready(p)
    t.e(0, "%s: 4095-byte path ok" % label, op, p)
    for n in (4096, 5000):
        t.e(36, "%s: %d-byte path ENAMETOOLONG" % (label, n), op, ("q/" * (n // 2 + 1))[:n])

    # --- ENOENT
    t.e(2, "%s: missing directory component ENOENT" % label, op, "nx_dir/x")
    t.e(2, "%s: missing two components ENOENT" % label, op, "nx_dir/nx2/x")
    t.e(2, "%s: empty path ENOENT" % label, op, "")
    os.symlink("nx_target", "dangling_dir")
    t.e(2, "%s: dangling symlink as directory component ENOENT" % label, op, "dangling_dir/x")

    # --- ENOTDIR: each non-directory type as a path component
    os.mkdir("nd", 0o755)
    open("nd/reg_target", "w").close()
    for k in NONDIR_TYPES:
        name = "nd/" + k
        make(k, name, target="reg_target")
        t.e(20, "%s: %s as directory component ENOTDIR" % (label, k), op, name + "/x")
    if not create:
        t.e(20, "%s: regular file with trailing slash ENOTDIR" % label, op, "nd/reg/")

    # --- ELOOP
    os.symlink("loop_b", "loop_a")
    os.symlink("loop_a", "loop_b")
    t.e(40, "%s: symlink loop as directory component ELOOP" % label, op, "loop_a/x")
    os.symlink("self", "self")
    t.e(40, "%s: self-referencing symlink component ELOOP" % label, op, "self/x")

    # --- EACCES: no search permission on a directory in the path.
    # The caller's class (owner/group/other) decides which bits count.
    os.chmod(".", 0o777)
    for i, (owner, group, m, who) in enumerate((
            (0, 0, 0o666, "other, mode 0666"),
            (0, 0, 0o770, "other, mode 0770"),
            (0, 0, 0o000, "other, mode 0000"),
            (0, G1, 0o767, "group, mode 0767 (others may search, group may not)"),
            (U1, 0, 0o677, "owner, mode 0677 (others may search, owner may not)"))):
        d = "ns%d" % i
        os.mkdir(d, 0o755)
        ready(d + "/x")
        os.chown(d, owner, group)
        os.chmod(d, m)
        got = uerr(U1, G1, uop, d + "/x")
        t._e(13, got, "%s: no search permission (%s) EACCES" % (label, who))
    # search permission in an intermediate (not the last) directory
    os.mkdir("ns9", 0o755)
    os.mkdir("ns9/sub", 0o777)
    ready("ns9/sub/x")
    os.chmod("ns9", 0o700)
    t._e(13, uerr(U1, G1, uop, "ns9/sub/x"), "%s: no search permission two levels up EACCES" % label)
    os.chmod(".", 0o755)
