"""Differential testing: one scenario runs on the host kernel (os.* in a temp directory, in a forked
child so it may drop privileges) and through the lxfs VFS API; the transcripts must match exactly.

A scenario is a function of one argument ``s`` (a ``Sys``) calling os-like methods with paths
relative to the test directory. Each call's result is recorded as ("ok", value) or ("err", ERRNO).
Stat results are compared field by field except st_dev/st_blksize/st_blocks and st_size of
directories, which are filesystem-specific (on the TmpFs backend, which mimics tmpfs, those two are
compared too); inode numbers are compared by identity (two stats that show the
same inode on the host show the same inode on lxfs) and timestamps by order: for every pair of stats of
one inode, each of a/m/ctime compares (<, =, >) to each other the same way on both sides. The host
sleeps a clock tick before each call so that distinct calls get distinct times.

Backends for the lxfs side: TmpFs, and VolFs when lxfs.volfs.volfs imports (fsck-checked afterwards).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import pickle
import shutil
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lxfs.linux import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_NOFOLLOW,
    MS_RDONLY,
    UTIME_NOW,
    UTIME_OMIT,
)
from lxfs.tmpfs import TmpFs
from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import FdTable
from lxfs.vfs.namespace import Namespace
from lxfs.vfs.stat import Stat

try:
    from lxfs.volfs.volfs import VolFs
except Exception:  # not written yet (or mid-edit in the shared tree)
    VolFs = None  # type: ignore[assignment,misc]

try:
    from lxfs.volfs import fsck as volfs_fsck
except Exception:
    volfs_fsck = None  # type: ignore[assignment]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
SYS_getdents64 = 217
SYS_renameat2 = 316
SYS_fchmodat2 = 452
TICK = 0.0085  # two ticks of CLOCK_REALTIME_COARSE (4 ms): one is not always enough under load
HOST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

Path_ = str | bytes


def _b(p: Path_) -> bytes:
    return p if isinstance(p, bytes) else p.encode()


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _host_check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


@dataclass
class Recorded:
    """One call's outcome; ``stat`` holds the raw stat (for the identity and time relations)."""

    call: str
    result: tuple[str, Any]
    stat: tuple[int, int, int, int] | None = None  # (ino, atime, mtime, ctime)


@dataclass
class Transcript:
    calls: list[Recorded] = field(default_factory=list)


def _norm_stat(st: Any, tmpfs_exact: bool = False) -> dict[str, int]:
    out = {
        "type": stat.S_IFMT(st.st_mode),
        "mode": stat.S_IMODE(st.st_mode),
        "nlink": st.st_nlink,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "rdev": st.st_rdev,
    }
    if tmpfs_exact or not stat.S_ISDIR(st.st_mode):
        out["size"] = st.st_size
    if tmpfs_exact and not stat.S_ISLNK(st.st_mode):
        out["blocks"] = st.st_blocks
    return out


def _tree_entry(path: bytes, st: Any, content: bytes | None) -> tuple[Any, ...]:
    size = None if stat.S_ISDIR(st.st_mode) else st.st_size
    return (path, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_nlink, size, content)


