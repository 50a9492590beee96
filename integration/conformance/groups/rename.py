import os
import stat

from harness import (Group, TYPES, NONDIR_TYPES, U1, G1, U2, G2, make, mode, uerr, renameat2,
                     RENAME_NOREPLACE, RENAME_EXCHANGE)
from common import path_errors

g = Group("rename")


def ino(p):
    return os.lstat(p).st_ino


@g.case("rename each type within a directory and across directories")
def _(t):
    os.mkdir("a", 0o755)
    os.mkdir("b", 0o755)
    for k in TYPES:
        make(k, "a/" + k, target="x")
        i = ino("a/" + k)
        os.rename("a/" + k, "a/" + k + ".new")
        t.eq((os.path.lexists("a/" + k), ino("a/" + k + ".new")), (False, i), "rename %s in place" % k)
        os.rename("a/" + k + ".new", "b/" + k)
        s = os.lstat("b/" + k)
        t.eq((os.path.lexists("a/" + k + ".new"), s.st_ino, stat.S_IFMT(s.st_mode)), (False, i, stat.S_IFMT(s.st_mode)),
             "rename %s to another dir keeps the inode" % k)
        t.eq(s.st_nlink, 2 if k == "dir" else 1, "rename %s keeps nlink" % k)
    t.eq(os.lstat("a").st_nlink, 2, "source dir nlink after moving a subdir out")
    t.eq(os.lstat("b").st_nlink, 3, "destination dir nlink after moving a subdir in")
    with open("b/reg", "wb") as f:
        f.write(b"payload")
    os.rename("b/reg", "a/moved")
    with open("a/moved", "rb") as f:
        t.eq(f.read(), b"payload", "data survives a rename")
    os.mkdir("a/tree", 0o755)
    os.mkdir("a/tree/sub", 0o755)
    make("reg", "a/tree/sub/leaf")
    os.rename("a/tree", "b/tree")
    t.ok(os.path.isfile("b/tree/sub/leaf"), "a directory moves with its contents")
    t.eq(os.lstat("b/tree/..").st_ino, ino("b"), "'..' of a moved directory points to the new parent")


@g.case("rename replacing an existing target")
def _(t):
    for k in NONDIR_TYPES:
        make(k, "s_" + k, target="x")
        make("reg", "d_" + k)
        i = ino("s_" + k)
        os.rename("s_" + k, "d_" + k)
        t.eq((os.path.lexists("s_" + k), ino("d_" + k)), (False, i), "%s over a regular file replaces it" % k)
        make(k, "t_" + k, target="x")
        make(k, "u_" + k, target="x")
        i = ino("t_" + k)
        os.rename("t_" + k, "u_" + k)
        t.eq(ino("u_" + k), i, "%s over a %s replaces it" % (k, k))
    os.mkdir("dsrc", 0o755)
    make("reg", "dsrc/inside")
    os.mkdir("ddst", 0o755)
    i = ino("dsrc")
    n = os.lstat(".").st_nlink
    os.rename("dsrc", "ddst")
    t.eq((ino("ddst"), os.path.exists("ddst/inside")), (i, True), "dir over an empty dir replaces it")
    t.eq(os.lstat(".").st_nlink, n - 1, "parent nlink drops by one when a dir replaces a dir")
    os.mkdir("full", 0o755)
    make("reg", "full/x")
    os.mkdir("e", 0o755)
    # ext4/tmpfs/btrfs say ENOTEMPTY, XFS says EEXIST; POSIX allows both.
    t.e((39, 17), "dir over a non-empty dir ENOTEMPTY (or EEXIST)", os.rename, "e", "full")
    for k in NONDIR_TYPES:
        make(k, "x_" + k, target="x")
        os.mkdir("y_" + k, 0o755)
        t.e(21, "%s over a dir EISDIR" % k, os.rename, "x_" + k, "y_" + k)
        t.e(20, "dir over a %s ENOTDIR" % k, os.rename, "y_" + k, "x_" + k)
    # replaced file with another link: its ctime changes and nlink drops
    make("reg", "victim")
    os.link("victim", "victim2")
    make("reg", "newcomer")
    b = t.snap("victim2")
    os.rename("newcomer", "victim")
    t.eq(os.lstat("victim2").st_nlink, 1, "replaced file loses a link")
    t.times(b, "victim2", "replaced file (other link)", m=False, c=True)


