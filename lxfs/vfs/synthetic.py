"""SyntheticFs: the refusing defaults of a filesystem whose tree is generated rather than stored (procfs,
devpts): no names are created, removed or moved, there is no stored data or xattrs, nothing to sync,
and every call is its own transaction. Subclasses implement getattr, lookup, readdir, find_name and
open_file (and setattr/readlink where they have them)."""

from __future__ import annotations

import errno
import stat
from contextlib import AbstractContextManager, nullcontext

from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps, StatFs


class SyntheticFs:
    """Part of lxfs.vfs.interfaces.Filesystem for generated trees. ``add_errno`` is what adding a name
    gives (devpts: EPERM, simple_dir_inode_operations has no mkdir/mknod/symlink; procfs: ENOENT, its
    lookups never leave a negative dentry), ``create_errno`` the same for a regular file (vfs_create
    and lookup_open: EACCES without ->create), ``remove_errno`` what unlink, rmdir and rename give."""

    __slots__ = ()
    magic: int
    add_errno = errno.EPERM
    create_errno = errno.EACCES
    remove_errno = errno.EPERM

    def transaction(self) -> AbstractContextManager[None]:
        return nullcontext()

    def create(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, rdev: int, now_ns: int) -> int:
        raise FsError(self.create_errno if stat.S_ISREG(mode) else self.add_errno)

    def mkdir(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, now_ns: int) -> int:
        raise FsError(self.add_errno)

    def symlink(self, dir_ino: int, name: bytes, target: bytes, uid: int, gid: int, now_ns: int) -> int:
        raise FsError(self.add_errno)

    def link(self, ino: int, dir_ino: int, name: bytes) -> None:
        raise FsError(self.add_errno)

    def unlink(self, dir_ino: int, name: bytes) -> None:
        raise FsError(self.remove_errno)

    def rmdir(self, dir_ino: int, name: bytes) -> None:
        raise FsError(self.remove_errno)

    def rename(self, old_dir: int, old_name: bytes, new_dir: int, new_name: bytes, flags: int) -> None:
        raise FsError(self.remove_errno)

    def readlink(self, ino: int) -> bytes:
        raise FsError(errno.EINVAL)

    def read(self, ino: int, offset: int, size: int) -> bytes:
        raise FsError(errno.EINVAL)  # contents come from open_file's FileOps

    def write(self, ino: int, offset: int, data: bytes) -> None:
        raise FsError(errno.EINVAL)

    def fsync(self, ino: int, datasync: bool) -> None:
        return None

    def sync(self) -> None:
        return None

    def getxattr(self, ino: int, name: bytes) -> bytes:
        raise FsError(errno.EOPNOTSUPP)

    def setxattr(self, ino: int, name: bytes, value: bytes, flags: int) -> None:
        raise FsError(errno.EOPNOTSUPP)

    def listxattr(self, ino: int) -> list[bytes]:
        return []

    def removexattr(self, ino: int, name: bytes) -> None:
        raise FsError(errno.EOPNOTSUPP)

    def statfs(self) -> StatFs:
        return StatFs(self.magic, 4096, 0, 0, 0, 0, 0)

    def open_inode(self, ino: int) -> None:
        return None

    def release_inode(self, ino: int) -> None:
        return None

    def open_file(self, ino: int, flags: int) -> FileOps | None:
        return None
