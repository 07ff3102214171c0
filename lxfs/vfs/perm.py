"""Permission rules of Linux's fs/namei.c and fs/attr.c: access checks, sticky directories, setgid
inheritance, suid/sgid clearing, chmod/chown/utimes ownership rules. Pure functions over Attr."""

from __future__ import annotations

import errno
import stat

from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import Attr

# include/linux/fs.h
MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4
MAY_APPEND = 8

_S_IXUGO = 0o111
_S_IFDIR = stat.S_IFDIR
_S_IFMT = 0o170000


def permitted(attr: Attr, creds: Credentials, mask: int) -> bool:
    """generic_permission(): owner/group/other bits, then root's overrides. ``mask`` is MAY_*."""
    mask &= 7
    mode = attr.mode
    if creds.fsuid == attr.uid:
        bits = mode >> 6
    elif creds.fsgid == attr.gid or attr.gid in creds.groups:
        bits = mode >> 3
    else:
        bits = mode
    if not mask & ~bits & 7:
        return True
    if creds.fsuid != 0:
        return False
    # CAP_DAC_OVERRIDE: everything on directories; on other files all but exec without any x bit
    return (mode & _S_IFMT) == _S_IFDIR or not mask & MAY_EXEC or bool(mode & _S_IXUGO)


def check_access(attr: Attr, creds: Credentials, mask: int) -> None:
    if not permitted(attr, creds, mask):
        raise FsError(errno.EACCES)


def is_owner(attr: Attr, creds: Credentials) -> bool:
    """inode_owner_or_capable(): the owner or CAP_FOWNER."""
    return creds.fsuid == attr.uid or creds.fsuid == 0


def sticky_denies(dir_attr: Attr, attr: Attr, creds: Credentials) -> bool:
    """check_sticky(): in a sticky directory only the file's owner, the directory's owner or root may
    delete or rename an entry."""
    if not dir_attr.mode & stat.S_ISVTX:
        return False
    return creds.fsuid not in (attr.uid, dir_attr.uid) and creds.fsuid != 0


def new_inode_owner(dir_attr: Attr, creds: Credentials, mode: int) -> tuple[int, int, int]:
    """inode_init_owner() + mode_strip_sgid(): (uid, gid, mode) of a new inode in ``dir_attr``.
    A setgid directory passes its group on, and S_ISGID to subdirectories."""
    gid = creds.fsgid
    if dir_attr.mode & stat.S_ISGID:
        gid = dir_attr.gid
        if stat.S_ISDIR(mode):
            mode |= stat.S_ISGID
        elif (
            mode & (stat.S_ISGID | stat.S_IXGRP) == (stat.S_ISGID | stat.S_IXGRP)
            and not creds.in_group(gid)
            and creds.fsuid != 0
        ):
            mode &= ~stat.S_ISGID
    return creds.fsuid, gid, mode


def kill_privs_mode(attr: Attr, creds: Credentials) -> int | None:
    """file_remove_privs() on write/truncate: the mode without suid (and sgid when group-executable)
    for a caller without CAP_FSETID, or None when nothing changes."""
    mode = attr.mode
    if not mode & (stat.S_ISUID | stat.S_ISGID) or creds.fsuid == 0 or not stat.S_ISREG(mode):
        return None
    new = mode & ~stat.S_ISUID
    if mode & stat.S_IXGRP:
        new &= ~stat.S_ISGID
    return None if new == mode else new & 0o7777


def chmod_mode(attr: Attr, creds: Credentials, mode: int) -> int:
    """The permission bits chmod stores: EPERM for a non-owner; S_ISGID dropped when the caller is not
    in the file's group (setattr_copy)."""
    if not is_owner(attr, creds):
        raise FsError(errno.EPERM)
    mode &= 0o7777
    if mode & stat.S_ISGID and creds.fsuid != 0 and not creds.in_group(attr.gid):
        mode &= ~stat.S_ISGID
    return mode


def check_chown(attr: Attr, creds: Credentials, uid: int, gid: int) -> None:
    """chown_ok()/chgrp_ok(): only root changes the owner; the owner may change the group to one of its
    own groups. -1 leaves a field unchanged."""
    if creds.fsuid == 0:
        return
    if uid != -1 and not (uid == attr.uid and creds.fsuid == attr.uid):
        raise FsError(errno.EPERM)
    if gid != -1 and not (creds.fsuid == attr.uid and (gid == attr.gid or creds.in_group(gid))):
        raise FsError(errno.EPERM)


def chown_mode(attr: Attr, creds: Credentials) -> int | None:
    """chown of a non-directory clears S_ISUID, and S_ISGID when group-executable (or when the caller
    may not keep it); None when the mode stays."""
    mode = attr.mode
    if stat.S_ISDIR(mode) or not mode & (stat.S_ISUID | stat.S_ISGID):
        return None
    new = mode & ~stat.S_ISUID
    if mode & stat.S_ISGID and (mode & stat.S_IXGRP or (creds.fsuid != 0 and not creds.in_group(attr.gid))):
        new &= ~stat.S_ISGID
    return None if new == mode else new & 0o7777
