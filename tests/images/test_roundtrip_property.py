"""Property: for any tree (every file kind, any mode, owner, ns time, xattrs, hard links, sparse data,
odd byte names), import(export(image)) == image, and the copy stores no more blocks than the original."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxfs.images import export_image, import_into
from lxfs.images.entries import Entry, Warn
from lxfs.images.imagefs import ImageFs
from lxfs.images.imagesource import read_image
from lxfs.images.sink import ImageWriter
from lxfs.volfs import fsck
from tests.images.trees import first_difference, snapshot

NAMES = st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
TIMES = st.integers(min_value=-(2**33) * 10**9, max_value=2**33 * 10**9)
IDS = st.integers(min_value=0, max_value=2**32 - 2)  # 2**32 - 1 is chown's "leave as it is"
XATTRS = st.dictionaries(
    st.binary(min_size=1, max_size=20).filter(lambda b: b"\0" not in b).map(lambda b: b"user." + b)
    | st.sampled_from([b"trusted.x", b"security.y", b"user.a=b"]),
    st.binary(max_size=64),
    max_size=3,
)


@st.composite
def file_data(draw: st.DrawFn) -> tuple[int, list[tuple[int, bytes]]]:
    size = draw(st.sampled_from([0, 1, 511, 4096, 131072, 131073, 300_000]))
    segments: list[tuple[int, bytes]] = []
    pos = 0
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(pos, max(pos, size)))
        length = draw(st.integers(0, max(0, min(size - start, 70_000))))
        if length:
            segments.append((start, draw(st.binary(min_size=1, max_size=64)) * (length // 64 + 1)))
            segments[-1] = (start, segments[-1][1][:length])
            pos = start + length
    return size, segments


@st.composite
def trees(draw: st.DrawFn) -> list[Entry]:
    entries: list[Entry] = [Entry(b"", stat.S_IFDIR | 0o755, mtime_ns=draw(TIMES))]
    dirs = [b""]
    files: list[bytes] = []
    for _ in range(draw(st.integers(1, 14))):
        parent = draw(st.sampled_from(dirs))
        path = (parent + b"/" if parent else b"") + draw(NAMES)
        if any(e.path == path for e in entries):
            continue
        kind = draw(st.sampled_from(["dir", "file", "file", "symlink", "fifo", "chr", "blk", "hardlink"]))
        meta = {
            "uid": draw(IDS),
            "gid": draw(IDS),
            "mtime_ns": draw(TIMES),
            "atime_ns": draw(TIMES),
            # user.* xattrs exist only on regular files and directories (xattr(7): EPERM elsewhere)
            "xattrs": draw(XATTRS) if kind in ("dir", "file") else {},
        }
        perm = draw(st.integers(0, 0o7777))
        if kind == "dir":
            entries.append(Entry(path, stat.S_IFDIR | perm, **meta))
            dirs.append(path)
        elif kind == "file":
            size, segments = draw(file_data())
            entries.append(
                Entry(path, stat.S_IFREG | perm, size=size, data=lambda s=segments: iter(s), **meta)  # type: ignore[misc]
            )
            files.append(path)
        elif kind == "symlink":
            target = draw(st.binary(min_size=1, max_size=200).filter(lambda b: b"\0" not in b))
            entries.append(Entry(path, stat.S_IFLNK | 0o777, symlink_target=target, **meta))
        elif kind == "hardlink" and files:
            entries.append(Entry(path, stat.S_IFREG, hardlink_to=draw(st.sampled_from(files))))
        elif kind in ("fifo", "chr", "blk"):
            fmt = {"fifo": stat.S_IFIFO, "chr": stat.S_IFCHR, "blk": stat.S_IFBLK}[kind]
            rdev = 0 if kind == "fifo" else draw(st.integers(0, 2**20 - 1)) | (draw(st.integers(0, 4095)) << 20)
            entries.append(Entry(path, fmt | perm, rdev=_makedev(rdev), **meta))
    return entries


def _makedev(packed: int) -> int:
    import os

    return os.makedev(packed >> 20, packed & 0xFFFFF)


def image_state(path: Path) -> tuple[dict, dict[bytes, int]]:
    with ImageFs.open(path, readonly=True) as image:
        pairs = list(read_image(image))
        blocks = {}
        for e, _ in pairs:
            if stat.S_ISREG(e.mode) and e.hardlink_to is None:
                st_ = image.lstat(b"/" + e.path)
                assert st_ is not None
                blocks[e.path] = st_.st_blocks
        return snapshot(e for e, _ in pairs), blocks


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trees())
def test_export_then_import_is_the_identity(entries: list[Entry]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first, second, tar = Path(tmp, "a.lxfs"), Path(tmp, "b.lxfs"), Path(tmp, "x.tar.gz")
        with ImageFs.new_image(first) as image:
            warn = Warn()
            writer = ImageWriter(image, warn)
            writer.put_all(entries)
            writer.finish()
            assert warn.problems == 0, warn.messages
        ImageFs.new_image(second).close()
        export_image(first, tar, show_progress=False)
        warn = Warn()
        import_into(second, tar, warn=warn, show_progress=False)
        assert warn.problems == 0, warn.messages
        (snap_a, blocks_a), (snap_b, blocks_b) = image_state(first), image_state(second)
        assert first_difference(snap_a, snap_b) is None
        assert all(blocks_b[p] <= blocks_a[p] for p in blocks_a), (blocks_a, blocks_b)
        assert fsck.check(first) == [] and fsck.check(second) == []
