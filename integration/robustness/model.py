"""An in-memory model of a file tree, the namespace ops that change it, and a snapshot of a real
tree in the same shape, so a test can say exactly what a mount must show.

A state is a dict: relative path (bytes, b"a/b") -> entry, where an entry is
  ("d", xattrs)            a directory
  ("f", content, xattrs)   a regular file (content: bytes)
and xattrs is a dict {name (str, "user.*"): value (bytes)}. The root itself is not an entry.
Ops are JSON-able dicts (paths and data as latin-1 / base64 strings) so a writer subprocess can
report them line by line and the runner can replay them with apply().
"""
import base64
import os
import stat

USER_XATTR = "user."


def enc(b):
    """bytes -> JSON-able str (latin-1 keeps every byte)."""
    return b.decode("latin-1")


def dec(s):
    return s.encode("latin-1")


def b64(b):
    return base64.b64encode(b).decode("ascii")


def unb64(s):
    return base64.b64decode(s)


def xattrs_of(path):
    """{name: value} of the user.* xattrs of path (not following symlinks)."""
    out = {}
    for name in os.listxattr(path, follow_symlinks=False):
        if name.startswith(USER_XATTR):
            out[name] = os.getxattr(path, name, follow_symlinks=False)
    return out


def snapshot(root):
    """The tree under root (bytes path) as a state; symlinks and special files are errors."""
    state = {}
    root = os.fsencode(root)

    def walk(rel):
        full = os.path.join(root, rel) if rel else root
        for name in os.listdir(full):
            p = rel + b"/" + name if rel else name
            fp = os.path.join(root, p)
            st = os.lstat(fp)
            if stat.S_ISDIR(st.st_mode):
                state[p] = ("d", xattrs_of(fp))
                walk(p)
            elif stat.S_ISREG(st.st_mode):
                with open(fp, "rb") as f:
                    content = f.read()
                if len(content) != st.st_size:
                    content = content + b"<size %d>" % st.st_size
                state[p] = ("f", content, xattrs_of(fp))
            else:
                state[p] = ("?", st.st_mode, {})
    walk(b"")
    return state


def parent(p):
    return p.rpartition(b"/")[0]


def children(state, d):
    """Names directly under directory d (b"" for the root)."""
    prefix = d + b"/" if d else b""
    return [p for p in state if p.startswith(prefix) and b"/" not in p[len(prefix):]]


def apply(state, op):
    """Applies one successful op to state (in place)."""
    kind = op["op"]
    if kind == "mkdir":
        state[dec(op["p"])] = ("d", {})
    elif kind == "create":
        state[dec(op["p"])] = ("f", b"", {})
    elif kind == "link":
        state[dec(op["dst"])] = state[dec(op["src"])]
    elif kind == "write":
        p = dec(op["p"])
        _, content, xa = state[p]
        data, off = unb64(op["data"]), op["off"]
        if len(content) < off:
            content = content + b"\0" * (off - len(content))
        state[p] = ("f", content[:off] + data + content[off + len(data):], xa)
    elif kind == "truncate":
        p = dec(op["p"])
        _, content, xa = state[p]
        n = op["n"]
        state[p] = ("f", content[:n] + b"\0" * max(0, n - len(content)), xa)
    elif kind == "rename":
        src, dst = dec(op["src"]), dec(op["dst"])
        moved = {p: e for p, e in state.items() if p == src or p.startswith(src + b"/")}
        for p in moved:
            del state[p]
        for p in [p for p in state if p == dst or p.startswith(dst + b"/")]:
            del state[p]
        for p, e in moved.items():
            state[dst + p[len(src):]] = e
    elif kind == "setxattr":
        p = dec(op["p"])
        e = state[p]
        xa = dict(e[-1])
        xa[op["k"]] = unb64(op["v"])
        state[p] = e[:-1] + (xa,)
    elif kind == "rmxattr":
        p = dec(op["p"])
        e = state[p]
        xa = dict(e[-1])
        del xa[op["k"]]
        state[p] = e[:-1] + (xa,)
    elif kind in ("unlink", "rmdir"):
        del state[dec(op["p"])]
    else:
        raise ValueError("unknown op %r" % kind)
    for other in op.get("also", ()):
        # The other names of a hard-linked file show the same content and xattrs.
        state[dec(other)] = state[dec(op["p"])]


