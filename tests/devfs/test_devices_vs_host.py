"""/dev's memory devices and node table against the host's /dev: reads, writes, errnos, ioctls."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import termios as T
import time
from collections.abc import Callable
from functools import partial

import pytest

from devfs.devices import RNDGETENTCNT
from devfs.registry import DEV_LINKS, DEV_NODES, Devices, make_devtmpfs
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps
from tests.devfs.guestmem import Mem


def _outcome(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except OSError as exc:
        return errno.errorcode[exc.errno or 0]


MEM_DEVICES = ["null", "zero", "full", "random", "urandom"]


def _ours(name: str) -> FileOps:
    major, minor = next((ma, mi) for n, ma, mi, _ in DEV_NODES if n.decode() == name)
    return Devices().open_device(stat.S_IFCHR, major, minor, os.O_RDWR)


@pytest.mark.parametrize("name", MEM_DEVICES)
def test_reads_and_writes_match_host(name: str) -> None:
    dev = _ours(name)
    fd = os.open(f"/dev/{name}", os.O_RDWR)
    try:
        for size in (0, 1, 10, 65536):
            host = _outcome(partial(os.read, fd, size))
            ours = _outcome(partial(dev.read, None, size, 0))  # type: ignore[arg-type]
            if name in ("random", "urandom"):
                assert isinstance(host, bytes) and isinstance(ours, bytes)
                assert len(ours) == len(host)
            else:
                assert ours == host
        for data in (b"", b"abc", b"x" * 100_000):
            host_w = _outcome(partial(os.write, fd, data))
            ours_w = _outcome(partial(dev.write, None, data, 0))  # type: ignore[arg-type]
            assert ours_w == host_w, (name, len(data))
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", MEM_DEVICES)
def test_ioctls_match_host(name: str) -> None:
    dev = _ours(name)
    mem = Mem()
    mem.write(0x1000, bytes(64))
    fd = os.open(f"/dev/{name}", os.O_RDWR)
    try:
        for request, size in ((T.TCGETS, 36), (RNDGETENTCNT, 4), (T.TIOCGWINSZ, 8)):
            host = _outcome(partial(fcntl.ioctl, fd, request, bytes(size)))
            ours = _outcome(partial(dev.ioctl, None, request, 0x1000, mem))  # type: ignore[arg-type]
            if isinstance(host, bytes):
                assert ours == 0 and mem.read(0x1000, len(host)) == host
            else:
                assert ours == host, (name, hex(request))
    finally:
        os.close(fd)


def test_llseek_is_always_zero_like_host() -> None:
    for name in MEM_DEVICES:
        dev = _ours(name)
        fd = os.open(f"/dev/{name}", os.O_RDWR)
        try:
            assert os.lseek(fd, 100, os.SEEK_SET) == dev.llseek(None, 100, os.SEEK_SET) == 0  # type: ignore[attr-defined]
        finally:
            os.close(fd)


def test_unknown_device_is_ENXIO() -> None:
    with pytest.raises(FsError) as e:
        Devices().open_device(stat.S_IFCHR, 42, 42, os.O_RDONLY)
    assert e.value.errno == errno.ENXIO
    with pytest.raises(FsError) as e:
        Devices().open_device(stat.S_IFBLK, 1, 3, os.O_RDONLY)
    assert e.value.errno == errno.ENXIO


def test_dev_tty_without_controlling_terminal_is_ENXIO() -> None:
    with pytest.raises(FsError) as e:
        Devices().open_device(stat.S_IFCHR, 5, 0, os.O_RDWR)
    assert e.value.errno == errno.ENXIO


def test_devtmpfs_nodes_match_host_dev() -> None:
    fs = make_devtmpfs()
    names = {e.name: e.ino for e in fs.readdir(fs.root_ino, 0)}
    for name, _major, _minor, _mode in DEV_NODES:
        host = os.lstat(b"/dev/" + name)
        ours = fs.getattr(names[name])
        assert (ours.mode, ours.rdev, ours.uid, ours.gid) == (host.st_mode, host.st_rdev, host.st_uid, host.st_gid)
    for name, target in DEV_LINKS:
        assert fs.readlink(names[name]) == os.readlink(b"/dev/" + name) == target
    assert fs.getattr(names[b"shm"]).mode == os.lstat("/dev/shm").st_mode
    assert stat.S_ISDIR(fs.getattr(names[b"pts"]).mode)


def test_devtmpfs_nodes_are_as_old_as_the_system() -> None:
    """Not the epoch: devtmpfs makes its nodes at boot, so `ls -l /dev` shows the boot's date."""
    before = time.time_ns()
    fs = make_devtmpfs()
    after = time.time_ns()
    for e in fs.readdir(fs.root_ino, 0):
        a = fs.getattr(e.ino)
        assert before <= a.mtime_ns <= after and a.ctime_ns == a.mtime_ns == a.atime_ns, e.name
