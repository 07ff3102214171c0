"""Wiring the file side into a Kernel: ``attach`` gives it the VFS Namespace, the lock table and AF_UNIX
registry (``kernel.files``), programs read through the VFS for execve, fd tables and FsContexts that
follow fork/exec/exit, file mmap, and the guest's stdin/stdout/stderr over the host's fds.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.syscalls import mm as mmsys
from emulator.syscalls.fs import close_fd, ctx_of, get_file
from emulator.syscalls.fs_locks import LockTable
from emulator.syscalls.net import UnixRegistry
from lxfs.vfs import inode, perm
from lxfs.vfs.creds import Credentials, FsContext
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import FdTable
from lxfs.vfs.interfaces import FileOps, GuestMemory

if TYPE_CHECKING:
    from emulator.kernel import Kernel, Process, Task
    from lxfs.vfs.file import OpenFile
    from lxfs.vfs.namespace import Namespace

CLONE_FS = 0x200
CLONE_FILES = 0x400
EXEC_CACHE = 8


@dataclass
class FileSide:
    """The file side's per-kernel state (``kernel.files``)."""

    ns: Namespace
    devices: Any = None
    locks: LockTable = field(default_factory=LockTable)
    unix: UnixRegistry = field(default_factory=UnixRegistry)
    init_ctx: FsContext | None = None
    users: dict[int, int] = field(default_factory=dict)  # id(FdTable or FsContext) -> sharing processes
    exec_cache: OrderedDict[tuple[int, ...], bytes] = field(default_factory=OrderedDict)


