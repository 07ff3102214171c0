"""Pipes and FIFOs (fs/pipe.c): a 64 KiB buffer with PIPE_BUF atomicity, EPIPE without readers, EOF
without writers, EAGAIN + WaitQueue notification when it would block (the FileOps contract)."""

from __future__ import annotations

import errno
import os
import select
from typing import TYPE_CHECKING

from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps, GuestMemory
from lxfs.vfs.waitq import WaitQueue

if TYPE_CHECKING:
    from lxfs.vfs.file import OpenFile

PIPE_BUF = 4096
PIPE_SIZE = 65536  # default capacity (16 pages)

POLLIN = select.POLLIN | select.POLLRDNORM
POLLOUT = select.POLLOUT | select.POLLWRNORM


class Pipe:
    """The shared buffer of one pipe or FIFO. Both ends' FileOps share ``waitq``."""

    __slots__ = ("buf", "capacity", "readers", "waiting_readers", "waiting_writers", "waitq", "writers")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.capacity = PIPE_SIZE
        self.readers = 0
        self.writers = 0
        # FIFO opens parked until a partner opens (see fifo_open), by waiter identity: a parked open is
        # retried from scratch and must not count twice
        self.waiting_readers: set[int] = set()
        self.waiting_writers: set[int] = set()
        self.waitq = WaitQueue()

    def read(self, size: int) -> bytes:
        if not size:
            return b""
        buf = self.buf
        if buf:
            data = bytes(buf[:size])
            del buf[:size]
            self.waitq.notify(POLLOUT)
            return data
        if self.writers == 0 and not self.waiting_writers:
            return b""
        raise FsError(errno.EAGAIN)

    def write(self, data: bytes) -> int:
        """Writes of at most PIPE_BUF bytes are all or nothing; bigger ones may be partial (a blocking
        writer calls again with the rest)."""
        if self.readers == 0:
            if self.waiting_readers:
                raise FsError(errno.EAGAIN)  # a reader's open is about to complete
            raise FsError(errno.EPIPE)  # the caller also sends SIGPIPE
        if not data:
            return 0
        free = self.capacity - len(self.buf)
        n = len(data)
        if (n <= PIPE_BUF and free < n) or free == 0:
            raise FsError(errno.EAGAIN)
        n = min(n, free)
        self.buf += data[:n]
        self.waitq.notify(POLLIN)
        return n

    def poll_read(self) -> int:
        mask = POLLIN if self.buf else 0
        if self.writers == 0 and not self.waiting_writers:
            mask |= select.POLLHUP
        return mask

    def poll_write(self) -> int:
        mask = POLLOUT if self.capacity - len(self.buf) >= PIPE_BUF else 0
        if self.readers == 0:
            mask |= select.POLLERR
        return mask


class PipeReader(FileOps):
    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.waitq = pipe.waitq
        pipe.readers += 1

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return self.pipe.read(size)

    def size(self, file: OpenFile) -> int:
        return len(self.pipe.buf)

    def poll(self, file: OpenFile) -> int:
        return self.pipe.poll_read()

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        return _pipe_ioctl(self.pipe, request, arg, mem)

    def release(self, file: OpenFile) -> None:
        self.pipe.readers -= 1
        if self.pipe.readers == 0:
            self.pipe.waitq.notify(select.POLLERR | POLLOUT)


class PipeWriter(FileOps):
    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.waitq = pipe.waitq
        pipe.writers += 1

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        return self.pipe.write(data)

    def poll(self, file: OpenFile) -> int:
        return self.pipe.poll_write()

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        return _pipe_ioctl(self.pipe, request, arg, mem)

    def release(self, file: OpenFile) -> None:
        self.pipe.writers -= 1
        if self.pipe.writers == 0:
            self.pipe.waitq.notify(select.POLLHUP | POLLIN)


class PipeDuplex(FileOps):
    """A FIFO opened O_RDWR: both ends at once (never blocks at open)."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.waitq = pipe.waitq
        pipe.readers += 1
        pipe.writers += 1

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return self.pipe.read(size)

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        return self.pipe.write(data)

    def poll(self, file: OpenFile) -> int:
        return self.pipe.poll_read() | self.pipe.poll_write()

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        return _pipe_ioctl(self.pipe, request, arg, mem)

    def release(self, file: OpenFile) -> None:
        self.pipe.readers -= 1
        self.pipe.writers -= 1
        self.pipe.waitq.notify(select.POLLHUP | select.POLLERR | POLLIN | POLLOUT)


FIONREAD = 0x541B


def _pipe_ioctl(pipe: Pipe, request: int, arg: int, mem: GuestMemory) -> int:
    if request == FIONREAD:
        mem.write(arg, len(pipe.buf).to_bytes(4, "little"))
        return 0
    raise FsError(errno.ENOTTY)


class FifoWait(FsError):
    """A blocking FIFO open must wait for the other end: EAGAIN with the queue to park on."""

    def __init__(self, waitq: WaitQueue) -> None:
        super().__init__(errno.EAGAIN)
        self.waitq = waitq


def fifo_open(pipe: Pipe, flags: int, waiter: int = 0) -> FileOps:
    """fifo_open(): the ends a FIFO open gets. O_RDONLY|O_NONBLOCK never waits; O_WRONLY|O_NONBLOCK
    without a reader is ENXIO; blocking opens wait for a partner (FifoWait) and count as waiting, under
    ``waiter`` (the opener's identity, stable across the retries of one open), so that the partner's
    open does not wait in turn."""
    acc = flags & os.O_ACCMODE
    nonblock = flags & os.O_NONBLOCK
    if acc == os.O_RDONLY:
        if not nonblock and pipe.writers == 0 and not pipe.waiting_writers:
            pipe.waiting_readers.add(waiter)
            raise FifoWait(pipe.waitq)
        pipe.waiting_readers.discard(waiter)
        ops: FileOps = PipeReader(pipe)
    elif acc == os.O_WRONLY:
        if pipe.readers == 0 and not pipe.waiting_readers:
            if nonblock:
                raise FsError(errno.ENXIO)
            pipe.waiting_writers.add(waiter)
            raise FifoWait(pipe.waitq)
        pipe.waiting_writers.discard(waiter)
        ops = PipeWriter(pipe)
    else:
        ops = PipeDuplex(pipe)
    pipe.waitq.notify(POLLIN | POLLOUT)
    return ops
