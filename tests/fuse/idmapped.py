"""Linux's own id mapping as the oracle for `lxfs mount --uid-map/--gid-map`: an idmapped bind mount
(open_tree + mount_setattr(MOUNT_ATTR_IDMAP) + move_mount, Linux 5.12; tmpfs since 6.3) of a host
directory, with a user namespace whose uid_map/gid_map lines are "GUEST HOST COUNT"."""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442  # x86-64
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 4
_MOUNT_ATTR_IDMAP = 0x00100000
_CLONE_NEWUSER = 0x10000000


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _userns(uid_map: str, gid_map: str) -> int:
    """A descriptor of a new user namespace with these maps (made by a child that waits meanwhile)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(done_w)
        ok = _libc.unshare(_CLONE_NEWUSER) == 0
        os.write(ready_w, b"y" if ok else b"n")
        os.read(done_r, 1)
        os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"y":
            raise OSError("unshare(CLONE_NEWUSER) failed")
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(uid_map)
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(gid_map)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.write(done_w, b"x")
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def idmapped_mount(source: str, target: str, uid_map: list[str], gid_map: list[str]) -> None:
    """Mount ``source`` at ``target`` through the maps (each entry GUEST:HOST:COUNT, as lxfs takes them).
    Raises OSError where the kernel or the filesystem cannot."""
    ns = _userns(
        "".join(m.replace(":", " ") + "\n" for m in uid_map), "".join(m.replace(":", " ") + "\n" for m in gid_map)
    )
    try:
        tree = _check(
            _libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(source), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC)
        )
        try:
            attr = struct.pack("QQQQ", _MOUNT_ATTR_IDMAP, 0, 0, ns)  # struct mount_attr
            _check(_libc.syscall(_SYS_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH, attr, len(attr)))
            _check(_libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, os.fsencode(target), _MOVE_MOUNT_F_EMPTY_PATH))
        finally:
            os.close(tree)
    finally:
        os.close(ns)
