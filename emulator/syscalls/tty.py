"""ioctl dispatch to an open file's operations: terminals (devfs's TTY and console FileOps answer
TCGETS, TIOCGWINSZ, TIOCSPGRP ...), pipes and sockets (FIONREAD), devices. The generic requests
(FIOCLEX, FIONBIO, FIONREAD on files) are handled in fs.sys_ioctl before this."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Task
    from lxfs.vfs.file import OpenFile


def tty_ioctl(task: Task, file: OpenFile, request: int, arg: int) -> int:
    """The file's own ioctl with the task as GuestMemory (EFAULT on bad pointers); ENOTTY when the
    file has none."""
    ops = file.ops
    if ops is None:
        raise FsError(errno.ENOTTY)
    return ops.ioctl(file, request, arg, task)
