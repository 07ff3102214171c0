"""GuestMemory for ioctl tests: buffers at chosen addresses; an address never written is EFAULT."""

from __future__ import annotations

import errno

from lxfs.vfs.errors import FsError


class Mem:
    def __init__(self, buffers: dict[int, bytes] | None = None) -> None:
        self.data: dict[int, bytes] = dict(buffers or {})

    def read(self, addr: int, size: int) -> bytes:
        if addr not in self.data:
            raise FsError(errno.EFAULT)
        return self.data[addr][:size]

    def write(self, addr: int, data: bytes) -> None:
        self.data[addr] = bytes(data)
