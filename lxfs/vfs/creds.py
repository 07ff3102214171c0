"""Credentials of a task and its filesystem context (Linux's struct cred + fs_struct + umask)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxfs.vfs.namespace import Location


@dataclass(slots=True)
class Credentials:
    """A task's ids. Permission checks use fsuid/fsgid (like Linux); fsuid 0 holds the filesystem
    capabilities (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_CHOWN, CAP_MKNOD),
    euid 0 the others (CAP_SYS_ADMIN, CAP_SYS_CHROOT)."""

    uid: int = 0
    gid: int = 0
    euid: int = 0
    egid: int = 0
    suid: int = 0
    sgid: int = 0
    fsuid: int = 0
    fsgid: int = 0
    groups: tuple[int, ...] = ()

    @classmethod
    def root(cls) -> Credentials:
        return cls()

    @classmethod
    def user(cls, uid: int, gid: int, groups: tuple[int, ...] = ()) -> Credentials:
        """All ids set to uid/gid, as after login."""
        return cls(uid, gid, uid, gid, uid, gid, uid, gid, tuple(groups))

    def in_group(self, gid: int) -> bool:
        """Linux in_group_p: the fsgid or a supplementary group."""
        return gid == self.fsgid or gid in self.groups

    @property
    def fs_capable(self) -> bool:
        """Holds the filesystem capabilities (CAP_FS_MASK), which follow fsuid."""
        return self.fsuid == 0

    @property
    def capable(self) -> bool:
        """Holds the other capabilities (CAP_SYS_ADMIN, CAP_SYS_CHROOT ...), which follow euid."""
        return self.euid == 0

    def copy(self) -> Credentials:
        return replace(self)

    def for_access(self) -> Credentials:
        """access(2)/faccessat without AT_EACCESS checks with the real ids (and root's powers only for
        real uid 0)."""
        return replace(self, fsuid=self.uid, fsgid=self.gid, euid=self.uid)


def _hold(loc: Location) -> None:
    """Pin the inode (and keep its mount busy for umount), like a path_get()."""
    fs = loc.mount.fs
    with fs.transaction():
        fs.open_inode(loc.ino)
    loc.mount.open_files += 1


def _drop(loc: Location) -> None:
    loc.mount.open_files -= 1
    fs = loc.mount.fs
    with fs.transaction():
        fs.release_inode(loc.ino)


class FsContext:
    """Per-task filesystem state: credentials, root (chroot), working directory, umask. Threads
    sharing CLONE_FS share the object; ``copy()`` is fork's copy.

    The root and cwd hold inode references (a removed working directory stays statable, as on Linux):
    change them through ``set_cwd``/``set_root`` and call ``release()`` when the task exits."""

    __slots__ = ("_cwd", "_root", "creds", "umask")

    def __init__(self, creds: Credentials, root: Location, cwd: Location, umask: int = 0o022) -> None:
        self.creds = creds
        self.umask = umask
        self._root = root
        self._cwd = cwd
        _hold(root)
        _hold(cwd)

    @property
    def root(self) -> Location:
        return self._root

    @root.setter
    def root(self, loc: Location) -> None:
        self.set_root(loc)

    @property
    def cwd(self) -> Location:
        return self._cwd

    @cwd.setter
    def cwd(self, loc: Location) -> None:
        self.set_cwd(loc)

    def set_cwd(self, loc: Location) -> None:
        _hold(loc)
        old, self._cwd = self._cwd, loc
        _drop(old)

    def set_root(self, loc: Location) -> None:
        _hold(loc)
        old, self._root = self._root, loc
        _drop(old)

    def copy(self) -> FsContext:
        return FsContext(self.creds.copy(), self._root, self._cwd, self.umask)

    def with_creds(self, creds: Credentials) -> FsContext:
        """A context for one call with other credentials (access(2)); it holds no references."""
        ctx = object.__new__(FsContext)
        ctx.creds, ctx.umask, ctx._root, ctx._cwd = creds, self.umask, self._root, self._cwd
        return ctx

    def release(self) -> None:
        """The task exits (or unshares): drop the references to root and cwd."""
        _drop(self._root)
        _drop(self._cwd)

    def __repr__(self) -> str:
        return f"FsContext(creds={self.creds!r}, root={self._root!r}, cwd={self._cwd!r}, umask={self.umask:#o})"
