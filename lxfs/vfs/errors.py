"""FsError: the one exception that carries a Linux errno from anywhere below the syscall layer."""

from __future__ import annotations

import errno
import os


class FsError(OSError):
    """An operation failed with a Linux errno (converted to -errno for a guest, a FUSE error on the host)."""

    def __init__(self, err: int, message: str | None = None) -> None:
        super().__init__(err, message or os.strerror(err))

    def __repr__(self) -> str:
        return f"FsError({errno.errorcode.get(self.errno or 0, self.errno)}, {self.strerror!r})"