class HostStream(FileOps):
    """A host fd that is not a terminal (a pipe, a file, /dev/null) as the guest's stdin/stdout/stderr:
    reads wait in the kernel's selector (``host_fd``), writes go straight through."""

    seekable = False

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.host_fd = fd

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        if not self._ready():
            raise FsError(errno.EAGAIN)
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            raise FsError(errno.EAGAIN) from None
        except OSError as exc:
            raise FsError(exc.errno or errno.EIO) from None

    def _ready(self) -> bool:
        try:
            r, _, _ = select.select([self.fd], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            raise FsError(errno.EAGAIN) from None
        except OSError as exc:
            raise FsError(exc.errno or errno.EIO) from None

    def poll(self, file: OpenFile) -> int:
        return (select.POLLIN if self._ready() else 0) | select.POLLOUT

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        if request == 0x541B:  # FIONREAD
            try:
                raw = fcntl.ioctl(self.fd, request, b"\0\0\0\0")
            except OSError as exc:
                raise FsError(exc.errno or errno.ENOTTY) from None
            mem.write(arg, raw)
            return 0
        raise FsError(errno.ENOTTY)


def attach(kernel: Kernel, ns: Namespace, devices: Any = None, creds: Credentials | None = None) -> FileSide:
    """Make ``kernel`` use ``ns`` for every file syscall and for execve."""
    side = FileSide(ns, devices)
    side.init_ctx = ns.context(creds or Credentials.root())
    kernel.files = side  # type: ignore[attr-defined]
    kernel.exec_reader = lambda task, path: _exec_read(side, task, path)
    kernel.fork_hooks.append(lambda parent, child, flags: _on_fork(side, parent, child, flags))
    kernel.exec_hooks.append(lambda proc: _on_exec(side, proc))
    kernel.exit_hooks.append(lambda proc: _on_exit(side, proc))
    mmsys.file_mapper = _map_file
    return side


def setup_init(kernel: Kernel, proc: Process, stdio: tuple[int, ...] = (0, 1, 2), cwd: bytes = b"/") -> None:
    """Give the first process its FsContext (at ``cwd``) and fds 0-2 on the host's ``stdio`` fds."""
    side: FileSide = kernel.files  # type: ignore[attr-defined]
    assert side.init_ctx is not None
    ctx = side.init_ctx.copy()
    if cwd != b"/":
        side.ns.chdir(ctx, cwd)
    proc.fs = ctx
    proc.umask = ctx.umask
    table = FdTable(proc.rlimits.get(7, (1024, 1024))[0])  # RLIMIT_NOFILE
    closed = []
    for hfd in stdio:
        try:
            file = _host_file(side, ctx, hfd)
        except OSError:
            # a closed host fd stays closed for the guest: hold its number, then free it
            file = side.ns.open_anon(ctx, stat.S_IFIFO | 0o600, os.O_RDONLY, HostStream(-1), b"pipe:[%d]")
            closed.append(table.install(file, False))
            continue
        table.install(file, False)
    for fd in closed:
        table.close(fd)
    devices = side.devices
    console = devices.console if devices is not None and stdio and os.isatty(0) else None
    if console is not None and any(file.ops is console for _fd, file in table.items()):
        # the host terminal is the first process's controlling terminal, with it in the foreground, as
        # for a program a host shell starts (tty_nr, tpgid, /dev/tty and job control see it)
        console.tty.session, console.tty.pgrp = proc.sid, proc.pgid
        devices.jobs.set_ctty(proc.sid, console.tty)
    proc.fdtable = table
    side.users[id(table)] = 1
    side.users[id(ctx)] = 1


def _host_file(side: FileSide, ctx: FsContext, hfd: int) -> OpenFile:
    st = os.fstat(hfd)
    acc = fcntl.fcntl(hfd, fcntl.F_GETFL) & os.O_ACCMODE
    ops: FileOps
    if os.isatty(hfd):
        from devfs.devices import HostTerminal

        console = getattr(side.devices, "console", None) if side.devices is not None else None
        if console is not None and os.isatty(0):
            # init/main.c console_on_rootfs: the kernel opens /dev/console itself (as root), so fstat
            # of fds 0-2 is /dev/console's inode and ttyname(3) finds it
            root_ctx = ctx.copy()
            root_ctx.creds = Credentials.root()
            try:
                return side.ns.openat(root_ctx, None, b"/dev/console", acc | os.O_NOCTTY)
            except FsError:
                pass  # no devfs on /dev: an anonymous console file as below
        ops = console if console is not None and os.isatty(0) else HostTerminal(hfd, hfd)
        mode = stat.S_IFCHR | 0o620
        name = b"/dev/console"
    else:
        ops = HostStream(hfd)
        mode = stat.S_IFMT(st.st_mode) | (st.st_mode & 0o777) if stat.S_IFMT(st.st_mode) else stat.S_IFIFO | 0o600
        try:
            link = os.readlink(f"/proc/self/fd/{hfd}").encode()
        except OSError:
            link = b"pipe:[0]"
        name = link if link.startswith((b"pipe:", b"socket:")) else b"/dev/null" if st.st_rdev else b"pipe:[%d]"
    return side.ns.open_anon(ctx, mode, acc, ops, name)


# -- execve reads programs through the VFS ----------------------------------------------------------------------


def _exec_read(side: FileSide, task: Task | None, path: bytes) -> tuple[bytes, bytes]:
    ctx = ctx_of(task) if task is not None else side.init_ctx
    assert ctx is not None
    loc, attr = side.ns.resolve(ctx, None, path)
    if not stat.S_ISREG(attr.mode):
        raise FsError(errno.EACCES)
    # may_open(MAY_EXEC) + the mount's noexec
    if loc.mount.flags & 8:  # MS_NOEXEC
        raise FsError(errno.EACCES)
    inode.inode_permission(loc.mount, attr, ctx.creds, perm.MAY_EXEC)
    key = (loc.mount.dev, loc.ino, attr.size, attr.mtime_ns, attr.ctime_ns)
    cached = side.exec_cache.get(key)
    if cached is not None:
        side.exec_cache.move_to_end(key)
        return _exec_path(side, ctx, path), cached
    file = side.ns.openat(ctx, None, path, os.O_RDONLY)
    real = side.ns.file_path(file, ctx.root)
    try:
        parts = []
        pos = 0
        while True:
            chunk = file.pread(1 << 22, pos)
            if not chunk:
                break
            parts.append(chunk)
            pos += len(chunk)
    finally:
        file.close()
    data = b"".join(parts)
    side.exec_cache[key] = data
    while len(side.exec_cache) > EXEC_CACHE:
        side.exec_cache.popitem(last=False)
    return real, data


def _exec_path(side: FileSide, ctx: FsContext, path: bytes) -> bytes:
    """The file's own path (symlinks and /proc/self/exe resolved), as /proc/PID/exe and maps show it
    (d_path of bprm->file)."""
    file = side.ns.openat(ctx, None, path, os.O_PATH)
    try:
        return side.ns.file_path(file, ctx.root)
    finally:
        file.close()


# -- fd tables and contexts across fork, exec, exit ---------------------------------------------------------------


def _on_fork(side: FileSide, parent: Process, child: Process, flags: int) -> None:
    if parent.fdtable is None:
        return
    if flags & CLONE_FILES:
        child.fdtable = parent.fdtable
        side.users[id(parent.fdtable)] = side.users.get(id(parent.fdtable), 1) + 1
    else:
        child.fdtable = parent.fdtable.copy()
        side.users[id(child.fdtable)] = 1
    if flags & CLONE_FS:
        child.fs = parent.fs
        side.users[id(parent.fs)] = side.users.get(id(parent.fs), 1) + 1
    else:
        child.fs = parent.fs.copy()
        side.users[id(child.fs)] = 1


def _unshare_files(side: FileSide, proc: Process) -> None:
    table = proc.fdtable
    n = side.users.get(id(table), 1)
    if n > 1:
        side.users[id(table)] = n - 1
        proc.fdtable = table.copy()
        side.users[id(proc.fdtable)] = 1


def _on_exec(side: FileSide, proc: Process) -> None:
    if proc.fdtable is None:
        return
    _unshare_files(side, proc)
    table = proc.fdtable
    for fd, _file in list(table.items()):
        if table.get_cloexec(fd):
            close_fd(proc, fd)


def _on_exit(side: FileSide, proc: Process) -> None:
    table = proc.fdtable
    if table is not None:
        n = side.users.get(id(table), 1) - 1
        if n <= 0:
            side.users.pop(id(table), None)
            for fd, _file in list(table.items()):
                try:
                    close_fd(proc, fd)
                except FsError:
                    pass
        else:
            side.users[id(table)] = n
        proc.fdtable = None
    side.locks.release_pid_everywhere(proc.pid)
    ctx = proc.fs
    if ctx is not None:
        n = side.users.get(id(ctx), 1) - 1
        if n <= 0:
            side.users.pop(id(ctx), None)
            ctx.release()
        else:
            side.users[id(ctx)] = n


# -- mmap of files -------------------------------------------------------------------------------------------------


def _map_file(task: Task, fd: int, offset: int, length: int, prot: int, shared: bool) -> tuple[bytes, Any]:
    file = get_file(task, fd)
    if file.flags & os.O_PATH:
        raise FsError(errno.EBADF)
    st = file.stat()
    ops = file.ops
    if stat.S_ISDIR(st.st_mode) or (ops is not None and not ops.seekable):
        raise FsError(errno.ENODEV)
    if not file.readable:
        raise FsError(errno.EACCES)
    writable_share = shared and prot & 2  # PROT_WRITE
    if writable_share and (not file.writable or file.flags & os.O_APPEND):
        raise FsError(errno.EACCES)
    data = file.pread(length, offset) if offset < max(st.st_size, 1 << 62 if ops is not None else 0) else b""
    loc = file.loc
    fs = loc.mount.fs
    try:
        path = file.path()
    except FsError:
        path = b""

    def write(off: int, chunk: bytes) -> None:
        # MAP_SHARED write-back never extends the file (pages past EOF are not file data)
        if ops is not None:
            return
        try:
            with fs.transaction():
                size = fs.getattr(loc.ino).size
                if off >= size:
                    return
                fs.write(loc.ino, off, chunk[: size - off])
        except FsError:
            pass  # the inode is gone

    backing = mmsys.MappedFile(None, st.st_dev, st.st_ino, path, write if shared else None)
    return data, backing


# -- a whole system: the kernel over a root filesystem, with /dev and /proc mounted ---------------------------


def make_system(
    root_fs: Any,
    *,
    strace: Any = None,
    uid: int = 0,
    gid: int = 0,
    mount_pseudo: bool = True,
) -> Kernel:
    """A Kernel whose namespace has ``root_fs`` at / and devtmpfs (+devpts, shm) on /dev and procfs on
    /proc when the image has those directories. Used by ``lxfs run``, ``lxfs shell`` and the tests."""
    from devfs.registry import Devices
    from devfs.shell import KernelJobs
    from emulator.kernel import Kernel
    from lxfs.vfs.namespace import Namespace

    devices = Devices()
    ns = Namespace(root_fs, devices)
    kernel = Kernel(ns, strace=strace)
    devices.set_job_control(KernelJobs(kernel))
    kernel.foreground_hook = lambda: _foreground_pgrp(kernel, devices)
    creds = Credentials.root() if uid == 0 and gid == 0 else Credentials.user(uid, gid)
    side = attach(kernel, ns, devices, Credentials.root())
    if mount_pseudo:
        root_ctx = side.init_ctx
        assert root_ctx is not None
        if _is_dir(ns, root_ctx, b"/dev"):
            from devfs.mount import mount_dev

            mount_dev(ns, root_ctx, devices)
        if _is_dir(ns, root_ctx, b"/proc"):
            try:
                import emulator.procsource  # noqa: F401  (the kernel's ProcessSource)
                from procfs.mount import mount_proc
            except ImportError:
                pass
            else:
                mount_proc(ns, root_ctx, kernel)
    if uid or gid:
        assert side.init_ctx is not None
        side.init_ctx.creds = creds
    return kernel


def _foreground_pgrp(kernel: Kernel, devices: Any) -> int | None:
    """The foreground group of init's controlling terminal: where a SIGINT of the host terminal goes."""
    init = kernel.init
    tty = devices.controlling_tty(init.sid) if init is not None else None
    return tty.pgrp if tty is not None and tty.pgrp else None


def _is_dir(ns: Any, ctx: FsContext, path: bytes) -> bool:
    try:
        _loc, attr = ns.resolve(ctx, None, path)
    except FsError:
        return False
    return stat.S_ISDIR(attr.mode)


def find_program(kernel: Kernel, name: bytes, env_path: bytes) -> bytes:
    """``name`` as execvp would find it on ``env_path`` in the guest's namespace (ENOENT if nowhere)."""
    side: FileSide = kernel.files  # type: ignore[attr-defined]
    assert side.init_ctx is not None
    if b"/" in name:
        return name
    for d in env_path.split(b":"):
        cand = (d or b".").rstrip(b"/") + b"/" + name
        try:
            _loc, attr = side.ns.resolve(side.init_ctx, None, cand)
        except FsError:
            continue
        if stat.S_ISREG(attr.mode):
            return cand
    raise FsError(errno.ENOENT)


def spawn_init(
    kernel: Kernel,
    argv: list[bytes],
    envp: list[bytes],
    *,
    cwd: bytes = b"/",
    uid: int = 0,
    gid: int = 0,
    stdio: tuple[int, ...] = (0, 1, 2),
) -> Process:
    """Start pid 1 running ``argv`` (found on the environment's PATH) in ``cwd`` with fds 0-2 on the
    host's ``stdio``."""
    side: FileSide = kernel.files  # type: ignore[attr-defined]
    assert side.init_ctx is not None
    if cwd != b"/":
        side.ns.chdir(side.init_ctx, cwd)
    path_var = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in envp:
        if e.startswith(b"PATH="):
            path_var = e[5:]
    path = find_program(kernel, argv[0], path_var)
    proc = kernel.spawn(argv, envp, path)
    if uid or gid:
        c = proc.creds
        c.uid = c.euid = c.suid = c.fsuid = uid
        c.gid = c.egid = c.sgid = c.fsgid = gid
        c.groups = ()
    setup_init(kernel, proc, stdio, b"/")
    return proc
