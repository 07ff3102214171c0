"""FUSE test fixtures: a fresh image mounted with `lxfs mount` (a separate server process, as users run
it), a host tmpfs directory to compare with, and fsck of the image after unmounting."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


def fuse_usable() -> str | None:
    """Why FUSE cannot be used here, or None."""
    try:
        from lxfs.fuse import MountError
        from lxfs.fuse_mount import check_fuse_device
    except (ImportError, OSError) as exc:  # mfusepy raises OSError when libfuse3 is missing
        return f"libfuse3 cannot be loaded: {exc}"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed"
    try:
        check_fuse_device()
    except MountError as exc:
        return str(exc)
    if os.geteuid() != 0:
        return "the tests mount with allow_other and switch users: root needed"
    return None


_why = fuse_usable()
if _why is not None and _why.startswith("libfuse3"):
    collect_ignore_glob = ["test_*.py"]  # the modules import lxfs.fuse: nothing here can run


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    if _why is not None:
        pytest.skip(_why)


def lxfs(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["lxfs", *args], capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"lxfs {' '.join(args)} failed ({res.returncode}): {res.stdout}{res.stderr}")
    return res


def fsck_problems(image: str) -> list[str]:
    from lxfs.volfs.fsck import check

    return [str(p) for p in check(image)]


@dataclass
class Mounted:
    image: str
    path: str

    def umount(self) -> None:
        lxfs("umount", self.path)


def _scratch(prefix: str) -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.chmod(d, 0o755)
    return d


@pytest.fixture
def host_dir() -> Iterator[str]:
    d = _scratch("lxfs-host-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mounted() -> Iterator[Mounted]:
    """A new image (on disk) mounted at a new directory that every user can reach; unmounted
    afterwards, and then fsck must be clean."""
    base = tempfile.mkdtemp(prefix="lxfs-fuse-")
    os.chmod(base, 0o755)
    image = os.path.join(base, "test.img")
    mp = os.path.join(base, "mnt")
    os.mkdir(mp)
    from lxfs.volfs.volfs import VolFs

    VolFs.create(image).close()
    lxfs("mount", image, mp)
    m = Mounted(image, mp)
    try:
        yield m
    finally:
        from lxfs.fuse import mounted_source

        if mounted_source(mp) is not None:
            res = lxfs("umount", mp, check=False)
            if res.returncode != 0:
                subprocess.run(["fusermount3", "-uz", mp], check=False)
    problems = fsck_problems(image)
    shutil.rmtree(base, ignore_errors=True)
    assert problems == []