class Sys:
    """The os-like calls a scenario may make. Handles (from ``open``) are small integers that the
    harness maps to the backend's fds; failed opens give a handle that is EBADF everywhere."""

    tmpfs_exact = False  # also compare directory sizes and st_blocks (TmpFs mimics tmpfs there)

    def __init__(self) -> None:
        self.transcript = Transcript()
        self._handles: list[Any] = []

    # The backend implements these with the "_" prefix; the public names record.
    def __getattr__(self, name: str) -> Callable[..., Any]:
        impl = getattr(self, "_" + name, None)
        if impl is None:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._record(name, impl, args, kwargs)

        return call

    def _pre(self) -> None:
        pass

    def _record(self, name: str, impl: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._pre()
        desc = f"{name}{args!r}" + (f" {kwargs!r}" if kwargs else "")
        raw = None
        try:
            value = impl(*args, **kwargs)
        except OSError as exc:
            result: tuple[str, Any] = ("err", errno.errorcode.get(exc.errno or 0, exc.errno))
            value = None
        else:
            if name in ("open", "pipe", "dup"):
                if isinstance(value, tuple):
                    ids = []
                    for v in value:
                        self._handles.append(v)
                        ids.append(len(self._handles) - 1)
                    value = tuple(ids)
                    result = ("ok", "fds")
                else:
                    self._handles.append(value)
                    value = len(self._handles) - 1
                    result = ("ok", "fd")
            elif isinstance(value, (os.stat_result, Stat)):
                raw = (value.st_ino, value.st_atime_ns, value.st_mtime_ns, value.st_ctime_ns)
                result = ("ok", _norm_stat(value, self.tmpfs_exact))
            else:
                result = ("ok", value)
        self.transcript.calls.append(Recorded(desc, result, raw))
        if name == "open" and value is None:
            self._handles.append(None)
            return len(self._handles) - 1
        return value

    def fd(self, h: int) -> Any:
        v = self._handles[h] if 0 <= h < len(self._handles) else None
        if v is None:
            raise OSError(errno.EBADF, "bad handle")
        return v

    def note(self, label: str, value: Any) -> None:
        """Record a value computed by the scenario itself (compared like a call's result)."""
        self.transcript.calls.append(Recorded(f"note {label}", ("ok", value)))


class HostSys(Sys):
    """The host kernel, relative to a directory fd."""

    def __init__(self, base: str, tick: float = TICK) -> None:
        super().__init__()
        self.base = base
        self.tick = tick
        self.dfd = AT_FDCWD  # relative paths start at the cwd, as on lxfs (dirf None)
        os.chdir(base)

    def _pre(self) -> None:
        if self.tick:
            time.sleep(self.tick)

    def _at(self, path: Path_, dirh: int | None) -> tuple[int, bytes]:
        return (self.fd(dirh) if dirh is not None else self.dfd), _b(path)

    def _become(self, uid: int, gid: int, groups: tuple[int, ...] = ()) -> None:
        # the saved set-user-ID stays 0, so that a scenario may become root again (to inspect)
        if os.geteuid() != 0:
            os.setresuid(-1, 0, -1)
        os.setgroups(list(groups))
        os.setresgid(gid, gid, 0)
        os.setresuid(uid, uid, 0)

    def _umask(self, mask: int) -> int:
        return os.umask(mask)

    def _become_ids(self, ruid: int, euid: int, rgid: int, egid: int) -> None:
        """Different real and effective ids (a set-id program); fsuid/fsgid follow the effective."""
        if os.geteuid() != 0:
            os.setresuid(-1, 0, -1)
        os.setgroups([])
        os.setresgid(rgid, egid, 0)
        os.setresuid(ruid, euid, 0)

    def _open(self, path: Path_, flags: int, mode: int = 0o666, dir: int | None = None) -> int:
        dfd, p = self._at(path, dir)
        return os.open(p, flags, mode, dir_fd=dfd)

    def _close(self, h: int) -> None:
        os.close(self.fd(h))
        self._handles[h] = None

    def _read(self, h: int, n: int) -> bytes:
        return os.read(self.fd(h), n)

    def _write(self, h: int, data: bytes) -> int:
        return os.write(self.fd(h), data)

    def _pread(self, h: int, n: int, off: int) -> bytes:
        return os.pread(self.fd(h), n, off)

    def _pwrite(self, h: int, data: bytes, off: int) -> int:
        return os.pwrite(self.fd(h), data, off)

    def _lseek(self, h: int, off: int, whence: int) -> int:
        return os.lseek(self.fd(h), off, whence)

    def _fstat(self, h: int) -> os.stat_result:
        return os.fstat(self.fd(h))

    def _ftruncate(self, h: int, n: int) -> None:
        os.ftruncate(self.fd(h), n)

    def _fsync(self, h: int) -> None:
        os.fsync(self.fd(h))

    def _fchmod(self, h: int, mode: int) -> None:
        os.fchmod(self.fd(h), mode)

    def _fchown(self, h: int, uid: int, gid: int) -> None:
        os.fchown(self.fd(h), uid, gid)

    def _getfl(self, h: int) -> int:
        return fcntl.fcntl(self.fd(h), fcntl.F_GETFL)

    def _setfl(self, h: int, flags: int) -> None:
        fcntl.fcntl(self.fd(h), fcntl.F_SETFL, flags)

    def _getdents(self, h: int, size: int = 4096) -> list[bytes]:
        buf = ctypes.create_string_buffer(size)
        n = _host_check(_libc.syscall(SYS_getdents64, self.fd(h), buf, size))
        names, pos = [], 0
        while pos < n:
            reclen = struct.unpack_from("<H", buf.raw, pos + 16)[0]
            name = buf.raw[pos + 19 : pos + reclen].split(b"\0", 1)[0]
            names.append(name)
            pos += reclen
        return names

    def _stat(self, path: Path_, dir: int | None = None) -> os.stat_result:
        dfd, p = self._at(path, dir)
        return os.stat(p, dir_fd=dfd)

    def _lstat(self, path: Path_) -> os.stat_result:
        return os.stat(_b(path), dir_fd=self.dfd, follow_symlinks=False)

    def _fstatat(self, h: int | None, path: Path_, flags: int) -> os.stat_result:
        if not path and flags & AT_EMPTY_PATH:
            return os.fstat(self.fd(h) if h is not None else self.dfd)
        return os.stat(
            _b(path), dir_fd=self.fd(h) if h is not None else self.dfd, follow_symlinks=not flags & AT_SYMLINK_NOFOLLOW
        )

    def _mkdir(self, path: Path_, mode: int = 0o777) -> None:
        os.mkdir(_b(path), mode, dir_fd=self.dfd)

    def _rmdir(self, path: Path_) -> None:
        os.rmdir(_b(path), dir_fd=self.dfd)

    def _unlink(self, path: Path_) -> None:
        os.unlink(_b(path), dir_fd=self.dfd)

    def _unlinkat(self, path: Path_, flags: int) -> None:
        _host_check(_libc.unlinkat(self.dfd, _b(path), flags))

    def _mknod(self, path: Path_, mode: int, dev: int = 0) -> None:
        os.mknod(_b(path), mode, dev, dir_fd=self.dfd)

    def _symlink(self, target: Path_, path: Path_) -> None:
        os.symlink(_b(target), _b(path), dir_fd=self.dfd)

    def _readlink(self, path: Path_) -> bytes:
        return os.readlink(_b(path), dir_fd=self.dfd)

    def _link(self, old: Path_, new: Path_, follow: bool = False) -> None:
        # not os.link: with default dir fds it calls link(2), which never follows
        _host_check(_libc.linkat(self.dfd, _b(old), self.dfd, _b(new), 0x400 if follow else 0))

    def _link_fd(self, h: int, new: Path_) -> None:
        _host_check(_libc.linkat(self.fd(h), b"", self.dfd, _b(new), AT_EMPTY_PATH))

    def _rename(self, old: Path_, new: Path_, flags: int = 0) -> None:
        _host_check(_libc.syscall(SYS_renameat2, self.dfd, _b(old), self.dfd, _b(new), flags))

    def _chmod(self, path: Path_, mode: int, nofollow: bool = False) -> None:
        flags = AT_SYMLINK_NOFOLLOW if nofollow else 0
        _host_check(_libc.syscall(SYS_fchmodat2, self.dfd, _b(path), mode, flags))

    def _chown(self, path: Path_, uid: int, gid: int, nofollow: bool = False) -> None:
        os.chown(_b(path), uid, gid, dir_fd=self.dfd, follow_symlinks=not nofollow)

    def _utimens(self, path: Path_ | None, times: Any = None, flags: int = 0, h: int | None = None) -> None:
        arr = None
        if times is not None:
            arr = (_Timespec * 2)(_Timespec(*times[0]), _Timespec(*times[1]))
        if path is None:
            _host_check(_libc.utimensat(self.fd(h), None, arr, 0))
        else:
            _host_check(_libc.utimensat(self.dfd, _b(path), arr, flags))

    def _access(self, path: Path_, mode: int, flags: int = 0) -> bool:
        _host_check(_libc.faccessat(self.dfd, _b(path), mode, flags))
        return True

    def _truncate(self, path: Path_, n: int) -> None:
        os.truncate(_b(path), n)  # relative to the cwd (= base)

    def _chdir(self, path: Path_) -> None:
        os.chdir(_b(path))

    def _getcwd(self) -> bytes:
        cwd = os.getcwdb()
        base = self.base.encode()
        return b"/" + cwd[len(base) :].lstrip(b"/") if cwd.startswith(base) else cwd

    def _listdir(self, path: Path_ = ".") -> list[bytes]:
        return sorted(os.listdir(_b(path)))

    def _getxattr(self, path: Path_, name: Path_, follow: bool = True) -> bytes:
        return os.getxattr(_b(path), _b(name), follow_symlinks=follow)

    def _setxattr(self, path: Path_, name: Path_, value: bytes, flags: int = 0, follow: bool = True) -> None:
        os.setxattr(_b(path), _b(name), value, flags, follow_symlinks=follow)

    def _listxattr(self, path: Path_, follow: bool = True) -> list[bytes]:
        return sorted(n.encode() for n in os.listxattr(_b(path), follow_symlinks=follow))

    def _removexattr(self, path: Path_, name: Path_, follow: bool = True) -> None:
        os.removexattr(_b(path), _b(name), follow_symlinks=follow)

    def _pipe(self) -> tuple[int, int]:
        return os.pipe()

    def _mount_tmpfs(self, path: Path_, ro: bool = False) -> None:
        _host_check(_libc.mount(b"none", _b(path), b"tmpfs", 1 if ro else 0, b"mode=755"))

    def _umount(self, path: Path_) -> None:
        _host_check(_libc.umount2(_b(path), 0))

    def _dir_types(self, h: int) -> list[tuple[bytes, int]]:
        """(name, d_type) of every entry, sorted (entry order is the filesystem's)."""
        buf = ctypes.create_string_buffer(65536)
        out, pos = [], 0
        n = _host_check(_libc.syscall(SYS_getdents64, self.fd(h), buf, 65536))
        while pos < n:
            reclen = struct.unpack_from("<H", buf.raw, pos + 16)[0]
            out.append((buf.raw[pos + 19 : pos + reclen].split(b"\0", 1)[0], buf.raw[pos + 18]))
            pos += reclen
        return sorted(out)

    def _dots_same(self, h: int) -> bool:
        """Whether getdents reports '.' and '..' with the same inode number."""
        buf = ctypes.create_string_buffer(4096)
        n = _host_check(_libc.syscall(SYS_getdents64, self.fd(h), buf, 4096))
        inos, pos = {}, 0
        while pos < n:
            reclen = struct.unpack_from("<H", buf.raw, pos + 16)[0]
            inos[buf.raw[pos + 19 : pos + reclen].split(b"\0", 1)[0]] = struct.unpack_from("<Q", buf.raw, pos)[0]
            pos += reclen
        return inos[b"."] == inos[b".."]

    def _tree(self) -> list[tuple[Any, ...]]:
        out = []
        for dirpath, dirnames, filenames in os.walk(b".", followlinks=False):
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)[2:]
                st = os.lstat(path)
                out.append(_tree_entry(path, st, self._content(path, st)))
        return sorted(out)

    @staticmethod
    def _content(path: bytes, st: os.stat_result) -> bytes | None:
        if stat.S_ISLNK(st.st_mode):
            return os.readlink(path)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o400:
            with open(path, "rb") as f:
                return f.read()
        return None

    def _dup(self, h: int) -> int:
        return os.dup(self.fd(h))


