"""Ordinary tools on a holtfs mount behave as on ext4: mkdir/touch/echo/ls, mv (files and
directories, across directories, over an existing file), cp -a, tar, find, stat, ln, ln -s,
chmod, chown, setfattr/getfattr and rm -r, compared step by step with a plain directory.
"""
import tools


def test_create_and_list(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "mkdir -p a/b/c d e/f",
        "touch a/f1 a/b/f2 'name with spaces' é.txt",
        "echo hello > a/f3; echo more >> a/f3; cat a/f3",
        "printf 'x%.0s' $(seq 1 5000) > big; wc -c big",
        "seq 1 40000 > seq.txt; wc -c seq.txt; tail -n 2 seq.txt",
        "touch a/f1 && echo touched",
        "lsn . a a/b",
        "findn",
        "statn a a/f1 a/f3 big seq.txt",
        "sums",
        "ls",
        "ls -R",
    ], "create")
    m.umount()


def test_move(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "mkdir -p src/sub/deep dst; echo one > src/f1; echo two > src/sub/f2; echo three > src/sub/deep/f3",
        "mv src/f1 dst/ && findn",
        "mv dst/f1 dst/renamed && findn",
        "echo old > dst/target; echo new > src/new; mv src/new dst/target; cat dst/target; findn",
        "mv src/sub dst/ && findn",
        "mv dst/sub dst/sub2 && findn && cat dst/sub2/deep/f3",
        "mkdir empty; mv dst/sub2 empty2 && findn",
        "mkdir -p full/x; mv empty2 full; echo $?; findn",
        "mv -T empty2 empty; findn; sums",
        "mv empty/deep . && lsn . empty deep",
        "mv nothing here; echo $?",
    ], "move")
    m.umount()


def test_copy_and_archive(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "mkdir -p d/e; echo a > d/a; seq 1 20000 > d/e/big; ln -s a d/link; chmod 751 d/e; chown 12:34 d/a",
        "setfattr -n user.color -v blue d/a",
        "cp -a d cpd && findn cpd && sums cpd && getfattr -d cpd/a",
        "cp d/e/big d/e/big2 && cmp d/e/big d/e/big2 && echo same",
        "tar cf - d | (mkdir t && cd t && tar xf -) && findn t && sums t",
        "tar cf archive.tar d && tar tvf archive.tar --numeric-owner | awk '{print $1, $2, $3, $6}' | sort",
        "mkdir u && tar xf archive.tar -C u && findn u",
    ], "copy")
    m.umount()


def test_links_modes_owners_xattrs(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "echo data > f; ln f hard; ln -s f sym; ln -s /nonexistent/target dangling; mkdir dir; ln -s dir dirlink",
        "statn f hard sym dangling; readlink sym dangling; cat sym; ls dirlink/",
        "echo append >> hard; cat f; statn f hard",
        "rm f; statn hard; cat hard; cat sym; echo $?",
        "chmod 640 hard; chmod 4755 dir; chmod 1777 dir; statn hard dir",
        "chmod u-w hard; statn hard; chmod 000 hard; statn hard",
        "chown 1000:1000 hard; chown 123 dir; chown :456 dir; chown -h 7:8 sym; statn hard dir; findn",
        "setfattr -n user.x -v y hard; setfattr -n user.empty dir; setfattr -n user.bin -v 0x00ff10 hard",
        "getfattr -d hard dir; getfattr -n user.x --only-values hard; echo",
        "setfattr -x user.x hard; getfattr -d hard; getfattr -n user.x hard; echo $?",
        "setfattr -n user.big -v \"$(head -c 3000 /dev/zero | tr '\\0' z)\" hard; getfattr -n user.big --only-values hard | wc -c",
        "findn",
    ], "attrs")
    m.umount()


def test_remove(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "mkdir -p r/a/b/c r/x; touch r/a/1 r/a/b/2 r/a/b/c/3; ln -s a r/s; echo z > r/x/z",
        "rmdir r/x; echo $?",
        "rm r/x/z && rmdir r/x && findn",
        "rm -r r/a && findn",
        "rm r/s && rmdir r && ls -la --time-style=+T",
        "mkdir -p big; for i in $(seq 1 300); do echo $i > big/f$i; done; ls big | wc -l; rm -r big; ls",
    ], "remove")
    m.umount()
