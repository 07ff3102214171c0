"""The memory devices' positions through the VFS against the host: lseek on null, zero, full, random and
urandom always gives 0 (null_lseek, noop_llseek) and reads and writes never move f_pos, as /proc's
fdinfo ``pos:`` shows."""

from __future__ import annotations

import errno
import os

import pytest

from devfs.mount import mount_dev
from devfs.registry import Devices
from lxfs.tmpfs import TmpFs
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import OpenFile
from lxfs.vfs.namespace import Namespace

MEM_DEVICES = ["null", "zero", "full", "random", "urandom"]
# (offset, whence) pairs: every whence Linux knows, negative results, and unknown whences
SEEKS = [(100, 0), (5, 1), (-5, 1), (7, 2), (3, 3), (3, 4), (1, 5), (1, 9), (-1, 0), (-1, -1)]


def _host_pos(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return int(f.readline().split()[1])


def _errname(exc: OSError) -> str:
    return errno.errorcode[exc.errno or 0]


def _host_script(name: str) -> list[object]:
    out: list[object] = []
    fd = os.open(f"/dev/{name}", os.O_RDWR)
    try:
        for offset, whence in SEEKS:
            try:
                out.append(("lseek", offset, whence, os.lseek(fd, offset, whence)))
            except OSError as exc:
                out.append(("lseek", offset, whence, _errname(exc)))
            out.append(("pos", _host_pos(fd)))
        out.append(("read", len(os.read(fd, 10)), _host_pos(fd)))
        try:
            out.append(("write", os.write(fd, b"abc"), _host_pos(fd)))
        except OSError as exc:
            out.append(("write", _errname(exc), _host_pos(fd)))
        out.append(("pread", len(os.pread(fd, 4, 1000)), _host_pos(fd)))
    finally:
        os.close(fd)
    return out


def _ours_script(file: OpenFile) -> list[object]:
    out: list[object] = []
    for offset, whence in SEEKS:
        try:
            out.append(("lseek", offset, whence, file.lseek(offset, whence)))
        except FsError as exc:
            out.append(("lseek", offset, whence, errno.errorcode[exc.errno]))
        out.append(("pos", file.pos))
    out.append(("read", len(file.read(10)), file.pos))
    try:
        out.append(("write", file.write(b"abc"), file.pos))
    except FsError as exc:
        out.append(("write", errno.errorcode[exc.errno], file.pos))
    out.append(("pread", len(file.pread(4, 1000)), file.pos))
    return out


@pytest.mark.parametrize("name", MEM_DEVICES)
def test_memory_device_positions_through_the_vfs_match_host(name: str) -> None:
    devices = Devices()
    ns = Namespace(TmpFs(mode=0o755), devices=devices)
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/dev", 0o755)
    mount_dev(ns, ctx, devices)
    file = ns.openat(ctx, None, b"/dev/" + name.encode(), os.O_RDWR)
    try:
        assert _ours_script(file) == _host_script(name)
    finally:
        file.close()


def test_mknod_node_of_dev_zero_keeps_position_zero_like_host(tmp_path: object) -> None:
    """The hook belongs to the device, not to devtmpfs: a node made with mknod elsewhere behaves alike."""
    devices = Devices()
    ns = Namespace(TmpFs(mode=0o755), devices=devices)
    ctx = ns.context()
    ns.mknodat(ctx, None, b"/zero", 0o20666, os.makedev(1, 5))
    file = ns.openat(ctx, None, b"/zero", os.O_RDONLY)
    try:
        file.read(100)
        assert (file.pos, file.lseek(50, os.SEEK_SET), file.pos) == (0, 0, 0)
    finally:
        file.close()