class LxfsSys(Sys):
    """The lxfs VFS API on a Namespace whose root is the test directory."""

    def __init__(self, ns: Namespace) -> None:
        super().__init__()
        self.ns = ns
        self.ctx = ns.context(umask=0o022)
        self.fds = FdTable()

    def _dirf(self, h: int | None) -> Any:
        return None if h is None else self.fds.get(self.fd(h))

    def _become(self, uid: int, gid: int, groups: tuple[int, ...] = ()) -> None:
        self.ctx.creds = Credentials.user(uid, gid, tuple(groups))

    def _umask(self, mask: int) -> int:
        old, self.ctx.umask = self.ctx.umask, mask & 0o777
        return old

    def _become_ids(self, ruid: int, euid: int, rgid: int, egid: int) -> None:
        self.ctx.creds = Credentials(ruid, rgid, euid, egid, 0, 0, euid, egid, ())

    def _open(self, path: Path_, flags: int, mode: int = 0o666, dir: int | None = None) -> int:
        file = self.ns.openat(self.ctx, self._dirf(dir), _b(path), flags, mode)
        return self.fds.install(file, bool(flags & os.O_CLOEXEC))

    def _file(self, h: int) -> Any:
        return self.fds.get(self.fd(h))

    def _close(self, h: int) -> None:
        self.fds.close(self.fd(h))
        self._handles[h] = None

    def _read(self, h: int, n: int) -> bytes:
        return self._file(h).read(n)

    def _write(self, h: int, data: bytes) -> int:
        return self._file(h).write(data, self.ctx.creds)

    def _pread(self, h: int, n: int, off: int) -> bytes:
        return self._file(h).pread(n, off)

    def _pwrite(self, h: int, data: bytes, off: int) -> int:
        return self._file(h).pwrite(data, off, self.ctx.creds)

    def _lseek(self, h: int, off: int, whence: int) -> int:
        return self._file(h).lseek(off, whence)

    def _fstat(self, h: int) -> Stat:
        return self._file(h).stat()

    def _ftruncate(self, h: int, n: int) -> None:
        self._file(h).truncate(n, self.ctx.creds)

    def _fsync(self, h: int) -> None:
        self._file(h).fsync(False)

    def _fchmod(self, h: int, mode: int) -> None:
        self._file(h).fchmod(self.ctx.creds, mode)

    def _fchown(self, h: int, uid: int, gid: int) -> None:
        self._file(h).fchown(self.ctx.creds, uid, gid)

    def _getfl(self, h: int) -> int:
        return self._file(h).getfl()

    def _setfl(self, h: int, flags: int) -> None:
        self._file(h).setfl(flags)

    def _getdents(self, h: int, size: int = 4096) -> list[bytes]:
        return [e.name for e in self._file(h).getdents(size)]

    def _stat(self, path: Path_, dir: int | None = None) -> Stat:
        return self.ns.fstatat(self.ctx, self._dirf(dir), _b(path), 0)

    def _lstat(self, path: Path_) -> Stat:
        return self.ns.fstatat(self.ctx, None, _b(path), AT_SYMLINK_NOFOLLOW)

    def _fstatat(self, h: int | None, path: Path_, flags: int) -> Stat:
        return self.ns.fstatat(self.ctx, self._dirf(h), _b(path), flags)

    def _mkdir(self, path: Path_, mode: int = 0o777) -> None:
        self.ns.mkdirat(self.ctx, None, _b(path), mode)

    def _rmdir(self, path: Path_) -> None:
        self.ns.unlinkat(self.ctx, None, _b(path), AT_REMOVEDIR)

    def _unlink(self, path: Path_) -> None:
        self.ns.unlinkat(self.ctx, None, _b(path), 0)

    def _unlinkat(self, path: Path_, flags: int) -> None:
        self.ns.unlinkat(self.ctx, None, _b(path), flags)

    def _mknod(self, path: Path_, mode: int, dev: int = 0) -> None:
        self.ns.mknodat(self.ctx, None, _b(path), mode, dev)

    def _symlink(self, target: Path_, path: Path_) -> None:
        self.ns.symlinkat(self.ctx, _b(target), None, _b(path))

    def _readlink(self, path: Path_) -> bytes:
        return self.ns.readlinkat(self.ctx, None, _b(path))

    def _link(self, old: Path_, new: Path_, follow: bool = False) -> None:
        self.ns.linkat(self.ctx, None, _b(old), None, _b(new), 0x400 if follow else 0)

    def _link_fd(self, h: int, new: Path_) -> None:
        self.ns.linkat(self.ctx, self._file(h), b"", None, _b(new), AT_EMPTY_PATH)

    def _rename(self, old: Path_, new: Path_, flags: int = 0) -> None:
        self.ns.renameat2(self.ctx, None, _b(old), None, _b(new), flags)

    def _chmod(self, path: Path_, mode: int, nofollow: bool = False) -> None:
        self.ns.fchmodat(self.ctx, None, _b(path), mode, AT_SYMLINK_NOFOLLOW if nofollow else 0)

    def _chown(self, path: Path_, uid: int, gid: int, nofollow: bool = False) -> None:
        self.ns.fchownat(self.ctx, None, _b(path), uid, gid, AT_SYMLINK_NOFOLLOW if nofollow else 0)

    def _utimens(self, path: Path_ | None, times: Any = None, flags: int = 0, h: int | None = None) -> None:
        if path is None:
            self._file(h).futimens(self.ctx.creds, times)  # type: ignore[arg-type]
        else:
            self.ns.utimensat(self.ctx, None, _b(path), times, flags)

    def _access(self, path: Path_, mode: int, flags: int = 0) -> bool:
        self.ns.faccessat(self.ctx, None, _b(path), mode, flags)
        return True

    def _truncate(self, path: Path_, n: int) -> None:
        self.ns.truncate(self.ctx, _b(path), n)

    def _chdir(self, path: Path_) -> None:
        self.ns.chdir(self.ctx, _b(path))

    def _getcwd(self) -> bytes:
        return self.ns.getcwd(self.ctx)

    def _listdir(self, path: Path_ = ".") -> list[bytes]:
        file = self.ns.openat(self.ctx, None, _b(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            names = []
            try:
                while batch := file.getdents(4096):
                    names += [e.name for e in batch if e.name not in (b".", b"..")]
            except FsError as exc:
                if exc.errno != errno.ENOENT:  # glibc's readdir ends a removed directory quietly
                    raise
            return sorted(names)
        finally:
            file.close()

    def _getxattr(self, path: Path_, name: Path_, follow: bool = True) -> bytes:
        return self.ns.getxattr(self.ctx, _b(path), _b(name), follow)

    def _setxattr(self, path: Path_, name: Path_, value: bytes, flags: int = 0, follow: bool = True) -> None:
        self.ns.setxattr(self.ctx, _b(path), _b(name), value, flags, follow)

    def _listxattr(self, path: Path_, follow: bool = True) -> list[bytes]:
        return sorted(self.ns.listxattr(self.ctx, _b(path), follow))

    def _removexattr(self, path: Path_, name: Path_, follow: bool = True) -> None:
        self.ns.removexattr(self.ctx, _b(path), _b(name), follow)

    def _pipe(self) -> tuple[int, int]:
        r, w = self.ns.pipe(self.ctx)
        return self.fds.install(r), self.fds.install(w)

    def _mount_tmpfs(self, path: Path_, ro: bool = False) -> None:
        self.ns.mount(self.ctx, _b(path), TmpFs(mode=0o755), MS_RDONLY if ro else 0, b"none")

    def _umount(self, path: Path_) -> None:
        self.ns.umount(self.ctx, _b(path))

    def _dir_types(self, h: int) -> list[tuple[bytes, int]]:
        return sorted((e.name, e.dtype) for e in self._file(h).getdents(65536))

    def _dots_same(self, h: int) -> bool:
        inos = {e.name: e.ino for e in self._file(h).getdents(4096)}
        return inos[b"."] == inos[b".."]

    def _tree(self) -> list[tuple[Any, ...]]:
        out = []
        stack = [b""]
        while stack:
            d = stack.pop()
            for name in self._listdir(d or b"."):
                path = d + b"/" + name if d else name
                st = self.ns.fstatat(self.ctx, None, path, AT_SYMLINK_NOFOLLOW)
                content = None
                if stat.S_ISLNK(st.st_mode):
                    content = self.ns.readlinkat(self.ctx, None, path)
                elif stat.S_ISREG(st.st_mode) and st.st_mode & 0o400:
                    f = self.ns.openat(self.ctx, None, path, os.O_RDONLY)
                    content = f.read(1 << 30)
                    f.close()
                elif stat.S_ISDIR(st.st_mode):
                    stack.append(path)
                out.append(_tree_entry(path, st, content))
        return sorted(out)

    def _dup(self, h: int) -> int:
        return self.fds.dup(self.fd(h))


# -- running and comparing ---------------------------------------------------------------------------

Scenario = Callable[[Sys], None]


def _umount_below(base: str) -> None:
    """Detach whatever a failed scenario left mounted inside its directory."""
    with open("/proc/self/mounts", "rb") as f:
        targets = [line.split()[1] for line in f]
    for target in reversed(targets):
        if target.startswith(base.encode() + b"/"):
            _libc.umount2(target, 2)  # MNT_DETACH


def run_on_host(scenario: Scenario, tick: float = TICK, tmpfs_exact: bool = False) -> Transcript:
    """Run in a forked child (it may drop privileges) inside a fresh host directory. ``tick`` is the
    pause before each call (0 when the scenario compares no times)."""
    base = tempfile.mkdtemp(prefix="lxfs-diff-", dir=HOST_TMP)
    os.chmod(base, 0o755)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            os.umask(0o022)
            s = HostSys(base, tick)
            s.tmpfs_exact = tmpfs_exact
            try:
                scenario(s)
                payload = pickle.dumps(("ok", s.transcript))
            except Exception as exc:
                payload = pickle.dumps(("exc", f"{type(exc).__name__}: {exc}"))
            with os.fdopen(w, "wb") as out:
                out.write(payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    _umount_below(base)
    shutil.rmtree(base, ignore_errors=True)
    kind, value = pickle.loads(data)
    if kind != "ok":
        raise AssertionError(f"host scenario raised {value}")
    return value  # type: ignore[no-any-return]


def make_namespace(backend: str, tmp: Path) -> tuple[Namespace, Callable[[], list[Any]]]:
    """A Namespace over a fresh ``backend`` root (mode 0755 like the host directory) and a function that
    returns fsck's problems (empty for TmpFs)."""
    if backend == "tmpfs":
        return Namespace(TmpFs(mode=0o755)), list
    assert VolFs is not None
    fs = VolFs.create(tmp / "diff.lxfs")
    ns = Namespace(fs)

    def check() -> list[Any]:
        return list(volfs_fsck.check(fs)) if volfs_fsck is not None else []

    return ns, check


def run_on_lxfs(scenario: Scenario, backend: str, tmp: Path) -> Transcript:
    ns, check = make_namespace(backend, tmp)
    s = LxfsSys(ns)
    s.tmpfs_exact = backend == "tmpfs"
    scenario(s)
    s.fds.close_all()
    problems = check()
    assert problems == [], f"fsck after the scenario: {problems}"
    return s.transcript


def _sign(a: int, b: int) -> int:
    return (a > b) - (a < b)


def compare(host: Transcript, lx: Transcript) -> None:
    """Assert equal transcripts; the message names the first differing call."""
    for i, (h, x) in enumerate(zip(host.calls, lx.calls, strict=False)):
        assert h.call == x.call, f"scenario diverged at call {i}: {h.call} vs {x.call}"
        if h.result != x.result:
            raise AssertionError(f"call {i} {h.call}:\n  host: {h.result}\n  lxfs: {x.result}")
    assert len(host.calls) == len(lx.calls), "transcripts differ in length"
    stats = [(i, h.stat, x.stat) for i, (h, x) in enumerate(zip(host.calls, lx.calls, strict=True)) if h.stat]
    names = ("atime", "mtime", "ctime")
    for a, (i, hs, xs) in enumerate(stats):
        for j, hs2, xs2 in stats[a:]:
            assert hs is not None and xs is not None and hs2 is not None and xs2 is not None
            same_h, same_x = hs[0] == hs2[0], xs[0] == xs2[0]
            # a filesystem may reuse a freed inode's number (VolFs, ext4 do), so only one direction
            if same_h and not same_x:
                raise AssertionError(
                    f"inode identity differs between call {i} {host.calls[i].call} and call {j} "
                    f"{host.calls[j].call}: host same={same_h}, lxfs same={same_x}"
                )
            if not same_h or not same_x:
                continue
            for f1 in range(3):
                for f2 in range(3):
                    if i == j and f1 >= f2:
                        continue
                    sh = _sign(hs[1 + f1], hs2[1 + f2])
                    sx = _sign(xs[1 + f1], xs2[1 + f2])
                    if sh != sx:
                        raise AssertionError(
                            f"time order differs: {names[f1]} of call {i} ({host.calls[i].call}) vs "
                            f"{names[f2]} of call {j} ({host.calls[j].call}): host {sh}, lxfs {sx}"
                        )


BACKENDS = ["tmpfs"] + (["volfs"] if VolFs is not None else [])


@pytest.fixture(params=BACKENDS)
def vfs_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def differential(vfs_backend: str, tmp_path: Path) -> Callable[[Scenario], None]:
    """``differential(scenario)`` runs it on the host and on lxfs (the backend parameter) and compares."""
    counter = iter(range(1000))

    def run(scenario: Scenario, tick: float = TICK) -> None:
        host = run_on_host(scenario, tick, tmpfs_exact=vfs_backend == "tmpfs")
        sub = tmp_path / f"run{next(counter)}"
        sub.mkdir()
        lx = run_on_lxfs(scenario, vfs_backend, sub)
        compare(host, lx)

    return run


@pytest.fixture
def lxfs_ns(vfs_backend: str, tmp_path: Path) -> Iterator[Namespace]:
    """A Namespace on the backend for lxfs-only tests; fsck-checked afterwards."""
    ns, check = make_namespace(vfs_backend, tmp_path)
    yield ns
    assert check() == []


__all__ = [
    "AT_EACCESS",
    "AT_EMPTY_PATH",
    "AT_REMOVEDIR",
    "AT_SYMLINK_NOFOLLOW",
    "UTIME_NOW",
    "UTIME_OMIT",
    "FsError",
    "Sys",
]
