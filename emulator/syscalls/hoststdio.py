"""Stand-in file syscalls on the host's stdin/stdout/stderr for a Kernel without a VFS namespace
(``python -m emulator``, benchmarks): write, writev, read, fstat of fds 0-2, close. Not in TABLE:
table.host_table() puts ENTRIES over the file side's handlers."""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.syscalls.table import Entry, make_entry, s32
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Task

_closed: set[tuple[int, int]] = set()
ENTRIES: list[Entry] = []


def syscall(name: str, *args: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        ENTRIES.append(make_entry(name, fn, args))
        return fn

    return deco


def _host_fd(task: Task, fd: int) -> int:
    fd = s32(fd)
    stdio = task.kernel.stdio
    if fd < 0 or fd >= len(stdio) or (task.process.pid, fd) in _closed:
        raise FsError(errno.EBADF)
    return stdio[fd]


@syscall("write", "fd", "buf2", "size")
def sys_write(task: Task, fd: int, buf: int, count: int) -> int:
    h = _host_fd(task, fd)
    data = task.read(buf, min(count, 1 << 20))
    return os.write(h, data)


@syscall("writev", "fd", "ptr", "int")
def sys_writev(task: Task, fd: int, iov: int, iovcnt: int) -> int:
    h = _host_fd(task, fd)
    if iovcnt > 1024:
        raise FsError(errno.EINVAL)
    raw = task.read(iov, 16 * iovcnt)
    data = b"".join(task.read(b, n) for b, n in struct.iter_unpack("<QQ", raw))
    return os.write(h, data) if data else 0


@syscall("read", "fd", "ptr", "size")
def sys_read(task: Task, fd: int, buf: int, count: int) -> int:
    h = _host_fd(task, fd)
    data = os.read(h, min(count, 1 << 20))
    task.write(buf, data)
    return len(data)


@syscall("close", "fd")
def sys_close(task: Task, fd: int) -> int:
    _host_fd(task, fd)
    _closed.add((task.process.pid, s32(fd)))
    return 0


@syscall("ioctl", "fd", "hex", "ptr")
def sys_ioctl(task: Task, fd: int, req: int, arg: int) -> int:
    _host_fd(task, fd)
    raise FsError(errno.ENOTTY)


@syscall("newfstatat", "atfd", "path", "ptr", "hex")
def sys_newfstatat(task: Task, dirfd: int, path: int, buf: int, flags: int) -> int:
    if task.read_cstring(path) != b"":
        raise FsError(errno.ENOENT)
    return sys_fstat(task, dirfd, buf)


@syscall("fstat", "fd", "ptr")
def sys_fstat(task: Task, fd: int, buf: int) -> int:
    st = os.fstat(_host_fd(task, fd))
    task.write(
        buf,
        struct.pack(
            "<QQQIIIiQqqqqqqqqq24x", st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0,
            st.st_rdev, st.st_size, st.st_blksize, st.st_blocks, int(st.st_atime), 0, int(st.st_mtime), 0,
            int(st.st_ctime), 0,
        ),
    )  # fmt: skip
    return 0
