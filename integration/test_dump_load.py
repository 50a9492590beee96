"""`holtfs dump DB --json` and `holtfs load FILE DB`: a varied tree built on a real mount (dirs,
files small, chunked, over 1 MiB and sparse, symlinks, hard links across directories, a fifo, a
socket, char and block devices, modes, owners, times, xattrs small and 64 KiB, odd names) is
dumped offline, loaded into a new database, and both are mounted and walked: names, types,
modes, owners, sizes, times (ns), inode numbers, nlink, link targets, content hashes and xattrs
compare equal; `holtfs check` is clean; a dump of the loaded database is the same bytes.
Also: the refusals (a mounted database, a non-empty target, a truncated dump) are one line.
"""
import hashlib
import json
import os
import stat
import subprocess

from support import check, needs_persistence, run
from test_command import one_line_error

MiB = 1 << 20


def build_tree(root):
    """Builds the varied tree under `root` (a mount point); returns nothing."""
    def p(*parts):
        return os.path.join(root, *parts)

    os.makedirs(p("docs", "deep", "deeper", "deepest"))
    os.mkdir(p("other"))
    os.mkdir(p("sticky"))
    os.mkdir(p("many"))
    os.mkdir(p("héllo wörld"))
    # Files of several sizes: empty, inline, just over the inline limit, chunked, over 1 MiB.
    sizes = {"empty": 0, "one": 1, "small": 100, "inline-max": 2048, "over-inline": 2049,
             "chunk": 32768, "chunk-plus": 32769, "hundred-k": 100_000, "big": 3 * MiB + 12345}
    for name, size in sizes.items():
        with open(p("docs", name), "wb") as f:
            f.write(os.urandom(size))
    with open(p("héllo wörld", "naïve.txt"), "w") as f:
        f.write("unicode\n")
    with open(p("other", "name with\nnewline"), "w") as f:
        f.write("odd\n")
    with open(os.path.join(os.fsencode(root), b"other", b"bin\xff\xfe"), "wb") as f:
        f.write(b"not utf-8 name\n")
    # Sparse: a hole at the start, data in the middle, a hole to the end (set by truncate).
    with open(p("docs", "sparse"), "wb") as f:
        f.seek(5 * MiB)
        f.write(b"middle" * 1000)
        f.truncate(12 * MiB)
    with open(p("docs", "sparse-tail"), "wb") as f:
        f.write(b"head")
        f.seek(2 * MiB + 7)
        f.write(b"tail")
    # Many entries in one directory: more than one page of the dump's scan (1,024 keys).
    for i in range(1200):
        with open(p("many", "f%04d" % i), "w") as f:
            f.write("%d\n" % i)
    # Symlinks: relative, absolute, dangling, long.
    os.symlink("docs/small", p("link-rel"))
    os.symlink("/etc/hostname", p("link-abs"))
    os.symlink("no/such/target", p("other", "dangling"))
    os.symlink("x" * 1000, p("other", "long-target"))
    # Hard links across directories: three names of one file, two of another.
    os.link(p("docs", "small"), p("other", "small-again"))
    os.link(p("docs", "small"), p("docs", "deep", "small-third"))
    os.link(p("docs", "big"), p("other", "big-too"))
    # Special files.
    os.mkfifo(p("other", "fifo"), 0o640)
    os.mknod(p("other", "socket"), 0o600 | stat.S_IFSOCK)
    os.mknod(p("other", "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(p("other", "loop9"), 0o660 | stat.S_IFBLK, os.makedev(7, 9))
    # Xattrs: small, 64 KiB (kept outside the record), several on one file, on a directory.
    os.setxattr(p("docs", "small"), "user.small", b"v")
    os.setxattr(p("docs", "small"), "user.binary", bytes(range(256)))
    os.setxattr(p("docs", "hundred-k"), "user.big", os.urandom(65536))
    os.setxattr(p("docs", "hundred-k"), "trusted.other", b"t" * 300)
    os.setxattr(p("docs"), "user.dir", b"on a directory")
    os.setxattr(p("other", "fifo"), "trusted.on-fifo", b"")  # user.* only on files and dirs
    # Modes and owners.
    for argv in (["chmod", "4755", p("docs", "one")], ["chmod", "600", p("docs", "empty")],
                 ["chmod", "1777", p("sticky")], ["chmod", "2750", p("docs", "deep")],
                 ["chown", "1234:5678", p("docs", "one")], ["chown", "4321:8765", p("other")],
                 ["chown", "-h", "77:88", p("link-rel")]):
        r = run(argv)
        check(r.returncode == 0, "%s: %s" % (" ".join(argv), r.stderr))
    # Times, last (adding entries changes a directory's mtime): touch -d with ns, and os.utime.
    r = run(["touch", "-h", "-d", "2001-02-03 04:05:06.123456789 UTC", p("docs", "small"), p("link-rel"), p("docs", "deep")])
    check(r.returncode == 0, "touch -d: %s" % r.stderr)
    os.utime(p("docs", "big"), ns=(1_000_000_001, 2_000_000_002))
    os.utime(p("other", "fifo"), ns=(-1_500_000_000, 3_000_000_003))  # before the epoch


def walk(root):
    """{relative path (bytes): attributes} of every node below `root`, the root included;
    stats are taken before any file is read."""
    broot = os.fsencode(root)
    nodes = {}
    pending = [b""]
    while pending:
        rel = pending.pop()
        path = os.path.join(broot, rel) if rel else broot
        st = os.lstat(path)
        entry = {
            "type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "size": st.st_size, "nlink": st.st_nlink, "ino": st.st_ino, "rdev": st.st_rdev,
            "atime": st.st_atime_ns, "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns,
        }
        if stat.S_ISLNK(st.st_mode):
            entry["target"] = os.readlink(path)
        if stat.S_ISDIR(st.st_mode):
            names = sorted(os.listdir(path))
            entry["names"] = names
            pending.extend(os.path.join(rel, n) if rel else n for n in names)
        nodes[rel] = entry
    for rel, entry in nodes.items():
        path = os.path.join(broot, rel) if rel else broot
        xattrs = {}
        for name in os.listxattr(path, follow_symlinks=False):
            xattrs[name] = hashlib.sha256(os.getxattr(path, name, follow_symlinks=False)).hexdigest()
        entry["xattrs"] = xattrs
        if entry["type"] == stat.S_IFREG:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(MiB), b""):
                    digest.update(block)
            entry["sha256"] = digest.hexdigest()
    return nodes


def compare_trees(a, b):
    """Fails with the first differences between two walks."""
    differences = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            differences.append("%r only in %s" % (rel, "the original" if rel in a else "the copy"))
            continue
        for field in sorted(set(a[rel]) | set(b[rel])):
            if a[rel].get(field) != b[rel].get(field):
                differences.append("%r %s: %r != %r" % (rel, field, a[rel].get(field), b[rel].get(field)))
    check(not differences, "%d differences:\n  %s" % (len(differences), "\n  ".join(differences[:30])))


@needs_persistence
def test_dump_load_round_trip(ctx):
    m = ctx.mount(name="orig")
    build_tree(m.mnt)
    # While mounted, the daemon dumps a snapshot: the same filesystem as the offline dump below
    # (nothing changes in between), line for line.
    live = ctx.path("live.jsonl")
    with open(live, "wb") as out:
        r = subprocess.run([ctx.holtfs, "dump", m.mnt, "--json"], stdout=out, stderr=subprocess.PIPE, timeout=120)
    check(r.returncode == 0, "dump --json of the mount: exit %d: %s" % (r.returncode, r.stderr))
    m.umount()

    dump = ctx.path("dump.jsonl")
    with open(dump, "wb") as out:
        r = subprocess.run([ctx.holtfs, "dump", m.db, "--json"], stdout=out, stderr=subprocess.PIPE, timeout=120)
    check(r.returncode == 0, "dump --json: exit %d: %s" % (r.returncode, r.stderr))
    check(r.stderr == b"", "dump printed on stderr (not a terminal): %r" % r.stderr[:300])
    with open(dump, "rb") as f:
        lines = [json.loads(line) for line in f]
    with open(live, "rb") as f:
        live_lines = [json.loads(line) for line in f]
    check(live_lines == lines, "the live dump differs from the offline one: %d lines against %d" % (
        len(live_lines), len(lines)))
    check(lines[0].get("format") == "holtfs-dump" and lines[0].get("version") == 1, "header: %r" % lines[0])
    check(lines[-1].get("end") is True, "last line: %r" % lines[-1])
    entries = [l for l in lines if "path" in l or "path_b64" in l]
    kinds = {l.get("kind") for l in entries if "kind" in l}
    check(kinds >= {"dir", "file", "symlink", "fifo", "socket", "chardev", "blockdev"}, "kinds: %r" % kinds)
    check(sum(1 for l in lines if "link" in l) == 3, "link lines: %r" % [l for l in lines if "link" in l])
    check(any("path_b64" in l for l in entries), "the non-UTF-8 name is not in path_b64")

    copy_db = ctx.path("copy.db")
    r = run([ctx.holtfs, "load", dump, copy_db], timeout=120)
    check(r.returncode == 0 and r.stdout == "" and r.stderr == "", "load: exit %d: %r %r" % (r.returncode, r.stdout, r.stderr))
    for db in (m.db, copy_db):
        r = run([ctx.holtfs, "check", db], timeout=120)
        check(r.returncode == 0, "holtfs check %s: exit %d: %s%s" % (db, r.returncode, r.stdout, r.stderr))
    # The loaded database dumps to the same bytes.
    r2 = subprocess.run([ctx.holtfs, "dump", copy_db, "--json"], capture_output=True, timeout=120)
    with open(dump, "rb") as f:
        check(r2.returncode == 0 and r2.stdout == f.read(), "the loaded database dumps differently")

    # Both mounted at once, walked and compared.
    original = ctx.mount(db=m.db, name="orig2")
    copy = ctx.mount(db=copy_db, name="copy")
    a, b = walk(original.mnt), walk(copy.mnt)
    check(len(a) >= 1234, "the walk found only %d nodes" % len(a))
    compare_trees(a, b)
    small = a[b"docs/small"]
    check(small["nlink"] == 3 and small["mtime"] == 981173106123456789, "docs/small: %r" % small)
    check(a[b"docs/sparse"]["size"] == 12 * MiB and a[b"docs/big"]["nlink"] == 2, "sizes/nlink: %r" % a[b"docs/big"])
    check(a[b"other/null"]["rdev"] == os.makedev(1, 3), "rdev: %r" % a[b"other/null"])
    original.umount()
    copy.umount()


@needs_persistence
def test_load_from_stdin_and_refusals(ctx):
    m = ctx.mount(name="src")
    os.makedirs(os.path.join(m.mnt, "a/b"))
    with open(os.path.join(m.mnt, "a/b/f"), "w") as f:
        f.write("x" * 5000)
    m.umount()
    # dump | load -, into an existing empty directory.
    target = ctx.dir("empty-dir.db")
    pipeline = "%s dump %s --json | %s load - %s" % (ctx.holtfs, m.db, ctx.holtfs, target)
    r = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "dump | load -: %r" % r.stderr)
    r = run([ctx.holtfs, "check", target])
    check(r.returncode == 0, "check: %s%s" % (r.stdout, r.stderr))
    # A non-empty database, a directory that holds something else, a file: refused, one line each.
    dump = ctx.path("d.jsonl")
    with open(dump, "wb") as out:
        check(subprocess.run([ctx.holtfs, "dump", m.db, "--json"], stdout=out).returncode == 0, "dump")
    line = one_line_error(run([ctx.holtfs, "load", dump, m.db]), "load")
    check("not empty" in line, line)
    other = ctx.dir("other")
    open(os.path.join(other, "file"), "w").close()
    one_line_error(run([ctx.holtfs, "load", dump, other]), "load")
    check(os.listdir(other) == ["file"], "a refused load left files: %r" % os.listdir(other))
    # A truncated dump fails with the reason and leaves a database to remove.
    with open(dump, "rb") as f:
        data = f.read()
    truncated = ctx.path("t.jsonl")
    with open(truncated, "wb") as f:
        f.write(data[:data.rindex(b"{\"end\"")])
    line = one_line_error(run([ctx.holtfs, "load", truncated, ctx.path("t.db")]), "load")
    check("end line" in line, line)
    # The key listing is still the default; --keys --json prints its JSON rows.
    r = run([ctx.holtfs, "dump", m.db])
    check(r.returncode == 0 and "a/b/f  regular" in r.stdout, "dump: %r" % r.stdout)
    r = run([ctx.holtfs, "dump", m.db, "a/", "--keys", "--json"])
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    check(r.returncode == 0 and [row["key"] for row in rows] == ["a/b", "a/b/f"], "dump --keys --json: %r" % rows)
    one_line_error(run([ctx.holtfs, "dump", m.db, "a/", "--json"]), "dump")


