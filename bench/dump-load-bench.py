#!/usr/bin/env python3
"""Dump and load of a big tree: `holtfs load` and `holtfs dump --json` timed on ~1M entries.

    python3 bench/dump-load-bench.py [--holtfs .build/release/holtfs] [--dir /var/tmp/holt-dump-bench]
                                     [--top 100 --sub 100 --files 100] [--keep]

1. Writes a synthetic dump (the format of docs/FORMAT.md): TOP x SUB directories of FILES files
   each (1,010,101 entries by default: 1,000,000 files, 10,100 directories, the root), 64 bytes of
   inline data per file, a 40 KiB chunked file every 1,000 files, an xattr every 50, a second
   name (hard link, in links/) every 10,000.
2. `holtfs load synthetic.jsonl A.db`: builds the database through HoltFS's loader (FSImporter).
3. `holtfs dump A.db --json > A.jsonl`: the dump measured.
4. `holtfs load A.jsonl B.db`: the load of a real dump measured.
5. `holtfs check B.db` and `holtfs dump B.db --json` compared byte for byte with A.jsonl.

Prints a Markdown table: wall seconds, CPU seconds (user+sys), peak RSS, entries per second,
bytes. Each command runs alone; the machine should be otherwise idle.
"""
import argparse
import base64
import os
import platform
import resource
import shutil
import subprocess
import sys
import time


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--holtfs", default=".build/release/holtfs")
    ap.add_argument("--dir", default="/var/tmp/holt-dump-bench")
    ap.add_argument("--top", type=int, default=100)
    ap.add_argument("--sub", type=int, default=100)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--keep", action="store_true", help="keep the databases and dumps")
    args = ap.parse_args()
    holtfs = os.path.abspath(args.holtfs)
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    p = lambda name: os.path.join(args.dir, name)

    t = time.monotonic()
    entries, chunks = synthetic_dump(p("synthetic.jsonl"), args.top, args.sub, args.files)
    print("synthetic dump: %d entries, %d chunk lines, %d bytes, written in %.1f s" % (
        entries, chunks, os.path.getsize(p("synthetic.jsonl")), time.monotonic() - t), file=sys.stderr)

    rows = []
    build = timed([holtfs, "load", p("synthetic.jsonl"), p("a.db")])
    rows.append(("load (build A from the synthetic dump)", build, os.path.getsize(p("synthetic.jsonl"))))
    with open(p("a.jsonl"), "wb") as out:
        dump = timed([holtfs, "dump", p("a.db"), "--json"], stdout=out)
    rows.append(("dump A --json", dump, os.path.getsize(p("a.jsonl"))))
    load = timed([holtfs, "load", p("a.jsonl"), p("b.db")])
    rows.append(("load A's dump into B", load, os.path.getsize(p("a.jsonl"))))
    check = timed([holtfs, "check", p("b.db")])
    rows.append(("check B", check, du(p("b.db"))))
    with open(p("b.jsonl"), "wb") as out:
        timed([holtfs, "dump", p("b.db"), "--json"], stdout=out)
    same = subprocess.run(["cmp", "-s", p("a.jsonl"), p("b.jsonl")]).returncode == 0

    print("| step | wall s | CPU s | peak RSS MiB | entries/s | bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (wall, cpu, rss), size in rows:
        print("| %s | %.1f | %.1f | %.0f | %s | %s |" % (
            name, wall, cpu, rss, "{:,}".format(int(entries / wall)), "{:,}".format(size)))
    print()
    print("entries: {:,} ({:,} chunk lines); A.db {:,} bytes, B.db {:,} bytes; dump of B == dump of A: {}".format(
        entries, chunks, du(p("a.db")), du(p("b.db")), same))
    print("machine: %s, %d CPUs, %s" % (platform.node(), os.cpu_count(), platform.release()))
    if not same:
        sys.exit("the dump of the loaded database differs")
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
