"""An image opened for the image tools: VolFs under a VFS Namespace, with root's credentials and umask
0. Every call is one VFS path call (the same semantics the emulator and FUSE get); paths are absolute
image paths and the final symlink is never followed."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from lxfs.linux import AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import OpenFile
from lxfs.vfs.interfaces import DirEntry
from lxfs.vfs.namespace import Namespace
from lxfs.vfs.stat import Stat
from lxfs.volfs.layout import CHUNK_SIZE
from lxfs.volfs.volfs import VolFs

_NS = 1_000_000_000
_NOFOLLOW_OPEN = os.O_NOFOLLOW | os.O_NOATIME | os.O_CLOEXEC


def _timespec(ns: int) -> tuple[int, int]:
    return divmod(ns, _NS)


class ImageFs:
    def __init__(self, volfs: VolFs) -> None:
        self.volfs = volfs
        self.ns = Namespace(volfs)
        self.ctx = self.ns.context(umask=0)
        self.chunk_size: int = getattr(getattr(volfs, "_store", None), "chunk_size", CHUNK_SIZE)
        self.op_count = 0  # state-changing calls made, to size transactions

    @classmethod
    def open(cls, path: str | os.PathLike[str], readonly: bool = False) -> ImageFs:
        """Raises volfs ImageError with a message for the user (VolFs.open leaves a file that is not an
        image untouched)."""
        return cls(VolFs.open(path, readonly=readonly))

    @classmethod
    def new_image(cls, path: str | os.PathLike[str]) -> ImageFs:
        return cls(VolFs.create_image(Path(path)))

    def close(self) -> None:
        self.volfs.close()

    def __enter__(self) -> ImageFs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        return self.volfs.transaction()

    # -- queries --------------------------------------------------------------------------------------

    def lstat(self, path: bytes) -> Stat | None:
        try:
            return self.ns.fstatat(self.ctx, None, path, AT_SYMLINK_NOFOLLOW)
        except FsError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):  # nothing there
                return None
            raise

    def real_dir(self, path: bytes) -> bytes | None:
        """The symlink-free path of the directory ``path`` names (following symlinks), or None."""
        try:
            loc, attr = self.ns.resolve(self.ctx, None, path, 0)
            if not stat.S_ISDIR(attr.mode):
                return None
            return self.ns.d_path(loc)
        except FsError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise

    def readlink(self, path: bytes) -> bytes:
        return self.ns.readlinkat(self.ctx, None, path)

    def xattrs(self, path: bytes) -> dict[bytes, bytes]:
        return {
            name: self.ns.getxattr(self.ctx, path, name, follow=False)
            for name in self.ns.listxattr(self.ctx, path, follow=False)
        }

    def listdir(self, path: bytes) -> list[bytes]:
        """Names in the directory at ``path`` (without ``.`` and ``..``)."""
        f = self.ns.openat(self.ctx, None, path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW_OPEN)
        names: list[bytes] = []
        try:
            while True:
                batch: list[DirEntry] = f.getdents(1 << 16)
                if not batch:
                    break
                names.extend(e.name for e in batch if e.name not in (b".", b".."))
        finally:
            f.close()
        return names

    @contextmanager
    def reading(self, path: bytes) -> Iterator[OpenFile]:
        f = self.ns.openat(self.ctx, None, path, os.O_RDONLY | _NOFOLLOW_OPEN)
        try:
            yield f
        finally:
            f.close()

    # -- changes --------------------------------------------------------------------------------------

    def mkdir(self, path: bytes, mode: int) -> None:
        self.op_count += 1
        self.ns.mkdirat(self.ctx, None, path, mode)

    def mknod(self, path: bytes, mode: int, rdev: int) -> None:
        self.op_count += 1
        self.ns.mknodat(self.ctx, None, path, mode, rdev)

    def symlink(self, target: bytes, path: bytes) -> None:
        self.op_count += 1
        self.ns.symlinkat(self.ctx, target, None, path)

    def link(self, existing: bytes, path: bytes) -> None:
        self.op_count += 1
        self.ns.linkat(self.ctx, None, existing, None, path, 0)

    def unlink(self, path: bytes) -> None:
        self.op_count += 1
        self.ns.unlinkat(self.ctx, None, path, 0)

    def rmdir(self, path: bytes) -> None:
        self.op_count += 1
        self.ns.unlinkat(self.ctx, None, path, AT_REMOVEDIR)

    def create_file(self, path: bytes, mode: int) -> OpenFile:
        """A new regular file, open for writing (EEXIST if the name exists)."""
        self.op_count += 1
        return self.ns.openat(
            self.ctx, None, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode
        )

    def write(self, f: OpenFile, offset: int, data: bytes | memoryview) -> None:
        self.op_count += 1
        f.pwrite(bytes(data), offset, self.ctx.creds)

    def truncate(self, f: OpenFile, size: int) -> None:
        self.op_count += 1
        f.truncate(size, self.ctx.creds)

    def close_file(self, f: OpenFile) -> None:
        f.close()

    def lchown(self, path: bytes, uid: int, gid: int) -> None:
        self.op_count += 1
        self.ns.fchownat(self.ctx, None, path, uid, gid, AT_SYMLINK_NOFOLLOW)

    def chmod(self, path: bytes, mode: int) -> None:
        self.op_count += 1
        self.ns.fchmodat(self.ctx, None, path, mode, 0)

    def lsetxattr(self, path: bytes, name: bytes, value: bytes) -> None:
        self.op_count += 1
        self.ns.setxattr(self.ctx, path, name, value, 0, follow=False)

    def lutimens(self, path: bytes, atime_ns: int, mtime_ns: int) -> None:
        self.op_count += 1
        self.ns.utimensat(self.ctx, None, path, (_timespec(atime_ns), _timespec(mtime_ns)), AT_SYMLINK_NOFOLLOW)