@g.case("rename no-ops and invalid renames")
def _(t):
    make("reg", "f")
    i = ino("f")
    t.e(0, "rename a file onto itself ok", os.rename, "f", "f")
    t.eq(ino("f"), i, "rename onto itself keeps the file")
    os.link("f", "h")
    t.e(0, "rename onto another link of the same file ok", os.rename, "f", "h")
    t.ok(os.path.lexists("f") and os.path.lexists("h"), "both links remain (POSIX: do nothing)")
    t.eq(os.lstat("h").st_nlink, 2, "nlink unchanged")
    os.mkdir("d", 0o755)
    os.mkdir("d/sub", 0o755)
    t.e(22, "rename a dir into its own subdir EINVAL", os.rename, "d", "d/sub/d")
    t.e(22, "rename a dir into itself EINVAL", os.rename, "d", "d/d")
    t.e(0, "rename a dir onto itself ok", os.rename, "d", "d")
    # Linux refuses '.'/'..' as the last component with EBUSY (do_renameat2)
    t.e(16, "rename . EBUSY", os.rename, ".", "x")
    t.e(16, "rename .. EBUSY", os.rename, "..", "x")
    t.e(16, "rename d/. EBUSY", os.rename, "d/.", "x")
    t.e(16, "rename d/.. EBUSY", os.rename, "d/..", "x")
    t.e(16, "rename onto . EBUSY", os.rename, "f", ".")
    t.e(16, "rename onto d/.. EBUSY", os.rename, "f", "d/..")
    t.e(2, "rename a missing source ENOENT", os.rename, "nx", "y")
    t.e(20, "rename a file with a trailing slash ENOTDIR", os.rename, "f/", "y")
    t.e(20, "rename a file to a name with a trailing slash ENOTDIR", os.rename, "f", "y/")
    t.e(0, "rename a dir with trailing slashes ok", os.rename, "d/", "dd/")
    os.symlink("dd", "ld")
    t.e(20, "rename a symlink to a dir with a trailing slash ENOTDIR", os.rename, "ld/", "x")
    t.e(0, "rename of a symlink renames the link", os.rename, "ld", "ld2")
    t.ok(os.path.islink("ld2") and os.path.isdir("dd"), "link renamed, target untouched")


@g.case("rename timestamps")
def _(t):
    os.mkdir("a", 0o755)
    os.mkdir("b", 0o755)
    for k in TYPES:
        make(k, "a/" + k, target="x")
        b = t.snap("a/" + k, "a", "b")
        os.rename("a/" + k, "b/" + k)
        t.times(b, "a", "rename %s: source parent" % k, m=True, c=True)
        t.times(b, "b", "rename %s: destination parent" % k, m=True, c=True)
        if k != "dir":
            t.times(b["a/" + k], "b/" + k, "rename %s: the node" % k, m=False)
        # POSIX leaves the renamed node's ctime unspecified ("some implementations
        # mark it for update and some do not"): both accepted.
        s = os.lstat("b/" + k)
        t.ok(s.st_ctime_ns >= b["a/" + k].st_ctime_ns, "rename %s: node ctime not moved backwards" % k)
        b = t.snap("b/" + k, "b")
        os.rename("b/" + k, "b/" + k + "2")
        t.times(b, "b", "rename %s in place: parent" % k, m=True, c=True)


@g.case("rename permissions")
def _(t):
    t.open_dir()
    for sm, dm, exp, what in ((0o755, 0o777, 13, "no write on source dir"),
                              (0o777, 0o755, 13, "no write on destination dir"),
                              (0o777, 0o777, 0, "write on both dirs"),
                              (0o766, 0o777, 13, "no search on source dir"),
                              (0o777, 0o776, 13, "no search on destination dir"),
                              (0o333, 0o333, 0, "write+search without read")):
        s, d = "s%o_%o" % (sm, dm), "d%o_%o" % (sm, dm)
        os.mkdir(s, 0o755)
        os.mkdir(d, 0o755)
        make("reg", s + "/f")
        os.chmod(s, sm)
        os.chmod(d, dm)
        t.ue(exp, "rename as user, %s: %s" % (what, "ok" if not exp else "EACCES"), U1, G1, os.rename,
             s + "/f", d + "/f")
    # moving a directory to another parent needs write permission on it (for '..')
    os.mkdir("p1", 0o777)
    os.mkdir("p2", 0o777)
    os.mkdir("p1/d", 0o755)
    t.ue(13, "move another user's 0755 dir to a new parent EACCES", U1, G1, os.rename, "p1/d", "p2/d")
    t.ue(0, "rename another user's 0755 dir within the same parent ok", U1, G1, os.rename, "p1/d", "p1/e")
    os.chmod("p1/e", 0o777)
    t.ue(0, "move a 0777 dir to a new parent ok", U1, G1, os.rename, "p1/e", "p2/e")
    # sticky directory
    os.mkdir("st", 0o1777)
    for fown, dst_own, caller, exp, what in (
            (U2, None, U1, 1, "other user's file out of a sticky dir EPERM"),
            (U1, None, U1, 0, "own file out of a sticky dir ok"),
            (U1, U2, U1, 1, "own file over other user's file in a sticky dir EPERM"),
            (U1, U1, U1, 0, "own file over own file in a sticky dir ok")):
        n = "st/f%d_%d" % (fown, caller) + ("x" if dst_own is None else "_%d" % dst_own)
        make("reg", n, 0o666)
        os.chown(n, fown, fown)
        if dst_own is None:
            dst = "moved_" + os.path.basename(n)
        else:
            dst = n + ".dst"
            make("reg", dst, 0o666)
            os.chown(dst, dst_own, dst_own)
        t.ue(exp, "sticky: " + what, caller, caller, os.rename, n, dst)
    os.mkdir("st2", 0o1777)
    os.chown("st2", U1, G1)
    make("reg", "st2/f", 0o666)
    os.chown("st2/f", U2, G2)
    t.ue(0, "sticky: dir owner may rename others' files", U1, G1, os.rename, "st2/f", "st2/g")


