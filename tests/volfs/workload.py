"""Random filesystem operations replayable on two backends -- the VFS on a VolFs image and a host
directory -- and a snapshot of a tree for comparing them (names, types, modes, sizes, contents, link
counts, symlink targets). Used by the crash test (also as its child process: ``python workload.py``)
and the property-based differential test."""

from __future__ import annotations

import errno
import os
import random
import stat
import sys
from dataclasses import dataclass

from lxfs.linux import AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW
from lxfs.vfs.creds import FsContext
from lxfs.vfs.errors import FsError
from lxfs.vfs.namespace import Namespace
from lxfs.vfs.stat import Stat

PATHS = [b"a", b"b", b"c", b"d", b"e", b"d/a", b"d/b", b"d/f", b"d/f/a", b"e/b"]
OPS = ("mkdir", "create", "write", "truncate", "rename", "unlink", "rmdir", "link", "symlink", "chmod")


@dataclass(frozen=True, slots=True)
class Step:
    op: str
    path: bytes
    other: bytes = b""  # rename/link target, symlink target
    offset: int = 0  # write offset, truncate size, chmod mode
    data: bytes = b""

    def __repr__(self) -> str:
        extra = f" {self.other!r}" if self.other else ""
        return f"{self.op} {self.path!r}{extra} off={self.offset} len={len(self.data)}"


def random_step(rng: random.Random) -> Step:
    op = rng.choice(OPS)
    path = rng.choice(PATHS)
    if op in ("rename", "link"):
        return Step(op, path, rng.choice(PATHS))
    if op == "symlink":
        # No ".." or "/": the host side's root is a directory, not "/".
        return Step(op, path, rng.choice([b"a", b"nowhere", b"d/f", b"b"]))
    if op == "write":
        size = rng.choice([1, 100, 4096, 70_000, 140_000])
        seed = rng.randrange(256)
        return Step(op, path, offset=rng.choice([0, 5, 4095, 131_071, 131_072, 300_000]), data=bytes([seed]) * size)
    if op == "truncate":
        return Step(op, path, offset=rng.choice([0, 1, 4096, 131_073, 500_000]))
    if op == "chmod":
        return Step(op, path, offset=rng.choice([0o600, 0o755, 0o4711, 0o1777]))
    return Step(op, path)


def run_host(root: bytes, step: Step) -> int:
    """Apply ``step`` under ``root``; returns 0 or the errno."""
    p = root + b"/" + step.path
    o = root + b"/" + step.other
    try:
        match step.op:
            case "mkdir":
                os.mkdir(p, 0o755)
            case "create":
                os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            case "write":
                fd = os.open(p, os.O_WRONLY | os.O_NOFOLLOW)
                try:
                    os.pwrite(fd, step.data, step.offset)
                finally:
                    os.close(fd)
            case "truncate":
                os.truncate(p, step.offset)
            case "rename":
                os.rename(p, o)
            case "unlink":
                os.unlink(p)
            case "rmdir":
                os.rmdir(p)
            case "link":
                os.link(p, o, follow_symlinks=False)
            case "symlink":
                os.symlink(step.other, p)
            case "chmod":
                os.chmod(p, step.offset, follow_symlinks=False)
    except OSError as exc:
        return exc.errno or -1
    except NotImplementedError:  # chmod of a symlink without following
        return errno.EOPNOTSUPP
    return 0


def run_vfs(ns: Namespace, step: Step) -> int:
    """Apply ``step`` through the VFS; returns 0 or the errno."""
    ctx = _context(ns)
    p = b"/" + step.path
    o = b"/" + step.other
    try:
        match step.op:
            case "mkdir":
                ns.mkdirat(ctx, None, p, 0o755)
            case "create":
                ns.openat(ctx, None, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644).close()
            case "write":
                f = ns.openat(ctx, None, p, os.O_WRONLY | os.O_NOFOLLOW)
                try:
                    f.pwrite(step.data, step.offset)
                finally:
                    f.close()
            case "truncate":
                ns.truncate(ctx, p, step.offset)
            case "rename":
                ns.renameat(ctx, None, p, None, o)
            case "unlink":
                ns.unlinkat(ctx, None, p)
            case "rmdir":
                ns.unlinkat(ctx, None, p, AT_REMOVEDIR)
            case "link":
                ns.linkat(ctx, None, p, None, o)
            case "symlink":
                ns.symlinkat(ctx, step.other, None, p)
            case "chmod":
                ns.fchmodat(ctx, None, p, step.offset, AT_SYMLINK_NOFOLLOW)
    except FsError as exc:
        return exc.errno or -1
    return 0


