"""The record that flows between image sources (tar, host directory, the image itself) and sinks (the
image, a tar): one file-system object with its metadata, and member-path safety rules."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

# Regular-file data as (offset, bytes) segments in increasing order; what is not covered is a hole.
DataSource = Callable[[], Iterator[tuple[int, bytes]]]

IO_SIZE = 1 << 20  # bytes per read from a source and per write into the image


class Warn:
    """Collects per-member warnings and refusals (printed by the CLI, counted for the exit status)."""

    def __init__(self, sink: Callable[[str], None] | None = None) -> None:
        self.messages: list[str] = []
        self.problems = 0  # members refused or not stored (notes like a stripped '/' do not count)
        self._sink = sink

    def __call__(self, message: str, problem: bool = True) -> None:
        self.messages.append(message)
        self.problems += problem
        if self._sink is not None:
            self._sink(message)


class UnsafePath(Exception):
    """A member name or hard-link target that would leave the destination (``..``, or empty)."""


@dataclass(slots=True)
class Entry:
    """One object to store. ``path`` is relative to the destination, normalised (no ``.``, ``..``, empty
    components or leading ``/``); ``b""`` is the destination itself."""

    path: bytes
    mode: int  # S_IFMT | 07777
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    atime_ns: int | None = None  # None: the same as mtime (tar members without PAX atime)
    size: int = 0
    rdev: int = 0
    symlink_target: bytes = b""
    hardlink_to: bytes | None = None  # another entry's path: link to it instead of storing this one
    xattrs: dict[bytes, bytes] = field(default_factory=dict)
    data: DataSource | None = None

    @property
    def kind(self) -> int:
        return stat.S_IFMT(self.mode)


def normalize_member(name: bytes) -> tuple[bytes, bool]:
    """A tar member name as a destination-relative path, like GNU tar: leading ``/`` stripped (returned
    flag True when that happened), ``.`` and empty components dropped; ``..`` anywhere is refused
    (UnsafePath), since it could climb out of the destination."""
    stripped = name.startswith(b"/")
    parts = []
    for part in name.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            raise UnsafePath(name)
        parts.append(part)
    return b"/".join(parts), stripped


def split_parent(path: bytes) -> tuple[bytes, bytes]:
    """``a/b/c`` -> (``a/b``, ``c``); ``c`` -> (``b""``, ``c``)."""
    head, _, tail = path.rpartition(b"/")
    return head, tail


def ancestors(path: bytes) -> Iterator[bytes]:
    """The proper prefixes of a relative path, shortest first: ``a/b/c`` -> ``a``, ``a/b``."""
    parts = path.split(b"/")
    for i in range(1, len(parts)):
        yield b"/".join(parts[:i])


def format_ns(ns: int) -> str:
    """Integer ns as a PAX time string (``-1.5`` is 1.5 s before the epoch), with no trailing zeros."""
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), 1_000_000_000)
    if not frac:
        return f"{sign}{sec}"
    return f"{sign}{sec}.{frac:09d}".rstrip("0")


def parse_ns(text: str) -> int:
    """A PAX time string (decimal seconds, optional fraction and sign) as integer ns, exactly."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    sec, _, frac = text.partition(".")
    frac_digits = "".join(c for c in frac if c.isdigit())[:9].ljust(9, "0")
    return sign * (int(sec or "0") * 1_000_000_000 + int(frac_digits))


def describe(path: bytes) -> str:
    """A path for messages (undecodable bytes escaped)."""
    return "/" + path.decode("utf-8", "backslashreplace") if path else "/"


class StatLike(Protocol):
    """What entries need of a stat result (``os.stat_result`` and the VFS ``Stat`` both fit)."""

    @property
    def st_mode(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_nlink(self) -> int: ...
    @property
    def st_uid(self) -> int: ...
    @property
    def st_gid(self) -> int: ...
    @property
    def st_rdev(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_atime_ns(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...


def entry_from_stat(path: bytes, st: StatLike, xattrs: dict[bytes, bytes]) -> Entry:
    """An entry with ``st``'s metadata; the caller adds the contents (data, symlink target)."""
    kind = stat.S_IFMT(st.st_mode)
    return Entry(
        path=path,
        mode=st.st_mode,
        uid=st.st_uid,
        gid=st.st_gid,
        mtime_ns=st.st_mtime_ns,
        atime_ns=st.st_atime_ns,
        size=st.st_size if kind == stat.S_IFREG else 0,
        rdev=st.st_rdev if kind in (stat.S_IFCHR, stat.S_IFBLK) else 0,
        xattrs=xattrs,
    )


class HardLinks:
    """Tree walks: the first name of a multiply-linked file is stored, later names link to it."""

    def __init__(self) -> None:
        self._first: dict[tuple[int, int], bytes] = {}

    def link(self, path: bytes, st: StatLike, dev: int = 0) -> Entry | None:
        """A hard-link entry if ``path`` is a later name of a file already seen, else None."""
        if stat.S_ISDIR(st.st_mode) or st.st_nlink < 2:
            return None
        key = (dev, st.st_ino)
        first = self._first.get(key)
        if first is None:
            self._first[key] = path
            return None
        return Entry(path=path, mode=st.st_mode, hardlink_to=first)
