"""The FUSE adapter: a VFS Namespace on a host mount point through libfuse3 (ctypes types from mfusepy).

Every FUSE callback is one VFS call (the same Namespace/OpenFile methods the emulator's syscalls use)
with the caller's credentials from fuse_get_context: fsuid, fsgid and the supplementary groups read
from /proc/PID/status (only for non-root callers; root needs none). Errors become -errno in one place
(``FuseAdapter._guard``). Open files and directories are VFS OpenFiles indexed by the FUSE file handle,
so unlink and rename while open behave as on Linux and libfuse never makes ``.fuse_hidden`` files.

The session is driven here (fuse_new/fuse_mount/fuse_loop) rather than through fuse_main, so a mount
can run in the CLI's main thread (with libfuse's SIGINT/SIGTERM handlers: a clean unmount) or on a
thread inside the emulator's kernel process (no signal handlers taken, a kernel lock around each op).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mfusepy
from mfusepy import c_stat, c_statvfs, fuse_config, fuse_conn_info, fuse_file_info, fuse_operations

from lxfs.linux import AT_EACCESS, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW
from lxfs.vfs.creds import Credentials
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from lxfs.vfs.file import OpenFile
    from lxfs.vfs.namespace import Namespace

log = logging.getLogger(__name__)

# include/fuse_common.h
FUSE_CAP_ATOMIC_O_TRUNC = 1 << 3
FUSE_CAP_HANDLE_KILLPRIV = 1 << 20
FUSE_FILL_DIR_PLUS = 1 << 1

_libfuse = mfusepy._libfuse
_DIRENT_BATCH = 1 << 16  # bytes of linux_dirent64 records fetched from the VFS per readdir step


class _FuseArgs(ctypes.Structure):
    _fields_ = [("argc", ctypes.c_int), ("argv", ctypes.POINTER(ctypes.c_char_p)), ("allocated", ctypes.c_int)]


_libfuse.fuse_new_31.restype = ctypes.c_void_p
_libfuse.fuse_new_31.argtypes = [ctypes.POINTER(_FuseArgs), ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
_libfuse.fuse_mount.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_libfuse.fuse_loop.argtypes = [ctypes.c_void_p]
_libfuse.fuse_unmount.argtypes = [ctypes.c_void_p]
_libfuse.fuse_destroy.argtypes = [ctypes.c_void_p]
_libfuse.fuse_get_session.restype = ctypes.c_void_p
_libfuse.fuse_get_session.argtypes = [ctypes.c_void_p]
_libfuse.fuse_set_signal_handlers.argtypes = [ctypes.c_void_p]
_libfuse.fuse_remove_signal_handlers.argtypes = [ctypes.c_void_p]
_libfuse.fuse_session_exit.argtypes = [ctypes.c_void_p]
_libfuse.fuse_opt_free_args.argtypes = [ctypes.POINTER(_FuseArgs)]


class MountError(Exception):
    """A mount that cannot be made or served; the message is one line for the user."""


@dataclass(slots=True)
class MountOptions:
    """How the namespace is shown on the host (DESIGN.md "FUSE" gives the measured choices)."""

    readonly: bool = False
    allow_other: bool = True  # other users see the mount (root may always ask for it)
    attr_timeout: float = 1.0
    entry_timeout: float = 1.0
    fsname: str = "lxfs"
    debug: bool = False

    def args(self) -> list[bytes]:
        fsname = self.fsname.replace("\\", "\\\\").replace(",", "\\,")  # fuse_opt's escaping
        opts = ["default_permissions", f"fsname={fsname}", "subtype=lxfs"]
        if self.allow_other:
            opts.append("allow_other")
        if self.readonly:
            opts.append("ro")
        out = [b"lxfs", b"-o", ",".join(opts).encode()]
        if self.debug:
            out.append(b"-d")
        return out


def _groups_of(pid: int) -> tuple[int, ...]:
    """The supplementary groups of host process ``pid`` (the FUSE request carries only fsuid/fsgid)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Groups:"):
                    return tuple(int(g) for g in line.split()[1:])
    except OSError:
        pass  # the caller already exited: it gets only its primary group, like a setgroups([]) process
    return ()


def _fill_stat(st: Any, s: Any) -> None:
    """Copy a VFS Stat into a struct stat (hot path: plain attribute stores)."""
    st.st_ino = s.st_ino
    st.st_mode = s.st_mode
    st.st_nlink = s.st_nlink
    st.st_uid = s.st_uid
    st.st_gid = s.st_gid
    st.st_rdev = s.st_rdev
    st.st_size = s.st_size
    st.st_blksize = s.st_blksize
    st.st_blocks = s.st_blocks
    st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec = divmod(s.st_atime_ns, 1_000_000_000)
    st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec = divmod(s.st_mtime_ns, 1_000_000_000)
    st.st_ctimespec.tv_sec, st.st_ctimespec.tv_nsec = divmod(s.st_ctime_ns, 1_000_000_000)