@g.case("renameat2 RENAME_NOREPLACE")
def _(t):
    make("reg", "src")
    for k in TYPES:
        make(k, "e_" + k, target="x")
        t.e(17, "RENAME_NOREPLACE onto %s EEXIST" % k, renameat2, "src", "e_" + k, RENAME_NOREPLACE)
    t.ok(os.path.lexists("src"), "failed RENAME_NOREPLACE kept the source")
    t.e(0, "RENAME_NOREPLACE to a free name ok", renameat2, "src", "free", RENAME_NOREPLACE)
    t.ok(os.path.lexists("free") and not os.path.lexists("src"), "RENAME_NOREPLACE moved the file")
    t.e(22, "RENAME_NOREPLACE|RENAME_EXCHANGE EINVAL", renameat2, "free", "e_reg",
        RENAME_NOREPLACE | RENAME_EXCHANGE)
    t.e(22, "renameat2 with an unknown flag EINVAL", renameat2, "free", "other", 1 << 20)


@g.case("renameat2 RENAME_EXCHANGE")
def _(t):
    os.mkdir("a", 0o755)
    os.mkdir("b", 0o755)
    for k in TYPES:
        make(k, "a/" + k, target="x")
        for k2 in ("reg", "dir"):
            make(k2, "b/" + k2 + "_" + k)
            i1, i2 = ino("a/" + k), ino("b/" + k2 + "_" + k)
            na, nb = os.lstat("a").st_nlink, os.lstat("b").st_nlink
            renameat2("a/" + k, "b/" + k2 + "_" + k, RENAME_EXCHANGE)
            t.eq((ino("a/" + k), ino("b/" + k2 + "_" + k)), (i2, i1), "exchange %s with %s" % (k, k2))
            da = (k2 == "dir") - (k == "dir")
            t.eq((os.lstat("a").st_nlink, os.lstat("b").st_nlink), (na + da, nb - da),
                 "exchange %s with %s: parents' nlink" % (k, k2))
            renameat2("a/" + k, "b/" + k2 + "_" + k, RENAME_EXCHANGE)
    t.e(2, "RENAME_EXCHANGE with a missing target ENOENT", renameat2, "a/reg", "b/nx", RENAME_EXCHANGE)
    t.e(2, "RENAME_EXCHANGE with a missing source ENOENT", renameat2, "a/nx", "b/reg_reg", RENAME_EXCHANGE)
    os.mkdir("a/dir/in", 0o755)
    t.e(22, "RENAME_EXCHANGE of a dir with its own child EINVAL", renameat2, "a/dir", "a/dir/in", RENAME_EXCHANGE)
    with open("a/reg", "wb") as f:
        f.write(b"A")
    with open("b/reg_reg", "wb") as f:
        f.write(b"B")
    b = t.snap("a", "b")
    renameat2("a/reg", "b/reg_reg", RENAME_EXCHANGE)
    with open("a/reg", "rb") as f1, open("b/reg_reg", "rb") as f2:
        t.eq((f1.read(), f2.read()), (b"B", b"A"), "RENAME_EXCHANGE swaps contents by name")
    t.times(b, "a", "exchange: first parent", m=True, c=True)
    t.times(b, "b", "exchange: second parent", m=True, c=True)
    t.e(0, "RENAME_EXCHANGE of a name with itself ok", renameat2, "a/reg", "a/reg", RENAME_EXCHANGE)


@g.case("path resolution errors (source)")
def _(t):
    n = [0]

    def op(p):
        n[0] += 1
        os.rename(p, "dst%d" % n[0])
    os.chmod(".", 0o777)
    path_errors(t, "rename source", op, prep=lambda p: make("reg", p, 0o666))


@g.case("path resolution errors (destination)")
def _(t):
    n = [0]

    def op(p):
        n[0] += 1
        s = "src%d" % n[0]
        make("reg", s, 0o666)
        os.chmod(s, 0o666)
        os.rename(s, p)
    os.chmod(".", 0o777)
    make("reg", "usersrc", 0o666)
    path_errors(t, "rename destination", op, create=True, user_op=lambda p: os.rename("usersrc", p))
