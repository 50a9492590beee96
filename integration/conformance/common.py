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

from harness import (NONDIR_TYPES, U1, G1, U2, G2, make, make_long_dirs, uerr, as_user)


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


CREATE_MODES = (0o000, 0o001, 0o002, 0o004, 0o010, 0o020, 0o040, 0o100, 0o200, 0o400,
                0o444, 0o555, 0o600, 0o644, 0o666, 0o700, 0o711, 0o750, 0o755, 0o777)
UMASKS = (0o000, 0o002, 0o022, 0o027, 0o077, 0o777)


def create_checks(t, label, create, kind, special_modes=(), root_only=False):
    """Shared checks for calls that create a node: create(path, mode).
    special_modes: (requested, expected) pairs for setuid/setgid/sticky bits."""
    from harness import FMT, now_ns, TYPES, G3
    # modes (umask 0)
    for m in CREATE_MODES:
        n = "m%04o" % m
        create(n, m)
        s = os.lstat(n)
        t.eq((FMT[kind] == (s.st_mode & 0o170000), oct(s.st_mode & 0o7777)), (True, oct(m)),
             "%s mode %04o" % (label, m))
    for req, exp in special_modes:
        n = "s%04o" % req
        create(n, req)
        t.eq(oct(os.lstat(n).st_mode & 0o7777), oct(exp), "%s mode %04o gives %04o" % (label, req, exp))
    # umask
    for um in UMASKS:
        n = "u%04o" % um
        old = os.umask(um)
        try:
            create(n, 0o777)
        finally:
            os.umask(old)
        t.eq(oct(os.lstat(n).st_mode & 0o7777), oct(0o777 & ~um), "%s 0777 with umask %04o" % (label, um))
    if root_only:  # e.g. device nodes: only root may create them
        os.mkdir("sg", 0o777)
        os.chown("sg", 0, G3)
        os.chmod("sg", 0o2777)
        create("sg/x", 0o755)
        t.eq(os.lstat("sg/x").st_gid, G3, "%s in setgid dir inherits the dir's group" % label)
    else:
        _user_create_checks(t, label, create, kind)
    _common_create_checks(t, label, create, kind)


def _user_create_checks(t, label, create, kind):
    from harness import G3
    # umask in a child running as another user
    os.mkdir("uu", 0o777)
    got = as_user(U1, G1, create, "uu/x", 0o666, umask=0o026)[0]
    t._e(0, got, "%s as user %d" % (label, U1))
    s = os.lstat("uu/x")
    t.eq(oct(s.st_mode & 0o7777), oct(0o640), "%s 0666 with umask 026 as user" % label)
    t.eq((s.st_uid, s.st_gid), (U1, G1), "%s: new node owned by caller's euid/egid" % label)
    t.eq(s.st_nlink, 2 if kind == "dir" else 1, "%s: new node nlink" % label)
    # setgid directory: group inherited from the directory
    os.mkdir("sg", 0o777)
    os.chown("sg", 0, G3)
    os.chmod("sg", 0o2777)
    as_user(U1, G1, create, "sg/x", 0o755)
    s = os.lstat("sg/x")
    t.eq(s.st_gid, G3, "%s in setgid dir inherits the dir's group" % label)
    if kind == "dir":
        t.eq(oct(s.st_mode & 0o7777), oct(0o2755), "%s in setgid dir: new dir is setgid too" % label)
    else:
        t.eq(oct(s.st_mode & 0o7777), oct(0o755), "%s in setgid dir: new non-dir is not setgid" % label)
    os.mkdir("nsg", 0o777)
    os.chown("nsg", 0, G3)
    as_user(U1, G1, create, "nsg/x", 0o755)
    t.eq(os.lstat("nsg/x").st_gid, G1, "%s in non-setgid dir takes the caller's group" % label)
    # write permission on the parent
    for i, (own, grp, m, who, exp) in enumerate((
            (0, 0, 0o755, "other, dir 0755", 13),
            (0, 0, 0o775, "other, dir 0775", 13),
            (0, 0, 0o773, "other, dir 0773 (no read needed)", 0),
            (0, 0, 0o777, "other, dir 0777", 0),
            (0, G1, 0o757, "group, dir 0757", 13),
            (0, G1, 0o737, "group, dir 0737", 0),
            (U1, 0, 0o577, "owner, dir 0577", 13),
            (U1, 0, 0o300, "owner, dir 0300", 0),
            (0, 0, 0o776, "other, dir 0776 (no search)", 13))):
        d = "w%d" % i
        os.mkdir(d, 0o755)
        os.chown(d, own, grp)
        os.chmod(d, m)
        t._e(exp, uerr(U1, G1, create, d + "/x", 0o644), "%s as %s %s" % (label, who, "EACCES" if exp else "ok"))


def _common_create_checks(t, label, create, kind):
    from harness import FMT, now_ns, TYPES
    # timestamps
    os.mkdir("p", 0o755)
    b = t.snap("p")
    t0 = now_ns()
    create("p/x", 0o644)
    t.recent("p/x", label + ": new node", t0)
    t.times(b, "p", "%s: parent" % label, m=True, c=True)
    t.eq(os.lstat("p").st_nlink, 3 if kind == "dir" else 2, "%s: parent nlink" % label)
    # EEXIST for each existing type
    os.mkdir("ex", 0o755)
    for k in TYPES:
        make(k, "ex/" + k, target="nowhere")
        t.e(17, "%s over existing %s EEXIST" % (label, k), create, "ex/" + k, 0o644)
    os.symlink("ex/reg", "ex/tofile")
    t.e(17, "%s over a symlink to a file EEXIST" % label, create, "ex/tofile", 0o644)
    t.eq(oct(os.lstat("ex/reg").st_mode & 0o777), oct(0o644), "%s: failed create left the mode" % label)
    # path errors
    path_errors(t, label, lambda p: create(p, 0o644), create=True)