class FuseAdapter:
    """libfuse3 high-level callbacks over a Namespace. Each public ``op_*`` method has the C signature
    of its fuse_operations slot; ``callbacks()`` builds the table with ``_guard`` around each."""

    def __init__(
        self,
        ns: Namespace,
        lock: contextlib.AbstractContextManager[Any] | None = None,
        options: MountOptions | None = None,
        on_init: Callable[[], None] | None = None,
    ) -> None:
        self.ns = ns
        self.lock = lock or contextlib.nullcontext()
        self.options = options or MountOptions()
        self.on_init = on_init
        # The kernel applied the caller's umask already (no FUSE_CAP_DONT_MASK): umask 0 here.
        self.ctx = ns.context(Credentials.root(), umask=0)
        self._creds: dict[tuple[int, int, tuple[int, ...]], Credentials] = {(0, 0, ()): Credentials.root()}
        self.files: list[OpenFile | None] = []
        self._free: list[int] = []
        self._c_ops: fuse_operations | None = None
        self._keep: list[Any] = []  # the ctypes callbacks must outlive the session

    # -- the one boundary: lock, credentials, errors --------------------------------------------------

    def _enter(self) -> None:
        c = _libfuse.fuse_get_context().contents
        uid, gid = c.uid, c.gid
        key = (uid, gid, _groups_of(c.pid) if uid else ())  # root's groups never decide anything
        creds = self._creds.get(key)
        if creds is None:
            creds = self._creds[key] = Credentials.user(*key)
        self.ctx.creds = creds

    def _guard(self, name: str, fn: Callable[..., int | None]) -> Callable[..., int]:
        lock = self.lock
        enter = self._enter

        def callback(*args: Any) -> int:
            try:
                with lock:
                    enter()
                    return fn(*args) or 0
            except FsError as exc:  # FsError -> -errno: the one conversion at the FUSE boundary
                return -(exc.errno or errno.EIO)
            except OSError as exc:
                log.exception("FUSE %s: host error", name)
                return -(exc.errno or errno.EIO)
            except Exception:
                log.exception("FUSE %s failed", name)
                return -errno.EIO

        callback.__name__ = f"fuse_{name}"
        return callback

    def callbacks(self) -> fuse_operations:
        ops = fuse_operations()
        for field in fuse_operations._fields_:
            name, proto = field[0], field[1]
            fn = getattr(self, f"op_{name}", None)
            if fn is None:
                continue
            # init and destroy are not guarded: init returns a pointer, destroy runs at teardown
            cb = proto(fn) if name in ("init", "destroy") else proto(self._guard(name, fn))
            self._keep.append(cb)
            setattr(ops, name, cb)
        self._c_ops = ops
        return ops

    # -- file handles ---------------------------------------------------------------------------------

    def _install(self, file: OpenFile) -> int:
        if self._free:
            fh = self._free.pop()
            self.files[fh] = file
        else:
            fh = len(self.files)
            self.files.append(file)
        return fh

    def _file(self, fip: Any) -> OpenFile:
        file = self.files[fip.contents.fh]
        if file is None:
            raise FsError(errno.EBADF)
        return file

    def _release(self, fip: Any) -> None:
        fh = fip.contents.fh
        file = self.files[fh]
        self.files[fh] = None
        self._free.append(fh)
        if file is not None:
            file.close()

    def close_all(self) -> None:
        """Close every OpenFile still held (the kernel normally releases them before unmounting)."""
        for fh, file in enumerate(self.files):
            if file is not None:
                self.files[fh] = None
                with self.lock:
                    file.close()
        self.files.clear()
        self._free.clear()

    # -- lifecycle --------------------------------------------------------------------------------------

    def op_init(self, conn: Any, config: Any) -> None:
        cfg: fuse_config = config.contents
        cfg.use_ino = 1  # st_ino and d_ino are the filesystem's own
        cfg.hard_remove = 1  # no .fuse_hidden files: open handles are OpenFiles, not paths
        cfg.nullpath_ok = 1  # handle ops get the OpenFile; no path is needed (nor exists after unlink)
        cfg.auto_cache = 1
        cfg.attr_timeout = self.options.attr_timeout
        cfg.entry_timeout = self.options.entry_timeout
        cfg.negative_timeout = 0.0
        c: fuse_conn_info = conn.contents
        # The VFS clears suid/sgid on write/truncate/chown itself (as the emulator needs); without this
        # flag the kernel would send a chmod as the writer, which a non-owner may not do.
        if c.capable & FUSE_CAP_HANDLE_KILLPRIV:
            c.want |= FUSE_CAP_HANDLE_KILLPRIV
        if c.capable & FUSE_CAP_ATOMIC_O_TRUNC:
            c.want |= FUSE_CAP_ATOMIC_O_TRUNC  # open(O_TRUNC) is one VFS openat
        if self.on_init is not None:
            self.on_init()

    def op_destroy(self, _private: Any) -> None:
        try:
            self.close_all()
        except Exception:
            log.exception("FUSE destroy: closing open files")

    # -- attributes -------------------------------------------------------------------------------------

    def op_getattr(self, path: bytes | None, st: Any, fip: Any) -> None:
        s = self._file(fip).stat() if fip else self.ns.fstatat(self.ctx, None, path or b"/", AT_SYMLINK_NOFOLLOW)
        _fill_stat(st.contents, s)

    def op_chmod(self, path: bytes | None, mode: int, fip: Any) -> None:
        if fip:
            self._file(fip).fchmod(self.ctx.creds, mode)
        else:
            self.ns.fchmodat(self.ctx, None, path or b"/", mode & 0o7777)

    def op_chown(self, path: bytes | None, uid: int, gid: int, fip: Any) -> None:
        uid = -1 if uid == 0xFFFFFFFF else uid
        gid = -1 if gid == 0xFFFFFFFF else gid
        if fip:
            self._file(fip).fchown(self.ctx.creds, uid, gid)
        else:
            self.ns.fchownat(self.ctx, None, path or b"/", uid, gid, AT_SYMLINK_NOFOLLOW)

    def op_truncate(self, path: bytes | None, length: int, fip: Any) -> None:
        if fip:
            self._file(fip).truncate(length, self.ctx.creds)
        else:
            self.ns.truncate(self.ctx, path or b"/", length)

    def op_utimens(self, path: bytes | None, tv: Any, fip: Any) -> None:
        # libfuse passes UTIME_NOW/UTIME_OMIT through in tv_nsec, exactly as utimensat(2) takes them.
        u = tv.contents
        times = ((u.actime.tv_sec, u.actime.tv_nsec), (u.modtime.tv_sec, u.modtime.tv_nsec))
        if fip:
            self._file(fip).futimens(self.ctx.creds, times)
        else:
            self.ns.utimensat(self.ctx, None, path or b"/", times, AT_SYMLINK_NOFOLLOW)

    def op_access(self, path: bytes, mode: int) -> None:
        self.ns.faccessat(self.ctx, None, path, mode, AT_EACCESS)

    def op_readlink(self, path: bytes, buf: Any, size: int) -> None:
        target = self.ns.readlinkat(self.ctx, None, path)[: size - 1]
        ctypes.memmove(buf, target + b"\0", len(target) + 1)

    def op_statfs(self, path: bytes, buf: Any) -> None:
        s = self.ns.statfs(self.ctx, path)
        v: c_statvfs = buf.contents
        v.f_bsize = s.f_bsize
        v.f_frsize = s.f_frsize
        v.f_blocks = s.f_blocks
        v.f_bfree = s.f_bfree
        v.f_bavail = s.f_bavail
        v.f_files = s.f_files
        v.f_ffree = s.f_ffree
        v.f_favail = s.f_ffree
        v.f_namemax = s.f_namelen

    # -- names ------------------------------------------------------------------------------------------

    def op_mknod(self, path: bytes, mode: int, rdev: int) -> None:
        self.ns.mknodat(self.ctx, None, path, mode, rdev)

    def op_mkdir(self, path: bytes, mode: int) -> None:
        self.ns.mkdirat(self.ctx, None, path, mode)

    def op_unlink(self, path: bytes) -> None:
        self.ns.unlinkat(self.ctx, None, path, 0)

    def op_rmdir(self, path: bytes) -> None:
        self.ns.unlinkat(self.ctx, None, path, AT_REMOVEDIR)

    def op_symlink(self, target: bytes, path: bytes) -> None:
        self.ns.symlinkat(self.ctx, target, None, path)

    def op_link(self, old: bytes, new: bytes) -> None:
        self.ns.linkat(self.ctx, None, old, None, new, 0)

    def op_rename(self, old: bytes, new: bytes, flags: int) -> None:
        self.ns.renameat2(self.ctx, None, old, None, new, flags)

    # -- open files -------------------------------------------------------------------------------------

    def op_open(self, path: bytes, fip: Any) -> None:
        fi: fuse_file_info = fip.contents
        fi.fh = self._install(self.ns.openat(self.ctx, None, path, fi.flags))

    def op_create(self, path: bytes, mode: int, fip: Any) -> None:
        fi: fuse_file_info = fip.contents
        fi.fh = self._install(self.ns.openat(self.ctx, None, path, fi.flags | os.O_CREAT, mode & 0o7777))

    def op_read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        data = self._file(fip).pread(size, offset)
        ctypes.memmove(buf, data, len(data))
        return len(data)

    def op_write(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
        return self._file(fip).pwrite(ctypes.string_at(buf, size), offset, self.ctx.creds)

    def op_flush(self, path: bytes | None, fip: Any) -> None:
        """close(2) of one descriptor: nothing to do, every write is already committed."""

    def op_release(self, path: bytes | None, fip: Any) -> None:
        self._release(fip)

    def op_fsync(self, path: bytes | None, datasync: int, fip: Any) -> None:
        self._file(fip).fsync(bool(datasync))

    # -- directories ------------------------------------------------------------------------------------

    def op_opendir(self, path: bytes, fip: Any) -> None:
        fi: fuse_file_info = fip.contents
        fi.fh = self._install(self.ns.openat(self.ctx, None, path, os.O_RDONLY | os.O_DIRECTORY))

    def op_readdir(self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any, flags: int) -> None:
        file = self._file(fip)
        file.pos = offset  # the cookie of the last entry the kernel took
        st = c_stat()
        while True:
            entries = file.getdents(_DIRENT_BATCH)
            if not entries:
                return
            for e in entries:
                st.st_ino = e.ino
                st.st_mode = e.dtype << 12
                if filler(buf, e.name, st, e.offset, 0):
                    return  # the kernel's buffer is full; it asks again from the last cookie

    def op_releasedir(self, path: bytes | None, fip: Any) -> None:
        self._release(fip)

    def op_fsyncdir(self, path: bytes | None, datasync: int, fip: Any) -> None:
        self._file(fip).fsync(bool(datasync))

    # -- extended attributes ----------------------------------------------------------------------------

    def op_setxattr(self, path: bytes, name: bytes, value: Any, size: int, flags: int) -> None:
        self.ns.setxattr(self.ctx, path, name, ctypes.string_at(value, size), flags, follow=False)

    def op_getxattr(self, path: bytes, name: bytes, value: Any, size: int) -> int:
        data = self.ns.getxattr(self.ctx, path, name, follow=False, size=size or None)
        if size:
            ctypes.memmove(value, data, len(data))
        return len(data)

    def op_listxattr(self, path: bytes, out: Any, size: int) -> int:
        names = self.ns.listxattr(self.ctx, path, follow=False, size=size or None)
        data = b"".join(n + b"\0" for n in names)
        if size:
            if len(data) > size:
                raise FsError(errno.ERANGE)
            ctypes.memmove(out, data, len(data))
        return len(data)

    def op_removexattr(self, path: bytes, name: bytes) -> None:
        self.ns.removexattr(self.ctx, path, name, follow=False)


class FuseSession:
    """One libfuse session: ``mount()`` attaches it to the mount point, ``loop()`` serves requests
    until unmounted (or a signal when ``handle_signals``), then tears everything down."""

    def __init__(self, adapter: FuseAdapter, mountpoint: str) -> None:
        self.adapter = adapter
        self.mountpoint = os.path.abspath(mountpoint)
        self._fuse: int | None = None
        self._ops = adapter.callbacks()

    def mount(self) -> None:
        argv_list = self.adapter.options.args()
        argv = (ctypes.c_char_p * len(argv_list))(*argv_list)
        args = _FuseArgs(len(argv_list), ctypes.cast(argv, ctypes.POINTER(ctypes.c_char_p)), 0)
        fuse = _libfuse.fuse_new_31(ctypes.byref(args), ctypes.byref(self._ops), ctypes.sizeof(self._ops), None)
        _libfuse.fuse_opt_free_args(ctypes.byref(args))
        if not fuse:
            raise MountError("libfuse refused the mount options")
        if _libfuse.fuse_mount(fuse, os.fsencode(self.mountpoint)) != 0:
            _libfuse.fuse_destroy(fuse)
            raise MountError(f"cannot mount on {self.mountpoint} (libfuse's message is above)")
        self._fuse = fuse

    def loop(self, handle_signals: bool = False) -> None:
        fuse = self._fuse
        if fuse is None:
            raise MountError("not mounted")
        session = _libfuse.fuse_get_session(fuse)
        if handle_signals:
            _libfuse.fuse_set_signal_handlers(session)
        try:
            _libfuse.fuse_loop(fuse)
        finally:
            if handle_signals:
                _libfuse.fuse_remove_signal_handlers(session)
            _libfuse.fuse_unmount(fuse)
            _libfuse.fuse_destroy(fuse)  # calls op_destroy: open files are closed
            self._fuse = None


def unmount(mountpoint: str, lazy: bool = False) -> subprocess.CompletedProcess[str]:
    """fusermount3 -u (with -z: detach now, finish when no longer busy)."""
    cmd = ["fusermount3", "-u", *(["-z"] if lazy else []), "--", mountpoint]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


class FuseServer:
    """A Namespace served on a host thread (``lxfs run --mount``); ``stop()`` unmounts and joins."""

    def __init__(self, session: FuseSession) -> None:
        self.session = session
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"fuse:{session.mountpoint}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.session.loop(handle_signals=False)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    @property
    def mountpoint(self) -> str:
        return self.session.mountpoint

    def stop(self, timeout: float = 10.0) -> None:
        """Unmount (lazily if the mount is busy) and wait for the serving thread to finish. Call it
        WITHOUT holding the kernel lock: the thread may be waiting for it to finish a request."""
        if self._thread.is_alive():
            res = unmount(self.mountpoint)
            if res.returncode != 0 and self._thread.is_alive():
                unmount(self.mountpoint, lazy=True)
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise MountError(f"FUSE thread for {self.mountpoint} did not stop within {timeout} s")
        if self.error is not None:
            raise MountError(f"FUSE server failed: {self.error}") from self.error


def serve_in_thread(
    ns: Namespace,
    mountpoint: str,
    kernel_lock: contextlib.AbstractContextManager[Any],
    options: MountOptions | None = None,
) -> FuseServer:
    """Mount ``ns`` on ``mountpoint`` and serve it on a new host thread; every request runs with
    ``kernel_lock`` held (the emulator's big kernel lock). Returns once the mount is attached."""
    check_mountpoint(mountpoint)
    session = FuseSession(FuseAdapter(ns, kernel_lock, options), mountpoint)
    session.mount()
    return FuseServer(session)


# -- the checks that turn the usual failures into one clear sentence -------------------------------------


def check_fuse_device() -> None:
    if not os.path.exists("/dev/fuse"):
        raise MountError("/dev/fuse is missing: load the fuse module (modprobe fuse) or run with --device /dev/fuse")
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as exc:
        raise MountError(f"/dev/fuse cannot be opened ({exc.strerror}): FUSE is not usable here") from None
    os.close(fd)


def mounted_source(mountpoint: str) -> str | None:
    """The source of the mount at ``mountpoint`` (from /proc/self/mountinfo), or None."""
    target = os.path.abspath(mountpoint)
    for fields in _mountinfo():
        if fields[4] == target:
            return fields[-2]
    return None


def _mountinfo() -> Iterator[list[str]]:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = [_unescape(x) for x in line.split()]
                if len(fields) >= 10:
                    yield fields
    except OSError:
        return


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def check_mountpoint(mountpoint: str) -> None:
    """A usable mount point: an existing, empty directory with nothing mounted on it."""
    try:
        st = os.stat(mountpoint)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            raise MountError(
                f"{mountpoint}: a stale FUSE mount (its server is gone); run `lxfs umount {mountpoint}` first"
            ) from None
        if exc.errno == errno.ENOENT:
            raise MountError(f"{mountpoint}: no such directory") from None
        raise MountError(f"{mountpoint}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise MountError(f"{mountpoint}: not a directory")
    if os.path.ismount(mountpoint):
        src = mounted_source(mountpoint)
        raise MountError(f"{mountpoint}: busy, already a mount point" + (f" (of {src})" if src else ""))
    if os.listdir(mountpoint):
        raise MountError(f"{mountpoint}: not empty (mounting would hide its files)")


def image_mounted_at(image: str) -> str | None:
    """Where ``image`` is already served by an lxfs mount, if anywhere (fsname lxfs:<abs image path>)."""
    want = "lxfs:" + os.path.abspath(image)
    for fields in _mountinfo():
        sep = fields.index("-") if "-" in fields else -1
        if sep > 0 and len(fields) > sep + 2 and fields[sep + 2] == want and fields[sep + 1].startswith("fuse"):
            return fields[4]
    return None
