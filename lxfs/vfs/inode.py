"""Inode-level operations shared by the path calls (Namespace) and the fd calls (OpenFile): stat, chmod,
chown, utimens, truncate, xattrs and atime, each with Linux's permission and timestamp rules."""

from __future__ import annotations

import errno
import stat
import time
from typing import TYPE_CHECKING

from lxfs.linux import (
    MS_NOATIME,
    MS_NODIRATIME,
    MS_RDONLY,
    MS_STRICTATIME,
    UTIME_NOW,
    UTIME_OMIT,
    XATTR_NAME_MAX,
    XATTR_SIZE_MAX,
)
from lxfs.vfs import perm
from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import XATTR_CREATE, XATTR_REPLACE, Attr, SetAttr
from lxfs.vfs.stat import Stat

if TYPE_CHECKING:
    from lxfs.vfs.namespace import Location, Mount

now_ns = time.time_ns
_DAY_NS = 24 * 3600 * 10**9
Times = tuple[tuple[int, int], tuple[int, int]]  # ((atime sec, nsec), (mtime sec, nsec)) as timespec[2]


def want_write(mount: Mount) -> None:
    """mnt_want_write(): EROFS on a read-only mount or filesystem."""
    if mount.flags & MS_RDONLY or mount.fs.readonly:
        raise FsError(errno.EROFS)


def rofs_applies(mount: Mount, attr: Attr) -> bool:
    """inode_permission(MAY_WRITE): read-only applies to regular files, directories and symlinks."""
    return bool(mount.flags & MS_RDONLY or mount.fs.readonly) and stat.S_IFMT(attr.mode) in (
        stat.S_IFREG,
        stat.S_IFDIR,
        stat.S_IFLNK,
    )


def inode_permission(mount: Mount, attr: Attr, creds: Credentials, mask: int) -> None:
    if mask & perm.MAY_WRITE and rofs_applies(mount, attr):
        raise FsError(errno.EROFS)
    if not perm.permitted(attr, creds, mask):
        raise FsError(errno.EACCES)


def do_stat(loc: Location) -> Stat:
    return Stat.from_attr(loc.mount.fs.getattr(loc.ino), loc.mount.dev)


def touch_atime(loc: Location, attr: Attr) -> None:
    """touch_atime(): relatime updates atime when it is not newer than mtime/ctime or is a day old;
    strictatime always; noatime (and nodiratime for directories) never."""
    mount = loc.mount
    mflags = mount.flags
    if mflags & (MS_NOATIME | MS_RDONLY) or mount.fs.readonly:
        return
    if mflags & MS_NODIRATIME and stat.S_ISDIR(attr.mode):
        return
    atime = attr.atime_ns
    if atime > attr.mtime_ns and atime > attr.ctime_ns and not mflags & MS_STRICTATIME:
        now = now_ns()
        if now - atime < _DAY_NS:
            return
    else:
        now = now_ns()
    fs = mount.fs
    with fs.transaction():
        fs.setattr(loc.ino, SetAttr(atime_ns=now))


def do_chmod(creds: Credentials, loc: Location, mode: int) -> None:
    fs = loc.mount.fs
    attr = fs.getattr(loc.ino)
    want_write(loc.mount)
    new = perm.chmod_mode(attr, creds, mode)
    with fs.transaction():
        fs.setattr(loc.ino, SetAttr(mode=new, ctime_ns=now_ns()))


def do_chown(creds: Credentials, loc: Location, uid: int, gid: int) -> None:
    fs = loc.mount.fs
    attr = fs.getattr(loc.ino)
    want_write(loc.mount)
    uid = -1 if uid in (-1, 0xFFFFFFFF) else uid
    gid = -1 if gid in (-1, 0xFFFFFFFF) else gid
    perm.check_chown(attr, creds, uid, gid)
    changes = SetAttr(ctime_ns=now_ns())
    if uid != -1:
        changes.uid = uid
    if gid != -1:
        changes.gid = gid
    changes.mode = perm.chown_mode(attr, creds)
    if changes.mode is not None and not perm.is_owner(attr, creds):
        raise FsError(errno.EPERM)  # notify_change: clearing the bits is a mode change
    with fs.transaction():
        fs.setattr(loc.ino, changes)


def _valid_nsec(nsec: int) -> bool:
    return 0 <= nsec < 10**9 or nsec in (UTIME_NOW, UTIME_OMIT)


def check_times(times: Times | None) -> None:
    if times is not None and not (_valid_nsec(times[0][1]) and _valid_nsec(times[1][1])):
        raise FsError(errno.EINVAL)


def do_utimens(creds: Credentials, loc: Location, times: Times | None) -> None:
    """utimensat(2): setting both to now needs ownership or write permission; explicit times need
    ownership (EPERM); UTIME_OMIT leaves a time alone."""
    fs = loc.mount.fs
    attr = fs.getattr(loc.ino)
    if times is not None and times[0][1] == UTIME_OMIT and times[1][1] == UTIME_OMIT:
        return
    want_write(loc.mount)
    now = now_ns()
    changes = SetAttr(ctime_ns=now)
    if times is None or (times[0][1] == UTIME_NOW and times[1][1] == UTIME_NOW):
        if not perm.is_owner(attr, creds) and not perm.permitted(attr, creds, perm.MAY_WRITE):
            raise FsError(errno.EACCES)
        changes.atime_ns = changes.mtime_ns = now
    else:
        if not perm.is_owner(attr, creds):
            raise FsError(errno.EPERM)
        (asec, ansec), (msec, mnsec) = times
        if ansec != UTIME_OMIT:
            changes.atime_ns = now if ansec == UTIME_NOW else asec * 10**9 + ansec
        if mnsec != UTIME_OMIT:
            changes.mtime_ns = now if mnsec == UTIME_NOW else msec * 10**9 + mnsec
    with fs.transaction():
        fs.setattr(loc.ino, changes)


