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


def test_file_data(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "seq 1 2000000 > big; wc -c big; md5sum big",
        "cp big big2 && cmp big big2 && echo same; tail -c 100 big2",
        "dd if=big of=part bs=4096 skip=3 count=50 status=none; md5sum part",
        "printf 'HOLE' | dd of=big2 bs=1 seek=1000000 conv=notrunc status=none; md5sum big2; wc -c big2",
        "truncate -s 10M sparse; wc -c sparse; md5sum sparse; tail -c 3 sparse | od -An -tx1",
        "printf end >> sparse; wc -c sparse; tail -c 3 sparse",
        "truncate -s 5000 big2; md5sum big2; truncate -s 0 big2; wc -c big2",
        "truncate -s 100 empty; od -An -tx1 empty | sort -u",
        "for i in 1 2 3; do echo line$i >> log; done; cat log",
        "head -c 65537 big > odd; md5sum odd; head -c 131072 big > even; md5sum even",
    ], "data")
    m.umount()


def test_editor_patterns_and_times(ctx):
    m = ctx.mount()
    tools.compare(ctx, m, [
        "printf 'alpha\\nbeta\\n' > text; sed -i s/beta/gamma/ text; cat text; statn text",
        "python3 -c \"import os; open('t.tmp','w').write('new'); os.replace('t.tmp','text')\"; cat text; ls",
        "ln -s text l; ln -sf big l; readlink l; ln -sfn text l; readlink l",
        "touch -d '2020-01-02 03:04:05.123456789' text; stat -c '%n %y' text",
        "touch -m -d '2001-01-01 00:00:00' text; stat -c '%n %Y' text; touch -a -d '2002-02-02 00:00:00' text; stat -c '%n %X %Y' text",
        "mkdir dir; touch -d '2019-05-05 05:05:05' dir; stat -c '%n %Y' dir",
        "touch -h -d '2018-01-01 00:00:00' l; stat -c '%n %Y' l",
        "find . -newermt '2015-01-01' ! -newermt '2021-01-01' | sort",
        "setpriv --reuid 1000 --regid 1000 --clear-groups touch x; echo $?; chmod 777 dir; "
        "setpriv --reuid 1000 --regid 1000 --clear-groups touch dir/x; echo $?; statn dir/x",
        "chmod 600 text; setpriv --reuid 1000 --regid 1000 --clear-groups cat text; echo $?",
    ], "editors")
    m.umount()


def test_parallel_writers(ctx):
    """Several processes create, write, rename and remove in one mount at once (a multi-threaded
    session): the result equals the same work done in a plain directory."""
    m = ctx.mount()
    work = ("for w in 1 2 3 4; do ( mkdir -p w$w; for i in $(seq 1 150); do echo $w-$i > w$w/f$i; done; "
            "for i in $(seq 1 150 | awk 'NR%3==0'); do mv w$w/f$i w$w/g$i; done; "
            "for i in $(seq 1 150 | awk 'NR%5==0'); do rm w$w/f$i 2>/dev/null || rm w$w/g$i; done; "
            "mkdir w$w/sub && mv w$w/g3 w$w/sub/ ) & done; wait; echo done")
    tools.compare(ctx, m, [work, "findn", "sums", "ls w1 | wc -l"], "parallel")
    m.umount()


def test_git_sqlite_zip(ctx):
    """Programs with their own file habits: git (lock files, renames, packs), sqlite3 (journal,
    fsync, byte-range writes), zip/unzip."""
    m = ctx.mount()
    git = ("export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t "
           "GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z' "
           "GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent; ")
    tools.compare(ctx, m, [
        git + "git init -q -b main repo && cd repo && seq 1 1000 > a && mkdir d && echo x > d/b && "
        "git add -A && git commit -q -m one && git log --format='%H %s'",
        git + "cd repo && git mv a d/a2 && echo y >> d/b && git commit -qam two && git log --format='%H %s' && "
        "git status --short && git gc -q && git fsck --no-progress 2>&1 | grep -v '^Checking' ; "
        "git count-objects -v | grep -E '^(count|in-pack|packs)'",
        git + "cd repo && git checkout -q HEAD~1 && findn . | grep -v '^./.git' && git checkout -q main && cat d/b",
        "sqlite3 db.sqlite 'create table t(k integer primary key, v text); "
        "insert into t(v) select printf(\"row%d\", value) from generate_series(1, 2000); "
        "update t set v = v || \"!\" where k % 7 = 0; delete from t where k % 11 = 0; "
        "select count(*), sum(length(v)) from t; pragma integrity_check;'",
        "sqlite3 db.sqlite 'pragma journal_mode=wal; insert into t(v) values (\"wal\"); select count(*) from t;'; "
        "sqlite3 db.sqlite 'pragma integrity_check; select v from t order by k desc limit 1;'",
        "mkdir z && seq 1 5000 > z/s && echo hi > z/h && zip -qrX z.zip z && unzip -qo z.zip -d out && sums out",
    ], "programs")
    m.umount()
