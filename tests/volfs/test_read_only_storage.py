"""Images on read-only storage (a read-only mount, a CD, a snapshot): read-only use works (the tools, a
read-only lxfs mount); opening for writing is one clear error; a -wal that only a -shm could show is one too."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxfs.fuse import mounted_source
from lxfs.vfs.namespace import Namespace
from lxfs.volfs.layout import ImageError, ImageNotWritable
from lxfs.volfs.volfs import VolFs


def _read_only_view(src: Path, dst: Path) -> None:
    """``dst`` shows ``src`` on a read-only bind mount."""
    dst.mkdir()
    for cmd in (["mount", "--bind", str(src), str(dst)], ["mount", "-o", "remount,bind,ro", str(dst)]):
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode:
            subprocess.run(["umount", str(dst)], capture_output=True, check=False)
            pytest.skip(f"no read-only bind mount here: {res.stderr.strip()}")


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a writable directory, the same directory read-only)."""
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    yield src, ro
    if mounted_source(str(ro)) is not None:  # a bind mount of the same file system: os.path.ismount cannot tell
        subprocess.run(["umount", str(ro)], check=True)


def _write(fs: VolFs, path: bytes, data: bytes) -> None:
    ns = Namespace(fs)
    ctx = ns.context()
    f = ns.openat(ctx, None, path, os.O_CREAT | os.O_WRONLY, 0o644)
    f.write(data)
    f.close()
    ctx.release()


def _read(fs: VolFs, path: bytes) -> bytes:
    ns = Namespace(fs)
    ctx = ns.context()
    f = ns.openat(ctx, None, path, os.O_RDONLY)
    try:
        return f.read(1 << 20)
    finally:
        f.close()
        ctx.release()


def test_image_on_read_only_storage_opens_read_only(storage: tuple[Path, Path], tmp_path: Path) -> None:
    src, ro = storage
    with VolFs.create(src / "i.lxfs") as fs:
        _write(fs, b"/f", b"kept")
    files = sorted(os.listdir(src))
    assert not {"i.lxfs-wal", "i.lxfs-shm"} & set(files)  # closed cleanly: SQLite's files are gone
    _read_only_view(src, ro)
    image = str(ro / "i.lxfs")
    with VolFs.open(image, readonly=True) as fs:
        assert _read(fs, b"/f") == b"kept"
    with pytest.raises(ImageNotWritable, match=r"cannot be opened for writing \(read-only file system\)"):
        VolFs.open(image)
    for cmd in (["fsck", image], ["info", image], ["export", image, str(tmp_path / "out.tar")]):
        res = subprocess.run(["lxfs", *cmd], capture_output=True, text=True, check=False)
        assert res.returncode == 0, (cmd, res.stderr)
    assert subprocess.run(["tar", "xOf", str(tmp_path / "out.tar"), "f"], capture_output=True).stdout == b"kept"
    res = subprocess.run(["lxfs", "run", image, "--", "/bin/true"], capture_output=True, text=True, check=False)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "cannot be opened for writing (read-only file system)" in " ".join(res.stderr.split())
    assert sorted(os.listdir(ro)) == files


def test_commits_only_in_the_wal_on_read_only_storage(storage: tuple[Path, Path]) -> None:
    """An image copied while in use: its -wal holds commits. With the -shm beside it SQLite reads them; without
    one (and no way to make it) the image is refused rather than shown without them."""
    src, ro = storage
    live = src / "live"
    live.mkdir()
    fs = VolFs.create(live / "i.lxfs")
    _write(fs, b"/late", b"in the wal")
    for suffix in ("", "-wal", "-shm"):
        shutil.copy(f"{live}/i.lxfs{suffix}", f"{src}/i.lxfs{suffix}")
    fs.close()
    shutil.rmtree(live)
    assert os.path.getsize(src / "i.lxfs-wal") > 0
    _read_only_view(src, ro)
    with VolFs.open(ro / "i.lxfs", readonly=True) as copy:
        assert _read(copy, b"/late") == b"in the wal"
    subprocess.run(["umount", str(ro)], check=True)
    ro.rmdir()
    os.unlink(src / "i.lxfs-shm")
    _read_only_view(src, ro)
    with pytest.raises(ImageError, match="its -wal holds changes not yet in the image"):
        VolFs.open(ro / "i.lxfs", readonly=True)


def test_lxfs_mount_of_an_image_on_read_only_storage(storage: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.fuse.conftest import fuse_usable, lxfs

    why = fuse_usable()
    if why is not None:
        pytest.skip(why)
    src, ro = storage
    with VolFs.create(src / "i.lxfs") as fs:
        _write(fs, b"/f", b"kept")
    _read_only_view(src, ro)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = lxfs("mount", str(ro / "i.lxfs"), str(mnt), check=False)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "cannot be opened for writing (read-only file system): mount it read-only (-o ro)" in " ".join(
        res.stderr.split()
    )
    lxfs("mount", "-o", "ro", str(ro / "i.lxfs"), str(mnt))
    try:
        assert (mnt / "f").read_bytes() == b"kept"
    finally:
        lxfs("umount", str(mnt))