def execute(root, op):
    """Performs op on the real tree under root (bytes); raises OSError on failure."""
    kind = op["op"]
    j = lambda s: os.path.join(root, dec(s))  # noqa: E731
    if kind == "mkdir":
        os.mkdir(j(op["p"]), 0o755)
    elif kind == "create":
        os.close(os.open(j(op["p"]), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    elif kind == "link":
        os.link(j(op["src"]), j(op["dst"]))
    elif kind == "write":
        fd = os.open(j(op["p"]), os.O_WRONLY)
        try:
            data = unb64(op["data"])
            n = os.pwrite(fd, data, op["off"])
            if n != len(data):
                raise OSError(0, "short write %d of %d" % (n, len(data)))
        finally:
            os.close(fd)
    elif kind == "truncate":
        os.truncate(j(op["p"]), op["n"])
    elif kind == "rename":
        os.rename(j(op["src"]), j(op["dst"]))
    elif kind == "setxattr":
        os.setxattr(j(op["p"]), op["k"], unb64(op["v"]), follow_symlinks=False)
    elif kind == "rmxattr":
        os.removexattr(j(op["p"]), op["k"], follow_symlinks=False)
    elif kind == "unlink":
        os.unlink(j(op["p"]))
    elif kind == "rmdir":
        os.rmdir(j(op["p"]))
    else:
        raise ValueError("unknown op %r" % kind)


def outcomes(state, op):
    """The states an op in flight at a crash may leave: not applied, applied, and for a write, any
    page-aligned prefix of it (the kernel splits a large write into several FUSE requests, each
    of which may have been applied). The first is state itself."""
    out = [state]
    try:
        after = dict(state)
        apply(after, op)
    except (KeyError, ValueError):
        return out
    if op["op"] == "write":
        data, off = unb64(op["data"]), op["off"]
        for k in range(4096 - off % 4096, len(data), 4096):
            partial = dict(state)
            apply(partial, dict(op, data=b64(data[:k])))  # "also" comes along
            out.append(partial)
    out.append(after)
    return out


class Links:
    """Which paths are names of one file, as a writer tracks them to fill in ops' "also"."""

    def __init__(self, root, state):
        """Groups the files of state (just snapshotted under root) by inode number."""
        self.groups = {}
        by_ino = {}
        for p, e in state.items():
            if e[0] == "f":
                by_ino.setdefault(os.lstat(os.path.join(root, p)).st_ino, set()).add(p)
        for group in by_ino.values():
            if len(group) > 1:
                for p in group:
                    self.groups[p] = group

    def same_file(self, a, b):
        return a in self.groups and b in self.groups[a]

    def annotate(self, op):
        """Adds "also": the other names of the file op changes (write, truncate, xattrs)."""
        if op["op"] in ("write", "truncate", "setxattr", "rmxattr"):
            p = dec(op["p"])
            if p in self.groups:
                op["also"] = [enc(q) for q in sorted(self.groups[p]) if q != p]
        return op

    def applied(self, op):
        """Follows a successful op."""
        kind = op["op"]
        if kind == "link":
            src, dst = dec(op["src"]), dec(op["dst"])
            group = self.groups.setdefault(src, {src})
            group.add(dst)
            self.groups[dst] = group
        elif kind == "unlink":
            self._drop(dec(op["p"]))
        elif kind == "rename":
            src, dst = dec(op["src"]), dec(op["dst"])
            self._drop(dst)
            for p in [p for p in self.groups if p == src or p.startswith(src + b"/")]:
                group = self.groups.pop(p)
                group.discard(p)
                q = dst + p[len(src):]
                group.add(q)
                self.groups[q] = group

    def _drop(self, p):
        group = self.groups.pop(p, None)
        if group is not None:
            group.discard(p)
            if len(group) == 1:
                self.groups.pop(next(iter(group)), None)


def random_data(rng):
    """Mostly small contents (inline in a record), sometimes several chunks' worth."""
    r = rng.random()
    n = rng.randint(1, 300) if r < 0.5 else rng.randint(300, 5000) if r < 0.8 else rng.randint(5000, 100000)
    return rng.randbytes(n)


def choose(state, rng, serial, max_depth=4, max_entries=400, links=False):
    """A random op that is valid on state (so it must succeed); `serial` makes new names unique.
    With links, it also makes hard links (the caller then adds "also" to ops on linked files)."""
    dirs = [b""] + [p for p, e in state.items() if e[0] == "d" and p.count(b"/") < max_depth - 1]
    files = [p for p, e in state.items() if e[0] == "f"]
    nodes = list(state)
    name = lambda d, tag: (d + b"/" if d else b"") + b"%s%d" % (tag, serial)  # noqa: E731
    roll = rng.random()
    if len(state) > max_entries:
        roll = 0.95  # shrink: delete something
    if roll < 0.12 or not nodes:
        return {"op": "mkdir", "p": enc(name(rng.choice(dirs), b"d"))}
    if roll < 0.27:
        if links and files and rng.random() < 0.3:
            return {"op": "link", "src": enc(rng.choice(files)), "dst": enc(name(rng.choice(dirs), b"h"))}
        return {"op": "create", "p": enc(name(rng.choice(dirs), b"f"))}
    if roll < 0.50 and files:
        p = rng.choice(files)
        size = len(state[p][1])
        off = rng.choice([0, size, rng.randint(0, size), size + rng.randint(1, 70000)])
        return {"op": "write", "p": enc(p), "off": off, "data": b64(random_data(rng))}
    if roll < 0.55 and files:
        p = rng.choice(files)
        return {"op": "truncate", "p": enc(p), "n": rng.randint(0, len(state[p][1]) + 40000)}
    if roll < 0.70 and nodes:
        src = rng.choice(nodes)
        targets = [d for d in dirs if d != src and not d.startswith(src + b"/")]
        dst = name(rng.choice(targets), b"r")
        if state[src][0] == "f" and files and rng.random() < 0.3:
            other = rng.choice(files)
            if other != src:
                dst = other  # replace an existing file
        return {"op": "rename", "src": enc(src), "dst": enc(dst)}
    if roll < 0.82 and nodes:
        p = rng.choice(nodes)
        xa = state[p][-1]
        if xa and rng.random() < 0.25:
            return {"op": "rmxattr", "p": enc(p), "k": rng.choice(sorted(xa))}
        k = "user.k%d" % rng.randint(0, 6)
        return {"op": "setxattr", "p": enc(p), "k": k, "v": b64(rng.randbytes(rng.randint(0, 300)))}
    if files and rng.random() < 0.7:
        return {"op": "unlink", "p": enc(rng.choice(files))}
    empty = [p for p, e in state.items() if e[0] == "d" and not children(state, p)]
    if empty:
        return {"op": "rmdir", "p": enc(rng.choice(empty))}
    return {"op": "mkdir", "p": enc(name(rng.choice(dirs), b"d"))}


def describe(op):
    """One short line for an op (no data bytes)."""
    o = dict(op)
    o.pop("also", None)
    if "data" in o:
        o["data"] = "<%d bytes>" % len(unb64(o["data"]))
    if "v" in o:
        o["v"] = "<%d bytes>" % len(unb64(o["v"]))
    return repr(o)


def show(entry):
    if entry is None:
        return "absent"
    if entry[0] == "d":
        return "dir xattrs=%s" % _xa(entry[1])
    if entry[0] == "f":
        c = entry[1]
        return "file %d bytes %r%s xattrs=%s" % (len(c), c[:24], "..." if len(c) > 24 else "", _xa(entry[2]))
    return "mode %o" % entry[1]


def _xa(xa):
    return "{%s}" % ", ".join("%s:%d bytes" % (k, len(v)) for k, v in sorted(xa.items()))


def diff(expected, actual, limit=8):
    """Lines naming the paths where two states differ (at most `limit`), [] if equal."""
    out = []
    for p in sorted(set(expected) | set(actual)):
        e, a = expected.get(p), actual.get(p)
        if e != a:
            detail = ""
            if e and a and e[0] == a[0] == "f" and e[1] != a[1]:
                n = next((i for i, (x, y) in enumerate(zip(e[1], a[1])) if x != y), min(len(e[1]), len(a[1])))
                detail = " (contents differ from byte %d)" % n
            out.append("%r: expected %s, found %s%s" % (p, show(e), show(a), detail))
            if len(out) >= limit:
                out.append("...")
                break
    return out
