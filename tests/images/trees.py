"""Host trees with every kind of file, and a comparable snapshot of an entry stream (tar, host
directory or image), for the image tests."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass

from lxfs.images.entries import Entry

T0 = 1_700_000_000_123_456_789  # an mtime with all nine fraction digits
MIB = 1 << 20
GNU_TAR_CREATE = ("tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--numeric-owner")


def _times(path: bytes, mtime: int, atime: int | None = None) -> None:
    os.utime(path, ns=(atime if atime is not None else mtime + 7, mtime), follow_symlinks=False)


def make_tree(root: str | os.PathLike[str]) -> bytes:
    """Every file kind: odd modes (set-id, sticky), owners, ns times (one before 1970), hard links,
    symlinks (relative, absolute, dangling), devices, a FIFO, a socket, xattrs, a sparse file, a file
    of several MiB, a non-UTF-8 name, a long path. Returns the root as bytes."""
    r = os.fsencode(root)
    os.makedirs(r, exist_ok=True)

    def p(name: bytes) -> bytes:
        return r + b"/" + name

    os.mkdir(p(b"d"), 0o755)
    os.mkdir(p(b"d/sgid"))
    os.chmod(p(b"d/sgid"), 0o2775)
    os.mkdir(p(b"sticky"))
    os.chmod(p(b"sticky"), 0o1777)
    os.mkdir(p(b"ro"))
    with open(p(b"hello"), "wb") as f:
        f.write(b"hello, world\n")
    with open(p(b"suid"), "wb") as f:
        f.write(b"#!/bin/sh\n")
    os.chown(p(b"suid"), 0, 0)
    os.chmod(p(b"suid"), 0o4755)
    with open(p(b"d/sgid/sgidfile"), "wb") as f:
        f.write(b"x" * 100)
    os.chown(p(b"d/sgid/sgidfile"), 1234, 5678)
    os.chmod(p(b"d/sgid/sgidfile"), 0o2711)
    open(p(b"empty"), "wb").close()
    with open(p(b"big"), "wb") as f:
        f.write(os.urandom(3 * MIB + 12345))
    with open(p(b"sparse"), "wb") as f:
        f.write(b"head")
        f.seek(5 * MIB)
        f.write(b"middle" * 1000)
        f.seek(10 * MIB - 3)
        f.write(b"end")
    with open(p(b"sparse_tail"), "wb") as f:
        f.write(b"data")
        f.truncate(4 * MIB)
    with open(p(b"zeros"), "wb") as f:
        f.write(bytes(300_000))  # written zeros: the image may store them as holes
    with open(p(b"link1"), "wb") as f:
        f.write(b"three names\n")
    os.link(p(b"link1"), p(b"d/link2"))
    os.link(p(b"link1"), p(b"sticky/link3"))
    os.symlink(b"hello", p(b"rel_symlink"))
    os.symlink(b"/etc/passwd", p(b"abs_symlink"))
    os.symlink(b"../nowhere/at/all", p(b"d/dangling"))
    os.symlink(b"d", p(b"dir_symlink"))
    os.mknod(p(b"null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(p(b"disk"), stat.S_IFBLK | 0o660, os.makedev(259, 70000))
    os.mkfifo(p(b"fifo"), 0o640)
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.fsdecode(p(b"sock")))
    s.close()
    with open(p(b"caf\xe9 \xff"), "wb") as f:
        f.write(b"latin-1 name\n")
    longdir = b"/".join([b"a" * 60, b"b" * 60, b"c" * 60])
    os.makedirs(p(longdir))
    with open(p(longdir + b"/" + b"n" * 120), "wb") as f:
        f.write(b"deep\n")
    os.setxattr(p(b"hello"), b"user.comment", b"greeting")
    os.setxattr(p(b"hello"), b"trusted.binary", b"\x00\xff\xfe\x01")
    os.setxattr(p(b"d"), b"user.dir", b"on a directory")
    os.setxattr(p(b"link1"), b"user.shared", b"by all links")
    os.chown(p(b"d"), 1000, 1000)
    os.chown(p(b"fifo"), 42, 43)
    os.chown(p(b"rel_symlink"), 7, 8, follow_symlinks=False)
    # Times last, directories after their contents.
    for dirpath, dirnames, filenames in os.walk(r, topdown=False):
        for name in filenames + dirnames:
            full = os.path.join(dirpath, name)
            _times(full, T0 + len(full))
        _times(dirpath, T0 - 10**9 * len(dirpath))
    _times(p(b"hello"), -86_400 * 10**9 * 365 - 500_000_000)  # before the epoch, with a fraction
    _times(r, T0)
    os.chmod(p(b"ro"), 0o555)
    return r


@dataclass(frozen=True, slots=True)
class Record:
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    atime_ns: int | None
    size: int
    rdev: int
    target: bytes
    xattrs: tuple[tuple[bytes, bytes], ...]
    content: bytes | None
    links: frozenset[bytes]  # every name of the same file (hard links), this one included


def _content(entry: Entry) -> bytes | None:
    if entry.data is None:
        return None if not stat.S_ISREG(entry.mode) else b""
    out = bytearray(entry.size)
    for offset, block in entry.data():
        out[offset : offset + len(block)] = block
    return bytes(out)


def snapshot(entries: Iterable[Entry], atime: bool = True) -> dict[bytes, Record]:
    """path -> Record for an entry stream; hard links resolve to their target's record."""
    raw: dict[bytes, Entry] = {}
    contents: dict[bytes, bytes | None] = {}
    first_of: dict[bytes, bytes] = {}
    for e in entries:
        if e.hardlink_to is not None:
            first_of[e.path] = first_of.get(e.hardlink_to, e.hardlink_to)
            continue
        raw[e.path] = e
        contents[e.path] = _content(e)
        first_of[e.path] = e.path
    groups: dict[bytes, set[bytes]] = {}
    for path, first in first_of.items():
        groups.setdefault(first, set()).add(path)
    out = {}
    for path, first in first_of.items():
        e = raw[first]
        out[path] = Record(
            mode=e.mode,
            uid=e.uid,
            gid=e.gid,
            mtime_ns=e.mtime_ns,
            atime_ns=e.atime_ns if atime and not stat.S_ISLNK(e.mode) else None,
            size=e.size if stat.S_ISREG(e.mode) else 0,
            rdev=e.rdev,
            target=e.symlink_target,
            xattrs=tuple(sorted(e.xattrs.items())),
            content=contents[first],
            links=frozenset(groups[first]),
        )
    return out


def first_difference(a: dict[bytes, Record], b: dict[bytes, Record]) -> str | None:
    """A readable description of the first difference between two snapshots, or None."""
    if a.keys() != b.keys():
        return f"only in first: {sorted(a.keys() - b.keys())[:5]}; only in second: {sorted(b.keys() - a.keys())[:5]}"
    for path in sorted(a):
        ra, rb = a[path], b[path]
        if ra != rb:
            for field in Record.__slots__:
                va, vb = getattr(ra, field), getattr(rb, field)
                if va != vb:
                    if field == "content":
                        return f"{path!r}: content differs (len {len(va or b'')} vs {len(vb or b'')})"
                    shown = (oct(va), oct(vb)) if field == "mode" else (va, vb)
                    return f"{path!r}: {field} {shown[0]!r} != {shown[1]!r}"
    return None
