"""Runs the same shell steps in a plain directory (the kernel's file system is the oracle) and on a
holtfs mount, and compares normalised output step by step, like libfuse's `_assert_listdir`.

Normalisation removes only what legitimately differs between file systems: the directory the
steps run in (ROOT), `total` block counts and directory sizes in `ls -la`, timestamps (ls prints
a fixed `T`), and `..` of the work directory.
"""
import difflib
import os
import re
import subprocess

from support import fail

ENV = dict(os.environ, LC_ALL="C", TZ="UTC")

# Listing helpers the steps may call: stable across file systems (sorted, no times, no block counts).
PRELUDE = r'''
lsn() { ls -la --time-style=+T "$@"; }
findn() { find "${@:-.}" \( -type d -printf '%p d %m %n %U %G\n' \) -o \( ! -type d -printf '%p %y %m %n %U %G %s %l\n' \) | sort; }
statn() { for p in "$@"; do if [ -d "$p" ] && [ ! -L "$p" ]; then stat -c '%n %a %F %h %u %g' "$p"; else stat -c '%n %s %a %F %h %u %g' "$p"; fi; done; }
sums() { find "${@:-.}" -type f -print0 | sort -z | xargs -0 -r md5sum; }
'''


def run_steps(directory, steps):
    """Runs each step with bash in `directory`; returns [(step, status, stdout, stderr)] normalised."""
    results = []
    for step in steps:
        p = subprocess.run(["bash", "-c", PRELUDE + step], cwd=directory, env=ENV, capture_output=True,
                           text=True, errors="replace", timeout=60)
        results.append((step, p.returncode, normalise(p.stdout, directory), normalise(p.stderr, directory)))
    return results


def normalise(text, directory):
    text = text.replace(directory, "ROOT")
    lines = []
    for line in text.splitlines():
        if re.match(r"^total \d+$", line):
            continue
        m = re.match(r"^([dlcbps-][rwxsStT-]{9})[.+]?\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+(?:,\s*\d+)?) T (.*)$", line)
        if m:
            mode, nlink, user, group, size, name = m.groups()
            if name == "..":
                continue
            if mode.startswith("d"):
                size = "-"
            line = " ".join((mode, nlink, user, group, size, "T", name))
        lines.append(line)
    return "\n".join(lines)


def render(results):
    out = []
    for step, status, stdout, stderr in results:
        out.append("$ " + step.strip().replace("\n", "\n> ") + ("   [exit %d]" % status if status else ""))
        if stdout:
            out.append(stdout)
        if stderr:
            out.append("stderr: " + stderr)
    return out


def compare(ctx, mount, steps, name):
    """Runs `steps` in a plain temp dir and in the mount; fails with a diff when they differ."""
    plain = ctx.dir("plain-" + name + "/work")
    onmount = os.path.join(mount.mnt, "work")
    os.mkdir(onmount)
    os.chmod(onmount, 0o755)
    expected = run_steps(plain, steps)
    actual = run_steps(onmount, steps)
    if expected != actual:
        first = next(i for i, (e, a) in enumerate(zip(expected, actual)) if e != a)
        diff = difflib.unified_diff(render(expected), render(actual), "plain directory", "holtfs mount",
                                    lineterm="", n=2)
        fail("step %d differs: %s\n%s%s" % (first + 1, steps[first].strip().splitlines()[0], "\n".join(diff),
                                             mount.log_tail()))