_contexts: dict[int, tuple[Namespace, FsContext]] = {}


def _context(ns: Namespace) -> FsContext:
    """One root context per namespace (a context holds inode references)."""
    entry = _contexts.get(id(ns))
    if entry is None or entry[0] is not ns:
        entry = _contexts[id(ns)] = (ns, ns.context(umask=0o022))
    return entry[1]


Tree = dict[bytes, tuple[object, ...]]


def host_tree(root: bytes) -> Tree:
    """path -> (type, permission bits, nlink, size, content or link target) for everything under root."""
    out: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            out[rel] = _entry(st.st_mode, st.st_nlink, st.st_size, _host_body(full, st))
    return out


def _host_body(full: bytes, st: os.stat_result) -> bytes:
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(full)
    if stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            return f.read()
    return b""


def vfs_tree(ns: Namespace) -> Tree:
    ctx = _context(ns)
    out: Tree = {}

    def walk(path: bytes, rel: bytes) -> None:
        d = ns.openat(ctx, None, path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            names = []
            while entries := d.getdents(32768):
                names += [e.name for e in entries if e.name not in (b".", b"..")]
        finally:
            d.close()
        for name in names:
            full = path.rstrip(b"/") + b"/" + name
            st = ns.fstatat(ctx, None, full, AT_SYMLINK_NOFOLLOW)
            key = rel + name
            out[key] = _entry(st.st_mode, st.st_nlink, st.st_size, _vfs_body(ns, full, st))
            if stat.S_ISDIR(st.st_mode):
                walk(full, key + b"/")

    walk(b"/", b"")
    return out


def _vfs_body(ns: Namespace, full: bytes, st: Stat) -> bytes:
    ctx = _context(ns)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return ns.readlinkat(ctx, None, full)
    if stat.S_ISREG(mode):
        f = ns.openat(ctx, None, full, os.O_RDONLY)
        try:
            chunks = []
            while data := f.read(1 << 20):
                chunks.append(data)
            return b"".join(chunks)
        finally:
            f.close()
    return b""


def _entry(mode: int, nlink: int, size: int, body: bytes) -> tuple[object, ...]:
    is_dir = stat.S_ISDIR(mode)
    perms = None if stat.S_ISLNK(mode) else stat.S_IMODE(mode)
    # A directory's size and link count are filesystem-specific (tmpfs: 40+ bytes; nlink as Linux).
    return (stat.S_IFMT(mode), perms, nlink, None if is_dir else size, body)


def first_difference(expected: Tree, actual: Tree) -> str | None:
    """The first path whose entry differs (contents shown by length), or None."""

    def short(v: tuple[object, ...] | None) -> object:
        return None if v is None else (*v[:4], f"{len(v[4])} bytes" if isinstance(v[4], bytes) else v[4])

    for key in sorted(set(expected) | set(actual)):
        e, a = expected.get(key), actual.get(key)
        if e != a:
            detail = "" if e is None or a is None or e[:4] != a[:4] else " (contents differ)"
            return f"{key!r}: expected {short(e)}, got {short(a)}{detail}"
    return None


def child_main(image: str, seed: int, steps: int) -> None:
    """The crash test's child: apply steps to the image, reporting each one that returned on stdout."""
    from lxfs.volfs.volfs import VolFs

    fs = VolFs.open(image)
    ns = Namespace(fs)
    rng = random.Random(seed)
    out = sys.stdout
    print("ready", flush=True)
    for i in range(steps):
        result = run_vfs(ns, random_step(rng))
        out.write(f"{i} {result}\n")
        out.flush()


if __name__ == "__main__":
    child_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
