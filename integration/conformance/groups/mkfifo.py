import os
import stat

from harness import Group, U1, G1, make
from common import create_checks

g = Group("mkfifo")
SPECIAL = ((0o1644, 0o1644), (0o2755, 0o2755), (0o4755, 0o4755))


@g.case("mkfifo creation semantics")
def _(t):
    create_checks(t, "mkfifo", os.mkfifo, "fifo", special_modes=SPECIAL)


@g.case("a fifo works as a fifo")
def _(t):
    os.mkfifo("f", 0o644)
    t.ok(stat.S_ISFIFO(os.lstat("f").st_mode), "mkfifo made a fifo")
    t.eq(os.lstat("f").st_size, 0, "fifo size 0")
    r = os.open("f", os.O_RDONLY | os.O_NONBLOCK)
    w = os.open("f", os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, b"through the pipe")
    t.eq(os.read(r, 100), b"through the pipe", "data written to the fifo is read back")
    os.close(w)
    os.close(r)
    t.e(6, "O_WRONLY|O_NONBLOCK with no reader ENXIO", os.open, "f", os.O_WRONLY | os.O_NONBLOCK)
    t.eq(os.lstat("f").st_size, 0, "fifo data not stored in the filesystem")
    dfd = os.open(".", os.O_RDONLY)
    t.e(0, "mkfifo with dir_fd", os.mkfifo, "g", 0o600, dir_fd=dfd)
    os.close(dfd)


@g.case("mkfifo trailing slash")
def _(t):
    # Linux: a trailing slash on a non-directory create is ENOENT (the name must be a dir)
    t.e(2, "mkfifo f/ ENOENT", os.mkfifo, "f/", 0o644)
    t.ok(not os.path.lexists("f"), "mkfifo f/ created nothing")
