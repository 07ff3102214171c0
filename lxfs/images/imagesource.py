"""Reading an image (through the VFS) as Entries, for export: preorder, names sorted, hard links to the
first name seen, file data without its holes (files whose stored blocks cover less than their size)."""

from __future__ import annotations

import stat
from collections.abc import Iterator

from lxfs.images.entries import Entry, HardLinks, entry_from_stat
from lxfs.images.imagefs import ImageFs
from lxfs.vfs.stat import Stat


def data_regions(image: ImageFs, path: bytes, st: Stat) -> list[tuple[int, int]] | None:
    """(offset, length) of the data of a sparse file (zero runs that fill whole chunks or border data are
    holes), or None when the file has no holes (its stored blocks cover its size)."""
    if st.st_blocks * 512 >= st.st_size:
        return None
    chunk = image.chunk_size
    zero = bytes(chunk)
    regions: list[tuple[int, int]] = []
    with image.reading(path) as f:
        pos = 0
        while pos < st.st_size:
            block = f.pread(min(chunk, st.st_size - pos), pos)
            if not block:
                break
            if block != zero[: len(block)]:
                # Zeros around the data inside a chunk stay holes after a round trip; regions are whole
                # 512-byte blocks (GNU tar misreads a sparse map with unaligned inner regions).
                start = (pos + len(block) - len(block.lstrip(b"\0"))) // 512 * 512
                end = min(st.st_size, -(-(pos + len(block.rstrip(b"\0"))) // 512) * 512)
                if regions and sum(regions[-1]) == start:
                    regions[-1] = (regions[-1][0], end - regions[-1][0])
                else:
                    regions.append((start, end - start))
            pos += len(block)
    return regions


def _file_data(image: ImageFs, path: bytes, regions: list[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
    step = max(image.chunk_size, 1 << 20)
    with image.reading(path) as f:
        for start, length in regions:
            pos, end = start, start + length
            while pos < end:
                block = f.pread(min(step, end - pos), pos)
                if not block:
                    raise OSError(f"{path!r} shrank while it was read")
                yield pos, block
                pos += len(block)


def read_image(image: ImageFs, root: bytes = b"/") -> Iterator[tuple[Entry, list[tuple[int, int]] | None]]:
    """(entry, sparse regions or None) for the tree at ``root``; entry paths are relative to it."""
    links = HardLinks()
    base = root.rstrip(b"/")

    def visit(rel: bytes) -> Iterator[tuple[Entry, list[tuple[int, int]] | None]]:
        path = base + b"/" + rel if rel else base or b"/"
        st = image.lstat(path)
        if st is None:
            return
        kind = stat.S_IFMT(st.st_mode)
        link = links.link(rel, st)
        if link is not None:
            yield link, None
            return
        entry = entry_from_stat(rel, st, image.xattrs(path))
        regions = None
        if kind == stat.S_IFREG:
            regions = data_regions(image, path, st)
            spans = regions if regions is not None else [(0, st.st_size)]
            entry.data = lambda: _file_data(image, path, spans)
        elif kind == stat.S_IFLNK:
            entry.symlink_target = image.readlink(path)
        yield entry, regions
        if kind == stat.S_IFDIR:
            for name in sorted(image.listdir(path)):
                yield from visit(rel + b"/" + name if rel else name)

    yield from visit(b"")
