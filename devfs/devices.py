"""Character devices of drivers/char/mem.c and random.c (null, zero, full, random, urandom) and the host
terminal that backs the guest's console and standard streams."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import struct
import termios as T
from typing import TYPE_CHECKING

from devfs import termbits as TB
from devfs.pty import JobControl, NoJobControl, Tty
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps, GuestMemory

if TYPE_CHECKING:
    from lxfs.vfs.file import OpenFile

RNDGETENTCNT = 0x80045200  # include/uapi/linux/random.h
POOL_BITS = 256  # random.c reports a full pool once initialised


_DEFAULT_POLLMASK = select.POLLIN | select.POLLOUT | select.POLLRDNORM | select.POLLWRNORM


class MemDevice(FileOps):
    """null / zero / full: positionless (``llseek`` always gives 0, like mem.c's null_lseek, and
    ``keeps_pos``: reads and writes never move f_pos)."""

    seekable = True
    keeps_pos = True  # reads and writes never move f_pos

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return b"" if self.name == "null" else bytes(size)

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        if self.name == "full":
            raise FsError(errno.ENOSPC)
        return len(data)

    def size(self, file: OpenFile) -> int:
        return 0

    def llseek(self, file: OpenFile, offset: int, whence: int) -> int:
        return 0

    def poll(self, file: OpenFile) -> int:
        return _DEFAULT_POLLMASK


class RandomDevice(FileOps):
    """random / urandom (one CRNG, never blocking once seeded, as since Linux 5.6)."""

    seekable = True
    keeps_pos = True

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return os.urandom(size)

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        return len(data)  # mixed into the pool; credits nothing

    def size(self, file: OpenFile) -> int:
        return 0

    def llseek(self, file: OpenFile, offset: int, whence: int) -> int:
        return 0  # noop_llseek: f_pos never moves

    def poll(self, file: OpenFile) -> int:
        return _DEFAULT_POLLMASK

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        if request == RNDGETENTCNT:
            mem.write(arg, struct.pack("<i", POOL_BITS))
            return 0
        raise FsError(errno.EINVAL)  # random_ioctl's default


# ioctls passed to a host tty, with the size of the argument they read (in) or fill (out)
_HOST_OUT = {T.TCGETS: TB.TERMIOS_SIZE, TB.TCGETS2: TB.TERMIOS2_SIZE, T.TIOCGWINSZ: 8, T.FIONREAD: 4, T.TIOCOUTQ: 4}
_HOST_IN = {
    T.TCSETS: TB.TERMIOS_SIZE, T.TCSETSW: TB.TERMIOS_SIZE, T.TCSETSF: TB.TERMIOS_SIZE,
    TB.TCSETS2: TB.TERMIOS2_SIZE, TB.TCSETSW2: TB.TERMIOS2_SIZE, TB.TCSETSF2: TB.TERMIOS2_SIZE, T.TIOCSWINSZ: 8,
}  # fmt: skip
_HOST_VALUE = {T.TCFLSH, T.TCXONC, T.TCSBRK}


class HostTerminal(FileOps):
    """The guest's console over host fds (stdin for reads, stdout for writes). Terminal modes and the
    window size are the host terminal's (ioctls go to the host when it is a tty); the foreground
    process group and session are guest state kept in ``tty``. ``host_fd`` is what the emulator's
    selector waits on before it calls ``waitq.notify``."""

    def __init__(self, read_fd: int = 0, write_fd: int = 1, jobs: JobControl | None = None) -> None:
        super().__init__()
        self.host_fd = read_fd
        self.write_fd = write_fd
        self.is_tty = os.isatty(read_fd)
        # guest-side terminal state (pgrp, session); its line discipline is unused: the host's runs
        self.tty = Tty(jobs or NoJobControl(), self._write_host, rdev=(5, 1))

    def _write_host(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        self.tty.check_change(signal.SIGTTIN)  # a background group of the guest
        ready, _, _ = select.select([self.host_fd], [], [], 0)
        if not ready:
            raise FsError(errno.EAGAIN)
        try:
            return os.read(self.host_fd, size)
        except BlockingIOError:
            raise FsError(errno.EAGAIN) from None

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        try:
            return os.write(self.write_fd, data)
        except BlockingIOError:
            raise FsError(errno.EAGAIN) from None

    def poll(self, file: OpenFile) -> int:
        ready, _, _ = select.select([self.host_fd], [], [], 0)
        readable = select.POLLIN | select.POLLRDNORM if ready else 0
        return readable | select.POLLOUT | select.POLLWRNORM

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        if request in _HOST_OUT or request in _HOST_IN or request in _HOST_VALUE:
            if not self.is_tty:
                raise FsError(errno.ENOTTY)
            if request in (T.TCSETS, T.TCSETSW, T.TCSETSF, TB.TCSETS2, TB.TCSETSW2, TB.TCSETSF2):
                self.tty.check_change(signal.SIGTTOU)
            try:
                if request in _HOST_OUT:
                    mem.write(arg, fcntl.ioctl(self.host_fd, request, bytes(_HOST_OUT[request])))
                elif request in _HOST_IN:
                    fcntl.ioctl(self.host_fd, request, mem.read(arg, _HOST_IN[request]))
                    if request == T.TIOCSWINSZ:
                        self.tty.resize(TB.Winsize.unpack(mem.read(arg, 8)))
                else:
                    fcntl.ioctl(self.host_fd, request, arg)
            except OSError as exc:
                raise FsError(exc.errno or errno.EIO) from None
            return 0
        if not self.is_tty:
            raise FsError(errno.ENOTTY)
        # job control ioctls act on the guest's view of this terminal
        return self.tty.ioctl(request, arg, mem)
