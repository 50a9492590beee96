"""The four examples of the README (Sources/Examples, HoltEngine's public API alone), run as the
built binaries next to holtfs: each exits 0, prints what it did, and works both in a temporary
directory of its own (which it removes) and in a directory given as its argument.
"""
import os
import tempfile

from support import check, run


def example(ctx, name, *args):
    """Runs the built example `name`; returns its stdout lines after checking it ended well."""
    binary = os.path.join(os.path.dirname(ctx.holtfs), name)
    check(os.access(binary, os.X_OK), "%s is not built next to holtfs (swift build builds every example)" % binary)
    r = run([binary, *args], timeout=60)
    check(r.returncode == 0, "%s: exit %d\n%s%s" % (name, r.returncode, r.stdout, r.stderr))
    lines = r.stdout.splitlines()
    check(lines and lines[-1] == "%s: ok" % name, "%s did not end with '%s: ok':\n%s" % (name, name, r.stdout))
    return lines


def has(lines, *expected):
    for line in expected:
        check(line in lines, "missing line %r in:\n  %s" % (line, "\n  ".join(lines)))


def leftovers(name):
    return [n for n in os.listdir(tempfile.gettempdir()) if n.startswith(name + "-")]


def test_basic_kv(ctx):
    before = set(leftovers("basic-kv"))
    lines = example(ctx, "basic-kv")
    has(lines, "get greeting -> hello", "range fruit/: 3 keys", "get fruit/banana -> (absent)",
        "range fruit/: 2 keys: fruit/apple, fruit/cherry",
        "range fruit/ limit 1: fruit/apple; then after it: fruit/cherry",
        "after reopen: greeting -> hello, fruit/cherry -> red")
    check(set(leftovers("basic-kv")) == before, "basic-kv left its temporary database behind")
    # In a directory given as the argument, which stays a holt database.
    db = ctx.path("kv.db")
    example(ctx, "basic-kv", db)
    check(os.path.exists(os.path.join(db, "MANIFEST")), "no database in %s: %r" % (db, os.listdir(db)))


def test_filesystem_meta(ctx):
    lines = example(ctx, "filesystem-meta", ctx.path("fs.db"))
    has(lines, "created 31 keys in one batch",
        "ls home/alice: docs/, notes.txt [size=7 mode=0644]",
        "ls home/alice/docs: 2024/, todo.txt [size=42 mode=0600]",
        "du home/alice/docs: 26 keys below it",
        "renamePrefix home/alice/docs -> home/alice/documents: 26 keys moved in one op",
        "ls home/alice: documents/, notes.txt [size=7 mode=0644]",
        "get home/alice/documents/2024/report-06-15.pdf -> size=6015 mode=0644",
        "keys left below home/alice/docs: 0",
        "rmdir home/alice/documents: refused, not empty",
        "renamePrefix onto home/bob: refused (destination is not empty)",
        "rmdir home/bob: done; ls home: alice/")


def test_session_store(ctx):
    lines = example(ctx, "session-store")
    has(lines, "created 10 sessions in one batch",
        "create session/s3 again: refused (condition of op 1 on session/s3); session/s100 not written either: true",
        "expired at now: 5 (session/s1, session/s3, session/s5, session/s7, session/s9)",
        "refreshed session/s1 until now + 30 min",
        "sweep: refused at op 0 (session/s1 changed since the scan); nothing deleted",
        "swept 4 expired sessions in one batch",
        "sessions left: 6 (session/s0, session/s1, session/s2, session/s4, session/s6, session/s8)",
        "expired at now + 3 min: 2")


def test_s3_metadata(ctx):
    lines = example(ctx, "s3-metadata")
    has(lines, "put 17 objects in two buckets",
        "ListObjectsV2 bucket=bucket-a prefix= delimiter=/ max-keys=3",
        "  total: 2 objects, 2 common prefixes in 2 pages",
        "ListObjectsV2 bucket=bucket-a prefix=photos/ delimiter=/ max-keys=2",
        "  page 1: index.html, robots.txt, photos/ (prefix); truncated, next token "
        + "bucket-a/robots.txt".encode().hex(),
        "  page 2: videos/ (prefix)",
        "  page 1: photos/2023/ (prefix), photos/2024/ (prefix); truncated, next token "
        + "bucket-a/photos/2024/".encode().hex(),
        "  page 2: photos/cover.jpg",
        "  total: 1 objects, 2 common prefixes in 2 pages",
        "ListObjectsV2 bucket=bucket-a prefix=photos/2024/ delimiter=(none) max-keys=5",
        "  total: 6 objects, 0 common prefixes in 2 pages",
        "HEAD photos/2024/02/img0001.jpg -> etag=%08x size=%d" % ((10 * 2654435761) & 0xFFFFFFFF, 1010),
        "DELETE photos/2023/: 6 keys moved aside by one renamePrefix, then deleted in one batch",
        "  page 1: photos/cover.jpg, photos/2024/ (prefix)",
        "  total: 1 objects, 1 common prefixes in 1 pages")