@needs_persistence
def test_a_library_database_round_trips(ctx):
    """A database written by the engine alone (the filesystem-meta example: plain values, keys
    below other keys, no inode record at all) dumps as plain values and implicit directories,
    loads back key for key, and mounts showing the same tree."""
    binary = os.path.join(os.path.dirname(ctx.holtfs), "filesystem-meta")
    check(os.access(binary, os.X_OK), "%s is not built" % binary)
    db = ctx.path("library.db")
    r = run([binary, db])
    check(r.returncode == 0, "filesystem-meta: %s%s" % (r.stdout, r.stderr))
    r = subprocess.run([ctx.holtfs, "dump", db, "--json"], capture_output=True, timeout=60)
    check(r.returncode == 0, "dump: %r" % r.stderr)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    check("next_ino" not in lines[0], "a superblock in a library database: %r" % lines[0])
    check(lines[1] == {"path": "", "kind": "dir", "implicit": True}, "root: %r" % lines[1])
    check({"path": "home", "kind": "file", "plain": True, "data": "ZGly"} in lines, "home: %r" % lines[:4])
    copy = ctx.path("library-copy.db")
    dump = ctx.path("library.jsonl")
    with open(dump, "wb") as f:
        f.write(r.stdout)
    r2 = run([ctx.holtfs, "load", dump, copy])
    check(r2.returncode == 0, "load: %s" % r2.stderr)
    again = subprocess.run([ctx.holtfs, "dump", copy, "--json"], capture_output=True, timeout=60)
    check(again.stdout == r.stdout, "the loaded library database dumps differently")
    # Both mounted: the same names, kinds, sizes, inos (derived from the keys) and contents; the
    # times of nodes without records are the mount's, so they are left out.
    a = walk(ctx.mount(db=db, name="lib").mnt)
    b = walk(ctx.mount(db=copy, name="libcopy").mnt)
    for tree in (a, b):
        for entry in tree.values():
            for field in ("atime", "mtime", "ctime"):
                entry.pop(field)
    compare_trees(a, b)
    check(a[b"home"]["type"] == stat.S_IFREG and a[b"home"]["size"] == 3, "home shows as %r" % a[b"home"])
