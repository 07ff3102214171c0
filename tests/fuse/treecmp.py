"""Build a varied tree and snapshot trees for exact comparison (what tools must preserve)."""

from __future__ import annotations

import hashlib
import os
import stat

T = 1_600_000_000_123_456_789


def build_tree(root: str) -> None:
    """Files of several sizes, nested dirs, relative/dangling symlinks, a hard link pair, modes, a
    fifo, user xattrs and fixed ns mtimes."""
    os.makedirs(os.path.join(root, "a/b/c"))
    os.mkdir(os.path.join(root, "empty"))
    sizes = {"zero": 0, "one": 1, "page": 4097, "chunky": 300_000, "a/b/c/deep": 77}
    for name, size in sizes.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(hashlib.sha256(name.encode()).digest() * (size // 32) + b"x" * (size % 32))
    with open(os.path.join(root, "sparse"), "wb") as f:
        f.seek(3_000_000)
        f.write(b"end")
    os.link(os.path.join(root, "one"), os.path.join(root, "a/one-hard"))
    os.symlink("../one", os.path.join(root, "a/rel-link"))
    os.symlink("nowhere", os.path.join(root, "dangling"))
    os.mkfifo(os.path.join(root, "fifo"), 0o640)
    os.chmod(os.path.join(root, "page"), 0o600)
    os.chmod(os.path.join(root, "chunky"), 0o4755)
    os.chmod(os.path.join(root, "a/b"), 0o2750)
    os.chown(os.path.join(root, "zero"), 1234, 5678)
    os.setxattr(os.path.join(root, "one"), b"user.note", b"hello")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for n in filenames + dirnames:
            os.utime(os.path.join(dirpath, n), ns=(T, T), follow_symlinks=False)
    os.utime(root, ns=(T, T))


def snapshot(root: str, xattrs: bool = True, times: bool = True) -> list[tuple[object, ...]]:
    """Every entry: path, type, mode, owner, size (not for dirs: their size is the fs's own), mtime,
    content hash or link target, hard-link group, user xattrs."""
    out: list[tuple[object, ...]] = []
    first_path: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            content: object = None
            if stat.S_ISREG(kind):
                with open(p, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(kind):
                content = os.readlink(p)
            group = first_path.setdefault(st.st_ino, rel) if st.st_nlink > 1 and not stat.S_ISDIR(kind) else None
            xa: object = None
            if xattrs and (stat.S_ISREG(kind) or stat.S_ISDIR(kind)):
                xa = sorted((k, os.getxattr(p, k)) for k in os.listxattr(p) if k.startswith("user."))
            size = None if stat.S_ISDIR(kind) else st.st_size
            mtime = st.st_mtime_ns if times else None
            out.append((rel, kind, st.st_mode & 0o7777, st.st_uid, st.st_gid, size, mtime, content, group, xa))
    return out
