"""The interfaces between the VFS and what sits below it: filesystems (inode operations), open-file
operations for synthetic files and devices, the device registry, and guest memory for ioctls.

Division of labour (as in Linux's fs/): the VFS owns every semantic rule -- path walk, permission checks,
existence and type checks, empty-directory checks, rename's error cases, timestamp updates, suid/sgid
clearing. A Filesystem only stores: each method below does exactly its structural change (dentries,
link counts, data) and trusts that the VFS checked the preconditions. The VFS wraps every
state-changing call in ``fs.transaction()`` so a syscall is one atomic, durable unit.
"""

from __future__ import annotations

import errno
import select
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from lxfs.vfs.errors import FsError
from lxfs.vfs.waitq import WaitQueue

if TYPE_CHECKING:
    from lxfs.vfs.file import OpenFile

# rename(2) flags (linux/fs.h)
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
RENAME_WHITEOUT = 4
# setxattr(2) flags (linux/xattr.h)
XATTR_CREATE = 1
XATTR_REPLACE = 2


@dataclass(slots=True)
class Attr:
    """An inode's attributes, as stat(2) shows them (the VFS adds st_dev from the mount)."""

    ino: int
    mode: int  # file type | permission bits (S_IFMT | 07777)
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    blocks: int = 0  # 512-byte units actually stored
    blksize: int = 4096


@dataclass(slots=True)
class SetAttr:
    """Attributes to change; None leaves a field as it is. A size change truncates or extends the data."""

    mode: int | None = None  # permission bits only (07777); the type never changes
    uid: int | None = None
    gid: int | None = None
    size: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None


@dataclass(slots=True)
class DirEntry:
    """One directory entry; ``offset`` is the cookie that resumes reading after this entry."""

    name: bytes
    ino: int
    dtype: int  # DT_* (stat.S_IFMT(mode) >> 12)
    offset: int


@dataclass(slots=True)
class StatFs:
    f_type: int
    f_bsize: int
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_files: int
    f_ffree: int
    f_namelen: int = 255
    f_frsize: int = 4096
    f_flags: int = 0