def do_truncate(creds: Credentials, loc: Location, attr: Attr, size: int, always_times: bool) -> None:
    """Set the size (holes when growing). truncate(2) changes times only when the size changes;
    ftruncate and O_TRUNC always do. Clears suid/sgid for a caller without CAP_FSETID."""
    if size < 0:
        raise FsError(errno.EINVAL)
    fs = loc.mount.fs
    changes = SetAttr(size=size)
    if always_times or size != attr.size:
        changes.mtime_ns = changes.ctime_ns = now_ns()
    changes.mode = perm.kill_privs_mode(attr, creds)
    if changes.mode is not None:
        changes.ctime_ns = changes.ctime_ns or now_ns()
    with fs.transaction():
        fs.setattr(loc.ino, changes)


# -- extended attributes (fs/xattr.c) --------------------------------------------------------------

_XATTR_PREFIXES = (b"user.", b"trusted.", b"security.")


def _check_xattr_name(name: bytes) -> None:
    if not name or len(name) > XATTR_NAME_MAX:
        raise FsError(errno.ERANGE)


def _xattr_permission(loc: Location, attr: Attr, creds: Credentials, name: bytes, mask: int) -> None:
    """xattr_permission(): namespace rules before the DAC check."""
    if mask & perm.MAY_WRITE and rofs_applies(loc.mount, attr):
        raise FsError(errno.EROFS)
    if name.startswith((b"security.", b"system.")):
        return
    if name.startswith(b"trusted."):
        if not creds.capable:
            raise FsError(errno.EPERM if mask & perm.MAY_WRITE else errno.ENODATA)
        return
    if name.startswith(b"user."):
        fmt = stat.S_IFMT(attr.mode)
        if fmt not in (stat.S_IFREG, stat.S_IFDIR):
            raise FsError(errno.EPERM if mask & perm.MAY_WRITE else errno.ENODATA)
        if (
            fmt == stat.S_IFDIR
            and attr.mode & stat.S_ISVTX
            and mask & perm.MAY_WRITE
            and not perm.is_owner(attr, creds)
        ):
            raise FsError(errno.EPERM)
    inode_permission(loc.mount, attr, creds, mask)


def _check_prefix(name: bytes) -> None:
    """xattr_resolve_name(): system.* (ACLs) and unknown namespaces have no handler; a bare prefix is
    EINVAL."""
    if not name.startswith(_XATTR_PREFIXES):
        raise FsError(errno.EOPNOTSUPP)
    if name in _XATTR_PREFIXES:
        raise FsError(errno.EINVAL)


def do_getxattr(creds: Credentials, loc: Location, name: bytes, size: int | None = None) -> bytes:
    """The value; with ``size`` (the caller's buffer, 0 = ask for the length) ERANGE when too small."""
    _check_xattr_name(name)
    fs = loc.mount.fs
    attr = fs.getattr(loc.ino)
    _xattr_permission(loc, attr, creds, name, perm.MAY_READ)
    _check_prefix(name)
    value = fs.getxattr(loc.ino, name)
    if size and len(value) > size:
        raise FsError(errno.ERANGE)
    return value


def do_setxattr(creds: Credentials, loc: Location, name: bytes, value: bytes, flags: int) -> None:
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise FsError(errno.EINVAL)
    _check_xattr_name(name)
    if len(value) > XATTR_SIZE_MAX:
        raise FsError(errno.E2BIG)
    fs = loc.mount.fs
    attr = fs.getattr(loc.ino)
    _xattr_permission(loc, attr, creds, name, perm.MAY_WRITE)
    if name.startswith(b"security.") and not creds.capable:
        raise FsError(errno.EPERM)  # cap_inode_setxattr
    _check_prefix(name)
    with fs.transaction():
        fs.setxattr(loc.ino, name, value, flags)
        fs.setattr(loc.ino, SetAttr(ctime_ns=now_ns()))


def do_removexattr(creds: Credentials, loc: Location, name: bytes) -> None:
    _check_xattr_name(name)
    fs = loc.mount.fs
    attr = fs.getattr(loc.ino)
    _xattr_permission(loc, attr, creds, name, perm.MAY_WRITE)
    if name.startswith(b"security.") and not creds.capable:
        raise FsError(errno.EPERM)
    _check_prefix(name)
    with fs.transaction():
        fs.removexattr(loc.ino, name)
        fs.setattr(loc.ino, SetAttr(ctime_ns=now_ns()))


def do_listxattr(creds: Credentials, loc: Location, size: int | None = None) -> list[bytes]:
    """Names visible to the caller (trusted.* only for CAP_SYS_ADMIN); with ``size`` ERANGE when the
    NUL-separated list does not fit."""
    names = loc.mount.fs.listxattr(loc.ino)
    if not creds.capable:
        names = [n for n in names if not n.startswith(b"trusted.")]
    if size and sum(len(n) + 1 for n in names) > size:
        raise FsError(errno.ERANGE)
    return names
