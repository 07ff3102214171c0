"""Reading host files and directory trees as Entries (lstat metadata, ns times, xattrs, hard links,
sparse data via SEEK_DATA/SEEK_HOLE). Symlinks are read, never followed."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from lxfs.images.entries import IO_SIZE, DataSource, Entry, HardLinks, Warn, entry_from_stat


def host_xattrs(path: bytes) -> dict[bytes, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            return {}
        raise
    out = {}
    for name in sorted(names):
        try:
            out[os.fsencode(name)] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # removed meanwhile
                raise
    return out


def host_file_data(path: bytes, size: int) -> DataSource:
    """The data segments of a host file; holes (SEEK_HOLE) are skipped."""

    def segments() -> Iterator[tuple[int, bytes]]:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            pos = 0
            while pos < size:
                try:
                    start = os.lseek(fd, pos, os.SEEK_DATA)
                    end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # no data after pos: the rest is a hole
                        return
                    if exc.errno != errno.EINVAL:
                        raise
                    start, end = pos, size  # filesystem without SEEK_DATA: all data
                while start < end:
                    block = os.pread(fd, min(IO_SIZE, end - start), start)
                    if not block:  # shrank while we read
                        return
                    yield start, block
                    start += len(block)
                pos = end
        finally:
            os.close(fd)

    return segments


def host_entry(host_path: bytes, dest: bytes, st: os.stat_result | None = None) -> Entry:
    """One host object (not followed if a symlink) as an Entry named ``dest``."""
    if st is None:
        st = os.lstat(host_path)
    entry = entry_from_stat(dest, st, host_xattrs(host_path))
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFREG:
        entry.data = host_file_data(host_path, st.st_size)
    elif kind == stat.S_IFLNK:
        entry.symlink_target = os.readlink(host_path)
    return entry


def read_host_tree(root: bytes, warn: Warn) -> Iterator[Entry]:
    """The tree at ``root`` (itself first, as ``b""``), parents before children, names sorted; a second
    name of a multiply-linked file becomes a hard link to the first; sockets are skipped with a warning."""
    links = HardLinks()

    def visit(host_path: bytes, dest: bytes) -> Iterator[Entry]:
        try:
            st = os.lstat(host_path)
        except FileNotFoundError:
            warn(f"{os.fsdecode(host_path)}: vanished while reading: skipped")
            return
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFSOCK:
            warn(f"{os.fsdecode(host_path)}: socket ignored", problem=False)
            return
        link = links.link(dest, st, st.st_dev)
        if link is not None:
            yield link
            return
        yield host_entry(host_path, dest, st)
        if kind == stat.S_IFDIR:
            for name in sorted(os.listdir(host_path)):
                yield from visit(host_path + b"/" + name, dest + b"/" + name if dest else name)

    yield from visit(os.fsencode(root).rstrip(b"/") or b"/", b"")