class Filesystem(Protocol):
    """Inode operations of one mounted filesystem. Inode numbers are the filesystem's own (``st_ino``).

    Every method raises FsError on failure. The VFS has already checked permissions, existence and types;
    a filesystem still raises what only it can know (ENOSPC, EROFS, EIO on corruption, ENOTEMPTY is the
    VFS's). ``now_ns`` arguments are the times the VFS chose for the new inode.
    """

    fs_type: str  # name in /proc/mounts: "volfs", "proc", "devtmpfs", "tmpfs", "devpts"
    magic: int  # statfs f_type
    root_ino: int
    readonly: bool

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic unit, committed (durably per DESIGN.md) when the outermost block exits cleanly and
        rolled back when it raises. Nested blocks join the outer one."""
        ...

    def getattr(self, ino: int) -> Attr: ...

    def setattr(self, ino: int, changes: SetAttr) -> None: ...

    def lookup(self, dir_ino: int, name: bytes) -> int | None:
        """The inode of ``name`` in directory ``dir_ino``, or None. ``..`` gives the parent (the root's
        parent is the root); the VFS never asks for ``.``. A filesystem without negative entries (procfs:
        proc_lookup_de returns -ENOENT) raises FsError(ENOENT) instead, so link, rename, mkdir... naming
        a new entry there fail with ENOENT before any other check, as in Linux."""
        ...

    def readdir(self, dir_ino: int, offset: int) -> Iterable[DirEntry]:
        """Entries after cookie ``offset`` (0: from the start, beginning with ``.`` and ``..``). Cookies
        stay valid while entries are added and removed (an entry is seen at most once)."""
        ...

    def find_name(self, dir_ino: int, ino: int) -> bytes | None:
        """A name under which ``ino`` appears in ``dir_ino`` (for getcwd and /proc paths), or None."""
        ...

    def create(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, rdev: int, now_ns: int) -> int:
        """A new non-directory inode (S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK in ``mode``) linked
        as ``name``; nlink 1, all three times ``now_ns``. Returns its ino."""
        ...

    def mkdir(self, dir_ino: int, name: bytes, mode: int, uid: int, gid: int, now_ns: int) -> int:
        """A new directory (nlink 2); the parent's nlink grows by one."""
        ...

    def symlink(self, dir_ino: int, name: bytes, target: bytes, uid: int, gid: int, now_ns: int) -> int: ...

    def link(self, ino: int, dir_ino: int, name: bytes) -> None:
        """A new name for a non-directory; nlink grows by one."""
        ...

    def unlink(self, dir_ino: int, name: bytes) -> None:
        """Remove a non-directory's name; nlink drops by one. At 0 the inode is freed, or kept as an
        orphan while open_inode references remain (freed at the last release_inode)."""
        ...

    def rmdir(self, dir_ino: int, name: bytes) -> None:
        """Remove an empty directory; the parent's nlink drops by one (kept as an orphan while open)."""
        ...

    def rename(self, old_dir: int, old_name: bytes, new_dir: int, new_name: bytes, flags: int) -> None:
        """Move a dentry. An existing target is replaced as unlink/rmdir would remove it; with
        RENAME_EXCHANGE the two are swapped. Directory '..' links and link counts are kept right."""
        ...

    def readlink(self, ino: int) -> bytes: ...

    def read(self, ino: int, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` of a regular file; short at EOF, holes read as zeros."""
        ...

    def write(self, ino: int, offset: int, data: bytes) -> None:
        """Store ``data`` at ``offset`` of a regular file, growing its size if it ends beyond it."""
        ...

    def fsync(self, ino: int, datasync: bool) -> None: ...

    def sync(self) -> None: ...

    def getxattr(self, ino: int, name: bytes) -> bytes:
        """The value, or FsError(ENODATA)."""
        ...

    def setxattr(self, ino: int, name: bytes, value: bytes, flags: int) -> None:
        """XATTR_CREATE: EEXIST if present; XATTR_REPLACE: ENODATA if absent."""
        ...

    def listxattr(self, ino: int) -> list[bytes]: ...

    def removexattr(self, ino: int, name: bytes) -> None: ...

    def statfs(self) -> StatFs: ...

    def open_inode(self, ino: int) -> None:
        """An open file description now refers to ``ino`` (keeps an unlinked inode alive)."""
        ...

    def release_inode(self, ino: int) -> None:
        """One open_inode reference ended; an inode with nlink 0 and no references is freed."""
        ...

    def open_file(self, ino: int, flags: int) -> FileOps | None:
        """Synthetic filesystems return the operations of the new open file (e.g. a /proc snapshot);
        stored files return None and the VFS uses read/write above."""
        ...


class GuestMemory(Protocol):
    """Access to the caller's memory for ioctls and similar; bad addresses raise FsError(EFAULT)."""

    def read(self, addr: int, size: int) -> bytes: ...

    def write(self, addr: int, data: bytes) -> None: ...


class FileOps:
    """Operations of an open file that is not plain stored data: synthetic files, devices, pipes,
    sockets, ttys (like Linux's file_operations). Subclasses override what they support.

    Blocking: an operation that would block raises FsError(EAGAIN). The caller (the emulator) then
    parks the task on ``waitq`` unless the file is O_NONBLOCK, and retries when notified; whoever makes
    the file ready calls ``waitq.notify(mask)``.
    """

    seekable = False
    # Reads and writes leave the position alone (drivers that never advance *ppos: mem.c's null, zero and
    # full, random.c); the VFS then keeps f_pos where llseek put it.
    keeps_pos = False

    def __init__(self) -> None:
        self.waitq = WaitQueue()

    def llseek(self, file: OpenFile, offset: int, whence: int) -> int:
        """lseek(2) on a seekable file (file_operations.llseek): the new position, which the VFS stores
        in ``file.pos``. ``whence`` is already one of SEEK_SET..SEEK_HOLE. The default is
        generic_file_llseek over ``size()``; devices override it (null_lseek: always 0)."""
        return file.generic_llseek(offset, whence)

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        raise FsError(errno.EINVAL)

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        raise FsError(errno.EINVAL)

    def size(self, file: OpenFile) -> int:
        """The size that SEEK_END counts from (seekable files)."""
        return 0

    def read_deadline(self) -> float | None:
        """When a read that raised EAGAIN must be retried even if nothing notifies ``waitq``
        (time.monotonic; a terminal's VTIME timer), or None."""
        return None

    def poll(self, file: OpenFile) -> int:
        """The events that would not block now (select.POLLIN, POLLOUT, POLLHUP, POLLERR ...)."""
        return select.POLLIN | select.POLLOUT

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        raise FsError(errno.ENOTTY)

    def release(self, file: OpenFile) -> None:
        """The last reference to the open file description went away."""


class DeviceRegistry(Protocol):
    """Opens character and block device nodes by (major, minor); implemented by devfs."""

    def open_device(self, kind: int, major: int, minor: int, flags: int) -> FileOps:
        """``kind`` is stat.S_IFCHR or S_IFBLK; an unknown device raises FsError(ENXIO)."""
        ...
