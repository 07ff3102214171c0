"""File syscalls through the VFS: open/close, read/write and their vector and positional forms, the
stat family, directories, links, renames, attributes, xattrs, the fd table (dup, fcntl, close_range),
record locks and flock, pipes, sendfile/copy_file_range, statfs, sync.

Every handler resolves fds in the process's FdTable and paths with its FsContext (emulator/syscalls/
fs_setup.py attaches both); every guest pointer goes through the task's memory helpers (EFAULT).
Blocking follows interfaces.FileOps: EAGAIN from a FileOps parks the task on its wait queue unless the
file is O_NONBLOCK (``blocking``).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from emulator.kernel import Block
from emulator.syscalls import fs_structs as S
from emulator.syscalls.fs_locks import F_RDLCK, F_UNLCK, F_WRLCK, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, OFFSET_MAX
from emulator.syscalls.table import s32, s64, syscall
from lxfs.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_NOFOLLOW,
    PATH_MAX,
    UTIME_OMIT,
    XATTR_NAME_MAX,
    XATTR_SIZE_MAX,
)
from lxfs.vfs.creds import Credentials as VfsCredentials
from lxfs.vfs.errors import FsError
from lxfs.vfs.pipe import FifoWait

if TYPE_CHECKING:
    from emulator.kernel import Task
    from emulator.syscalls.fs_setup import FileSide
    from lxfs.vfs.creds import FsContext
    from lxfs.vfs.file import OpenFile

T = TypeVar("T")

MAX_RW = 0x7FFFF000  # MAX_RW_COUNT
UIO_MAXIOV = 1024
O_CLOEXEC = os.O_CLOEXEC
AT_NO_AUTOMOUNT = 0x800
FIONREAD = 0x541B
FIONBIO = 0x5421
FIONCLEX = 0x5450
FIOCLEX = 0x5451
FIOASYNC = 0x5452
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_SETLEASE, F_GETLEASE, F_NOTIFY = 1024, 1025, 1026
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
F_ADD_SEALS, F_GET_SEALS = 1033, 1034
CLOSE_RANGE_UNSHARE = 2
CLOSE_RANGE_CLOEXEC = 4
RESOLVE_ALL = 0x3F  # RESOLVE_NO_XDEV .. RESOLVE_CACHED
STATX_FLAGS = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | S.AT_STATX_SYNC_TYPE
_VALID_OPEN_FLAGS = 0o37777777  # every O_* bit openat2 accepts (VALID_OPEN_FLAGS, incl. O_TMPFILE)


# -- helpers: the caller's context, fds, paths -----------------------------------------------------------


def files_of(task: Task) -> FileSide:
    """The file side's per-kernel state (set by fs_setup.attach)."""
    return task.kernel.files  # type: ignore[attr-defined]


def ctx_of(task: Task) -> FsContext:
    """The task's FsContext with its current credentials and umask (the uid calls change
    process.creds; the VFS sees them here)."""
    proc = task.process
    fs = proc.fs
    c = proc.creds
    v = fs.creds
    if (
        v.fsuid != c.fsuid
        or v.fsgid != c.fsgid
        or v.euid != c.euid
        or v.uid != c.uid
        or v.gid != c.gid
        or v.groups != c.groups
    ):
        fs.creds = VfsCredentials(c.uid, c.gid, c.euid, c.egid, c.suid, c.sgid, c.fsuid, c.fsgid, tuple(c.groups))
    fs.umask = proc.umask
    return fs


def fdtable_of(task: Task) -> Any:
    """The process's FdTable, its EMFILE limit following RLIMIT_NOFILE (setrlimit changes it)."""
    proc = task.process
    table = proc.fdtable
    limit = proc.rlimits.get(7)  # RLIMIT_NOFILE
    if limit is not None:
        table.rlimit = min(limit[0], 1 << 20)
    return table


def get_file(task: Task, fd: int) -> OpenFile:
    return task.process.fdtable.get(s32(fd))


def _dirf(task: Task, dirfd: int) -> OpenFile | None:
    fd = s32(dirfd)
    if fd == AT_FDCWD:
        return None
    return task.process.fdtable.get(fd)


def _dirf_for(task: Task, dirfd: int, path: bytes) -> OpenFile | None:
    """The dirfd of an *at call: ignored for absolute paths (a bad fd then does not matter, as in
    Linux where the fd is looked up only for relative paths)."""
    if path[:1] == b"/":
        return None
    return _dirf(task, dirfd)


def read_path(task: Task, addr: int) -> bytes:
    return task.read_cstring(addr, PATH_MAX)


def _install(task: Task, file: OpenFile, cloexec: bool) -> int:
    return fdtable_of(task).install(file, cloexec)


def host_fd_of(file: OpenFile) -> int | None:
    ops = file.ops
    return getattr(ops, "host_fd", None) if ops is not None else None


def block_on(task: Task, files: list[OpenFile], deadline: int | None = None, restart: bool = True) -> Block:
    """A Block on the wait queues of ``files``; host-backed files (the console, host pipes) also get
    their host fd watched so the kernel's selector wakes them."""
    queues = []
    for f in files:
        ops = f.ops
        if ops is None:
            continue
        queues.append(ops.waitq)
        hfd = getattr(ops, "host_fd", None)
        if hfd is not None:
            watch_host_fd(task, hfd, ops.waitq)
    return Block(queues, deadline, restart)


def watch_host_fd(task: Task, hfd: int, waitq: Any) -> None:
    k = task.kernel
    watched: dict[int, list[Any]] = k.__dict__.setdefault("host_watches", {})
    queues = watched.get(hfd)
    if queues is not None:
        if waitq not in queues:
            queues.append(waitq)
        return
    watched[hfd] = [waitq]

    def ready() -> None:
        qs = watched.pop(hfd, [])
        k.unwatch_fd(hfd)
        for q in qs:
            q.notify(select.POLLIN)

    try:
        k.watch_fd(hfd, 1, ready)  # selectors.EVENT_READ
    except (ValueError, KeyError, OSError):
        watched.pop(hfd, None)


def blocking(task: Task, file: OpenFile, op: Callable[[], T], nonblock: bool = False, reading: bool = False) -> T:
    """Run ``op``; a would-block EAGAIN parks the task on the file's queue unless non-blocking. A read
    also wakes at the file's ``read_deadline()`` (a terminal's VTIME) and is retried then."""
    try:
        return op()
    except FifoWait as w:
        raise Block([w.waitq]) from None
    except FsError as exc:
        ops = file.ops
        if exc.errno != errno.EAGAIN or nonblock or file.flags & os.O_NONBLOCK or ops is None:
            raise
        retry = ops.read_deadline() if reading else None
        raise block_on(task, [file], None if retry is None else int(retry * 1e9)) from None


def sigpipe(task: Task) -> None:
    task.kernel.send_thread_signal(task, signal.SIGPIPE)


def _write_through(task: Task, file: OpenFile, op: Callable[[], int]) -> int:
    try:
        return blocking(task, file, op)
    except FsError as exc:
        if exc.errno == errno.EPIPE:
            sigpipe(task)
        raise


def close_fd(task_or_proc: Any, fd: int) -> None:
    """close(2): POSIX record locks of the process on that inode go at any close (fs/locks.c
    locks_remove_posix); flock and OFD locks at the description's last close."""
    proc = getattr(task_or_proc, "process", task_or_proc)
    table = proc.fdtable
    file = table.get(fd)
    release_locks(proc, file)
    table.close(fd)


def release_locks(proc: Any, file: OpenFile) -> None:
    locks = proc.kernel.files.locks
    if not locks.inodes:
        return
    key = (file.loc.mount.dev, file.loc.ino)
    if key in locks.inodes:
        locks.release_owner(key, ("posix", proc.pid))
        if file.refs == 1:
            locks.release_file(key, file)


# -- open and close ---------------------------------------------------------------------------------------


def do_open(task: Task, dirfd: int, path: bytes, flags: int, mode: int) -> int:
    ctx = ctx_of(task)
    dirf = _dirf_for(task, dirfd, path)
    try:
        file = files_of(task).ns.openat(ctx, dirf, path, flags, mode)
    except FifoWait as w:
        raise Block([w.waitq]) from None
    return _install(task, file, bool(flags & O_CLOEXEC))


@syscall("open", "path", "oflags", "mode")
def sys_open(task: Task, path: int, flags: int, mode: int) -> int:
    return do_open(task, AT_FDCWD, read_path(task, path), flags & 0xFFFFFFFF, mode & 0o7777)


@syscall("creat", "path", "mode")
def sys_creat(task: Task, path: int, mode: int) -> int:
    return do_open(task, AT_FDCWD, read_path(task, path), os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode & 0o7777)


@syscall("openat", "atfd", "path", "oflags", "mode")
def sys_openat(task: Task, dirfd: int, path: int, flags: int, mode: int) -> int:
    return do_open(task, dirfd, read_path(task, path), flags & 0xFFFFFFFF, mode & 0o7777)


@syscall("openat2", "atfd", "path", "ptr", "size")
def sys_openat2(task: Task, dirfd: int, path: int, how: int, size: int) -> int:
    # openat2(2): struct open_how is strict: unknown flags, a mode without O_CREAT/O_TMPFILE, unknown
    # resolve bits are EINVAL; a larger struct must have zero tail bytes (E2BIG otherwise)
    if size < S.OPEN_HOW.size:
        raise FsError(errno.EINVAL)
    if size > 4096:
        raise FsError(errno.E2BIG)
    raw = task.read(how, size)
    if any(raw[S.OPEN_HOW.size :]):
        raise FsError(errno.E2BIG)
    flags, mode, resolve = S.OPEN_HOW.unpack_from(raw)
    p = read_path(task, path)
    if flags & ~_VALID_OPEN_FLAGS or flags >> 32:
        raise FsError(errno.EINVAL)
    if mode & ~0o7777 or (mode and not flags & (os.O_CREAT | os.O_TMPFILE & ~os.O_DIRECTORY)):
        raise FsError(errno.EINVAL)
    if resolve & ~RESOLVE_ALL:
        raise FsError(errno.EINVAL)
    return do_open(task, dirfd, p, flags, mode)


@syscall("close", "fd")
def sys_close(task: Task, fd: int) -> int:
    close_fd(task, s32(fd))
    return 0


@syscall("close_range", "fd", "fd", "hex")
def sys_close_range(task: Task, first: int, last: int, flags: int) -> int:
    first &= 0xFFFFFFFF
    last &= 0xFFFFFFFF
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        raise FsError(errno.EINVAL)
    table = fdtable_of(task)
    for fd, _file in list(table.items()):
        if first <= fd <= last:
            if flags & CLOSE_RANGE_CLOEXEC:
                table.set_cloexec(fd, True)
            else:
                close_fd(task, fd)
    return 0


# -- reading and writing ----------------------------------------------------------------------------------


def _read_into(task: Task, file: OpenFile, buf: int, data: bytes, rewind: bool) -> int:
    if data:
        try:
            task.write(buf, data)
        except FsError:
            if rewind and file.advances_pos:
                file.pos -= len(data)
            raise
    return len(data)


@syscall("read", "fd", "ptr", "size")
def sys_read(task: Task, fd: int, buf: int, count: int) -> int:
    file = get_file(task, fd)
    count = min(count, MAX_RW)
    data = blocking(task, file, lambda: file.read(count), reading=True)
    return _read_into(task, file, buf, data, True)


@syscall("write", "fd", "ptr", "size")
def sys_write(task: Task, fd: int, buf: int, count: int) -> int:
    file = get_file(task, fd)
    if not file.writable:
        raise FsError(errno.EBADF)
    data = task.read(buf, min(count, MAX_RW))
    creds = ctx_of(task).creds
    ops = file.ops
    if ops is not None and not ops.seekable and not file.flags & os.O_NONBLOCK:
        return _stream_write(task, file, fd, buf, data, creds)
    return _write_through(task, file, lambda: file.write(data, creds))


def _stream_write(task: Task, file: OpenFile, fd: int, buf: int, data: bytes, creds: Any) -> int:
    """A blocking write to a pipe or socket returns only when everything is written (pipe_write waits
    for room again and again); the progress survives the re-executions of the parked syscall."""
    key = (fd, buf, len(data))
    progress = getattr(task, "write_progress", None)
    done = progress[1] if task.restarting and progress is not None and progress[0] == key else 0
    task.write_progress = None  # type: ignore[attr-defined]
    while done < len(data):
        try:
            n = file.write(data[done:], creds)
        except FsError as exc:
            if exc.errno == errno.EAGAIN:
                task.write_progress = (key, done)  # type: ignore[attr-defined]
                raise block_on(task, [file]) from None
            if exc.errno == errno.EPIPE:
                if done:
                    return done
                sigpipe(task)
            raise
        if n <= 0:
            break
        done += n
    return done


@syscall("pread64", "fd", "ptr", "size", "long")
def sys_pread64(task: Task, fd: int, buf: int, count: int, offset: int) -> int:
    file = get_file(task, fd)
    off = s64(offset)
    data = blocking(task, file, lambda: file.pread(min(count, MAX_RW), off), reading=True)
    return _read_into(task, file, buf, data, False)


@syscall("pwrite64", "fd", "ptr", "size", "long")
def sys_pwrite64(task: Task, fd: int, buf: int, count: int, offset: int) -> int:
    file = get_file(task, fd)
    if not file.writable:
        raise FsError(errno.EBADF)
    data = task.read(buf, min(count, MAX_RW))
    creds = ctx_of(task).creds
    off = s64(offset)
    return _write_through(task, file, lambda: file.pwrite(data, off, creds))


def _iovecs(task: Task, iov: int, iovcnt: int) -> list[tuple[int, int]]:
    cnt = s32(iovcnt)
    if cnt < 0 or cnt > UIO_MAXIOV:
        raise FsError(errno.EINVAL)
    if cnt == 0:
        return []
    vecs = S.unpack_iovecs(task.read(iov, S.IOVEC.size * cnt))
    total = 0
    for _base, length in vecs:
        if length >> 63:
            raise FsError(errno.EINVAL)
        total += length
    if total > (1 << 63) - 1:
        raise FsError(errno.EINVAL)
    return vecs


def _scatter(task: Task, vecs: list[tuple[int, int]], data: bytes) -> None:
    pos = 0
    for base, length in vecs:
        if pos >= len(data):
            break
        chunk = data[pos : pos + length]
        if chunk:
            task.write(base, chunk)
        pos += len(chunk)


def _gather(task: Task, vecs: list[tuple[int, int]]) -> bytes:
    parts = []
    total = 0
    for base, length in vecs:
        length = min(length, MAX_RW - total)
        if length:
            parts.append(task.read(base, length))
            total += length
    return b"".join(parts)


def _do_readv(task: Task, fd: int, iov: int, iovcnt: int, offset: int | None) -> int:
    file = get_file(task, fd)
    vecs = _iovecs(task, iov, iovcnt)
    total = min(sum(n for _, n in vecs), MAX_RW)
    if offset is None:
        data = blocking(task, file, lambda: file.read(total), reading=True)
    else:
        off = offset
        data = blocking(task, file, lambda: file.pread(total, off), reading=True)
    try:
        _scatter(task, vecs, data)
    except FsError:
        if offset is None and file.advances_pos:
            file.pos -= len(data)
        raise
    return len(data)


def _do_writev(task: Task, fd: int, iov: int, iovcnt: int, offset: int | None) -> int:
    file = get_file(task, fd)
    if not file.writable:
        raise FsError(errno.EBADF)
    vecs = _iovecs(task, iov, iovcnt)
    data = _gather(task, vecs)
    creds = ctx_of(task).creds
    if offset is None:
        return _write_through(task, file, lambda: file.write(data, creds))
    off = offset
    return _write_through(task, file, lambda: file.pwrite(data, off, creds))


@syscall("readv", "fd", "ptr", "int")
def sys_readv(task: Task, fd: int, iov: int, iovcnt: int) -> int:
    return _do_readv(task, fd, iov, iovcnt, None)


@syscall("writev", "fd", "ptr", "int")
def sys_writev(task: Task, fd: int, iov: int, iovcnt: int) -> int:
    return _do_writev(task, fd, iov, iovcnt, None)


@syscall("preadv", "fd", "ptr", "int", "long", "long")
def sys_preadv(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int) -> int:
    return _do_readv(task, fd, iov, iovcnt, s64(pos_l))


@syscall("pwritev", "fd", "ptr", "int", "long", "long")
def sys_pwritev(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int) -> int:
    return _do_writev(task, fd, iov, iovcnt, s64(pos_l))


@syscall("preadv2", "fd", "ptr", "int", "long", "long", "hex")
def sys_preadv2(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int, flags: int) -> int:
    if flags & ~0x1F:
        raise FsError(errno.EOPNOTSUPP)
    off = s64(pos_l)
    return _do_readv(task, fd, iov, iovcnt, None if off == -1 else off)


@syscall("pwritev2", "fd", "ptr", "int", "long", "long", "hex")
def sys_pwritev2(task: Task, fd: int, iov: int, iovcnt: int, pos_l: int, pos_h: int, flags: int) -> int:
    if flags & ~0x1F:
        raise FsError(errno.EOPNOTSUPP)
    off = s64(pos_l)
    return _do_writev(task, fd, iov, iovcnt, None if off == -1 else off)


@syscall("lseek", "fd", "long", "int", ret="long")
def sys_lseek(task: Task, fd: int, offset: int, whence: int) -> int:
    return get_file(task, fd).lseek(s64(offset), s32(whence))


# -- stat -------------------------------------------------------------------------------------------------


def _stat_bytes(st: Any) -> bytes:
    return S.pack_stat(st)


def _fstatat(task: Task, dirfd: int, path: bytes, flags: int) -> Any:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | S.AT_STATX_SYNC_TYPE):
        raise FsError(errno.EINVAL)
    if not path and flags & AT_EMPTY_PATH:
        dirf = _dirf(task, dirfd)
        if dirf is not None:
            return dirf.stat()
    ctx = ctx_of(task)
    return files_of(task).ns.fstatat(ctx, _dirf_for(task, dirfd, path), path, flags)


@syscall("stat", "path", "ptr")
def sys_stat(task: Task, path: int, buf: int) -> int:
    st = _fstatat(task, AT_FDCWD, read_path(task, path), 0)
    task.write(buf, _stat_bytes(st))
    return 0


@syscall("lstat", "path", "ptr")
def sys_lstat(task: Task, path: int, buf: int) -> int:
    st = _fstatat(task, AT_FDCWD, read_path(task, path), AT_SYMLINK_NOFOLLOW)
    task.write(buf, _stat_bytes(st))
    return 0


@syscall("fstat", "fd", "ptr")
def sys_fstat(task: Task, fd: int, buf: int) -> int:
    task.write(buf, _stat_bytes(get_file(task, fd).stat()))
    return 0


@syscall("newfstatat", "atfd", "path", "ptr", "hex")
def sys_newfstatat(task: Task, dirfd: int, path: int, buf: int, flags: int) -> int:
    p = read_path(task, path) if path or not flags & AT_EMPTY_PATH else b""
    st = _fstatat(task, dirfd, p, flags & 0xFFFFFFFF)
    task.write(buf, _stat_bytes(st))
    return 0


@syscall("statx", "atfd", "path", "hex", "hex", "ptr")
def sys_statx(task: Task, dirfd: int, path: int, flags: int, mask: int, buf: int) -> int:
    flags &= 0xFFFFFFFF
    mask &= 0xFFFFFFFF
    if flags & ~STATX_FLAGS or flags & S.AT_STATX_SYNC_TYPE == S.AT_STATX_SYNC_TYPE:
        raise FsError(errno.EINVAL)
    if mask & S.STATX__RESERVED:
        raise FsError(errno.EINVAL)
    p = read_path(task, path) if path or not flags & AT_EMPTY_PATH else b""
    st = _fstatat(task, dirfd, p, flags & ~S.AT_STATX_SYNC_TYPE)
    mnt_id = _mount_id_of(task, dirfd, p, flags)
    data = S.pack_statx(st, S.STATX_BASIC_STATS | S.STATX_MNT_ID, mnt_id)
    task.write(buf, data)
    return 0


def _mount_id_of(task: Task, dirfd: int, path: bytes, flags: int) -> int:
    try:
        if not path and flags & AT_EMPTY_PATH:
            dirf = _dirf(task, dirfd)
            loc = dirf.loc if dirf is not None else ctx_of(task).cwd
        else:
            loc, _ = files_of(task).ns.resolve(ctx_of(task), _dirf_for(task, dirfd, path), path, flags & 0x1100)
        return int(loc.mount.id)
    except FsError:
        return 0


# -- directories ------------------------------------------------------------------------------------------


def _getdents(task: Task, fd: int, buf: int, count: int, pack: Callable[[int, int, int, bytes], bytes]) -> int:
    file = get_file(task, fd)
    count = s32(count) if count >> 31 else count
    if count < 0:
        raise FsError(errno.EINVAL)
    start = file.pos
    # the old linux_dirent is up to 8 bytes longer per entry than linux_dirent64: ask the VFS for what
    # fits, then trim to the real record sizes
    entries = file.getdents(count)
    out = bytearray()
    taken = 0
    for e in entries:
        rec = pack(e.ino, e.offset, e.dtype, e.name)
        if len(out) + len(rec) > count:
            break
        out += rec
        taken += 1
    if entries and taken == 0:
        file.pos = start
        raise FsError(errno.EINVAL)
    if taken < len(entries):
        file.pos = entries[taken - 1].offset
    if out:
        try:
            task.write(buf, bytes(out))
        except FsError:
            file.pos = start
            raise
    return len(out)


@syscall("getdents64", "fd", "ptr", "size")
def sys_getdents64(task: Task, fd: int, buf: int, count: int) -> int:
    return _getdents(task, fd, buf, count, S.pack_dirent64)


@syscall("getdents", "fd", "ptr", "size")
def sys_getdents(task: Task, fd: int, buf: int, count: int) -> int:
    return _getdents(task, fd, buf, count, S.pack_dirent)


@syscall("mkdir", "path", "mode")
def sys_mkdir(task: Task, path: int, mode: int) -> int:
    return sys_mkdirat(task, AT_FDCWD, path, mode)


@syscall("mkdirat", "atfd", "path", "mode")
def sys_mkdirat(task: Task, dirfd: int, path: int, mode: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.mkdirat(ctx_of(task), _dirf_for(task, dirfd, p), p, mode & 0o7777)
    return 0


@syscall("mknod", "path", "mode", "hex")
def sys_mknod(task: Task, path: int, mode: int, dev: int) -> int:
    return sys_mknodat(task, AT_FDCWD, path, mode, dev)


@syscall("mknodat", "atfd", "path", "mode", "hex")
def sys_mknodat(task: Task, dirfd: int, path: int, mode: int, dev: int) -> int:
    p = read_path(task, path)
    # new_decode_dev of the 32-bit dev_t the syscall takes
    dev &= 0xFFFFFFFF
    rdev = os.makedev((dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00))
    files_of(task).ns.mknodat(ctx_of(task), _dirf_for(task, dirfd, p), p, mode & 0xFFFF, rdev)
    return 0


@syscall("rmdir", "path")
def sys_rmdir(task: Task, path: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.unlinkat(ctx_of(task), None, p, AT_REMOVEDIR)
    return 0


@syscall("unlink", "path")
def sys_unlink(task: Task, path: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.unlinkat(ctx_of(task), None, p, 0)
    return 0


@syscall("unlinkat", "atfd", "path", "hex")
def sys_unlinkat(task: Task, dirfd: int, path: int, flags: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.unlinkat(ctx_of(task), _dirf_for(task, dirfd, p), p, s32(flags))
    return 0


@syscall("rename", "path", "path")
def sys_rename(task: Task, old: int, new: int) -> int:
    return sys_renameat2(task, AT_FDCWD, old, AT_FDCWD, new, 0)


@syscall("renameat", "atfd", "path", "atfd", "path")
def sys_renameat(task: Task, olddirfd: int, old: int, newdirfd: int, new: int) -> int:
    return sys_renameat2(task, olddirfd, old, newdirfd, new, 0)


@syscall("renameat2", "atfd", "path", "atfd", "path", "hex")
def sys_renameat2(task: Task, olddirfd: int, old: int, newdirfd: int, new: int, flags: int) -> int:
    o = read_path(task, old)
    n = read_path(task, new)
    ns = files_of(task).ns
    ns.renameat2(ctx_of(task), _dirf_for(task, olddirfd, o), o, _dirf_for(task, newdirfd, n), n, flags & 0xFFFFFFFF)
    return 0


@syscall("link", "path", "path")
def sys_link(task: Task, old: int, new: int) -> int:
    return sys_linkat(task, AT_FDCWD, old, AT_FDCWD, new, 0)


@syscall("linkat", "atfd", "path", "atfd", "path", "hex")
def sys_linkat(task: Task, olddirfd: int, old: int, newdirfd: int, new: int, flags: int) -> int:
    flags = s32(flags)
    o = read_path(task, old) if old or not flags & AT_EMPTY_PATH else b""
    n = read_path(task, new)
    olddirf = _dirf(task, olddirfd) if not o else _dirf_for(task, olddirfd, o)
    ns = files_of(task).ns
    ns.linkat(ctx_of(task), olddirf, o, _dirf_for(task, newdirfd, n), n, flags)
    return 0


@syscall("symlink", "path", "path")
def sys_symlink(task: Task, target: int, path: int) -> int:
    return sys_symlinkat(task, target, AT_FDCWD, path)


@syscall("symlinkat", "path", "atfd", "path")
def sys_symlinkat(task: Task, target: int, dirfd: int, path: int) -> int:
    t = read_path(task, target)
    p = read_path(task, path)
    files_of(task).ns.symlinkat(ctx_of(task), t, _dirf_for(task, dirfd, p), p)
    return 0


@syscall("readlink", "path", "ptr", "int")
def sys_readlink(task: Task, path: int, buf: int, size: int) -> int:
    return sys_readlinkat(task, AT_FDCWD, path, buf, size)


@syscall("readlinkat", "atfd", "path", "ptr", "int")
def sys_readlinkat(task: Task, dirfd: int, path: int, buf: int, size: int) -> int:
    p = read_path(task, path)
    n = s32(size)
    if n <= 0:
        raise FsError(errno.EINVAL)
    if not p:
        # readlinkat(fd, ""): the symlink the fd itself names (opened O_PATH|O_NOFOLLOW)
        dirf = _dirf(task, dirfd)
        if dirf is None:
            raise FsError(errno.ENOENT)
    else:
        dirf = _dirf_for(task, dirfd, p)
    target = files_of(task).ns.readlinkat(ctx_of(task), dirf, p)
    out = target[:n]
    task.write(buf, out)
    return len(out)


# -- attributes -------------------------------------------------------------------------------------------


@syscall("chmod", "path", "mode")
def sys_chmod(task: Task, path: int, mode: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.fchmodat(ctx_of(task), None, p, mode & 0o7777, 0)
    return 0


@syscall("fchmodat", "atfd", "path", "mode")
def sys_fchmodat(task: Task, dirfd: int, path: int, mode: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.fchmodat(ctx_of(task), _dirf_for(task, dirfd, p), p, mode & 0o7777, 0)
    return 0


@syscall("fchmod", "fd", "mode")
def sys_fchmod(task: Task, fd: int, mode: int) -> int:
    get_file(task, fd).fchmod(ctx_of(task).creds, mode & 0o7777)
    return 0


def _id(v: int) -> int:
    v &= 0xFFFFFFFF
    return -1 if v == 0xFFFFFFFF else v


@syscall("chown", "path", "int", "int")
def sys_chown(task: Task, path: int, uid: int, gid: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.fchownat(ctx_of(task), None, p, _id(uid), _id(gid), 0)
    return 0


@syscall("lchown", "path", "int", "int")
def sys_lchown(task: Task, path: int, uid: int, gid: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.fchownat(ctx_of(task), None, p, _id(uid), _id(gid), AT_SYMLINK_NOFOLLOW)
    return 0


@syscall("fchownat", "atfd", "path", "int", "int", "hex")
def sys_fchownat(task: Task, dirfd: int, path: int, uid: int, gid: int, flags: int) -> int:
    flags = s32(flags)
    p = read_path(task, path) if path or not flags & AT_EMPTY_PATH else b""
    dirf = _dirf(task, dirfd) if not p else _dirf_for(task, dirfd, p)
    files_of(task).ns.fchownat(ctx_of(task), dirf, p, _id(uid), _id(gid), flags)
    return 0


@syscall("fchown", "fd", "int", "int")
def sys_fchown(task: Task, fd: int, uid: int, gid: int) -> int:
    get_file(task, fd).fchown(ctx_of(task).creds, _id(uid), _id(gid))
    return 0


def _times_from_timespecs(task: Task, addr: int) -> Any:
    if not addr:
        return None
    a_s, a_n, m_s, m_n = S.TIMESPEC.unpack(task.read(addr, 16)) + S.TIMESPEC.unpack(task.read(addr + 16, 16))
    return ((a_s, a_n), (m_s, m_n))


@syscall("utimensat", "atfd", "path", "ptr", "hex")
def sys_utimensat(task: Task, dirfd: int, path: int, times: int, flags: int) -> int:
    t = _times_from_timespecs(task, times)
    flags = s32(flags)
    ns = files_of(task).ns
    ctx = ctx_of(task)
    if t is not None and t[0][1] == UTIME_OMIT and t[1][1] == UTIME_OMIT:
        return 0
    if not path:
        # futimens: the fd itself (AT_SYMLINK_NOFOLLOW is EINVAL here)
        if flags & ~AT_EMPTY_PATH & ~AT_SYMLINK_NOFOLLOW:
            raise FsError(errno.EINVAL)
        dirf = _dirf(task, dirfd)
        if dirf is None:
            raise FsError(errno.EFAULT)
        ns.utimensat(ctx, dirf, None, t, 0)
        return 0
    p = read_path(task, path)
    if not p and flags & AT_EMPTY_PATH:
        dirf = _dirf(task, dirfd)
        if dirf is not None:
            ns.utimensat(ctx, dirf, None, t, 0)
            return 0
    ns.utimensat(ctx, _dirf_for(task, dirfd, p), p, t, flags)
    return 0


def _times_from_timevals(task: Task, addr: int) -> Any:
    if not addr:
        return None
    a_s, a_u = S.TIMESPEC.unpack(task.read(addr, 16))
    m_s, m_u = S.TIMESPEC.unpack(task.read(addr + 16, 16))
    if not (0 <= a_u < 1_000_000 and 0 <= m_u < 1_000_000):
        raise FsError(errno.EINVAL)
    return ((a_s, a_u * 1000), (m_s, m_u * 1000))


@syscall("utimes", "path", "ptr")
def sys_utimes(task: Task, path: int, times: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.utimensat(ctx_of(task), None, p, _times_from_timevals(task, times), 0)
    return 0


@syscall("futimesat", "atfd", "path", "ptr")
def sys_futimesat(task: Task, dirfd: int, path: int, times: int) -> int:
    p = read_path(task, path)
    t = _times_from_timevals(task, times)
    files_of(task).ns.utimensat(ctx_of(task), _dirf_for(task, dirfd, p), p, t, 0)
    return 0


@syscall("utime", "path", "ptr")
def sys_utime(task: Task, path: int, times: int) -> int:
    p = read_path(task, path)
    t = None
    if times:
        a, m = S.UTIMBUF.unpack(task.read(times, 16))
        t = ((a, 0), (m, 0))
    files_of(task).ns.utimensat(ctx_of(task), None, p, t, 0)
    return 0


@syscall("truncate", "path", "long")
def sys_truncate(task: Task, path: int, length: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.truncate(ctx_of(task), p, s64(length))
    return 0


@syscall("ftruncate", "fd", "long")
def sys_ftruncate(task: Task, fd: int, length: int) -> int:
    file = get_file(task, fd)
    if s64(length) < 0:
        raise FsError(errno.EINVAL)
    file.truncate(s64(length), ctx_of(task).creds)
    return 0


@syscall("fallocate", "fd", "hex", "long", "long")
def sys_fallocate(task: Task, fd: int, mode: int, offset: int, length: int) -> int:
    get_file(task, fd).fallocate(s32(mode), s64(offset), s64(length), ctx_of(task).creds)
    return 0


@syscall("access", "path", "int")
def sys_access(task: Task, path: int, mode: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.faccessat(ctx_of(task), None, p, s32(mode), 0)
    return 0


@syscall("faccessat", "atfd", "path", "int")
def sys_faccessat(task: Task, dirfd: int, path: int, mode: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.faccessat(ctx_of(task), _dirf_for(task, dirfd, p), p, s32(mode), 0)
    return 0


@syscall("faccessat2", "atfd", "path", "int", "hex")
def sys_faccessat2(task: Task, dirfd: int, path: int, mode: int, flags: int) -> int:
    flags = s32(flags)
    p = read_path(task, path) if path or not flags & AT_EMPTY_PATH else b""
    dirf = _dirf(task, dirfd) if not p else _dirf_for(task, dirfd, p)
    files_of(task).ns.faccessat(ctx_of(task), dirf, p, s32(mode), flags)
    return 0


@syscall("umask", "mode")
def sys_umask(task: Task, mask: int) -> int:
    proc = task.process
    old = proc.umask
    proc.umask = mask & 0o777
    if proc.fs is not None:
        proc.fs.umask = proc.umask
    return old


# -- working directory and root ---------------------------------------------------------------------------


@syscall("chdir", "path")
def sys_chdir(task: Task, path: int) -> int:
    files_of(task).ns.chdir(ctx_of(task), read_path(task, path))
    return 0


@syscall("fchdir", "fd")
def sys_fchdir(task: Task, fd: int) -> int:
    files_of(task).ns.fchdir(ctx_of(task), get_file(task, fd))
    return 0


@syscall("chroot", "path")
def sys_chroot(task: Task, path: int) -> int:
    files_of(task).ns.chroot(ctx_of(task), read_path(task, path))
    return 0


@syscall("getcwd", "ptr", "size")
def sys_getcwd(task: Task, buf: int, size: int) -> int:
    cwd = files_of(task).ns.getcwd(ctx_of(task)) + b"\0"
    if len(cwd) > size:
        raise FsError(errno.ERANGE)
    task.write(buf, cwd)
    return len(cwd)


# -- the fd table -----------------------------------------------------------------------------------------


@syscall("dup", "fd")
def sys_dup(task: Task, fd: int) -> int:
    return fdtable_of(task).dup(s32(fd))


@syscall("dup2", "fd", "fd")
def sys_dup2(task: Task, old: int, new: int) -> int:
    table = fdtable_of(task)
    o, n = s32(old), s32(new)
    file = table.get(o)
    if o != n and 0 <= n < table.rlimit:
        try:
            release_locks(task.process, table.get(n))
        except FsError:
            pass
    del file
    return table.dup2(o, n)


@syscall("dup3", "fd", "fd", "oflags")
def sys_dup3(task: Task, old: int, new: int, flags: int) -> int:
    table = fdtable_of(task)
    o, n = s32(old), s32(new)
    if flags & ~O_CLOEXEC or o == n:
        raise FsError(errno.EINVAL)
    table.get(o)
    if 0 <= n < table.rlimit:
        try:
            release_locks(task.process, table.get(n))
        except FsError:
            pass
    return table.dup3(o, n, s32(flags))


def _flock_range(file: OpenFile, whence: int, start: int, length: int) -> tuple[int, int]:
    if whence == os.SEEK_SET:
        base = 0
    elif whence == os.SEEK_CUR:
        base = file.pos
    elif whence == os.SEEK_END:
        base = file.stat().st_size
    else:
        raise FsError(errno.EINVAL)
    start += base
    if length > 0:
        end = start + length - 1
    elif length == 0:
        end = OFFSET_MAX
    else:
        end = start - 1
        start += length
    if start < 0:
        raise FsError(errno.EINVAL)
    return start, end


def _fcntl_lock(task: Task, file: OpenFile, cmd: int, arg: int) -> int:
    ltype, whence, start, length, pid = S.unpack_flock(task.read(arg, S.FLOCK.size))
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    if ofd and pid != 0:
        raise FsError(errno.EINVAL)
    if ltype not in (F_RDLCK, F_WRLCK, F_UNLCK):
        raise FsError(errno.EINVAL)
    lo, hi = _flock_range(file, whence, start, length)
    locks = files_of(task).locks
    key = (file.loc.mount.dev, file.loc.ino)
    owner = ("ofd", id(file)) if ofd else ("posix", task.process.pid)
    if cmd in (F_GETLK, F_OFD_GETLK):
        if ltype == F_UNLCK:
            raise FsError(errno.EINVAL)
        lk = locks.conflict(key, owner, ltype, lo, hi)
        if lk is None:
            out = S.pack_flock(F_UNLCK, whence, start, length, pid)
        else:
            ln = 0 if lk.end == OFFSET_MAX else lk.end - lk.start + 1
            out = S.pack_flock(lk.type, os.SEEK_SET, lk.start, ln, lk.pid)
        task.write(arg, out)
        return 0
    if (ltype == F_RDLCK and not file.readable) or (ltype == F_WRLCK and not file.writable):
        raise FsError(errno.EBADF)
    try:
        locks.set(key, owner, -1 if ofd else task.process.pid, ltype, lo, hi)
    except FsError as exc:
        if exc.errno == errno.EAGAIN and cmd in (F_SETLKW, F_OFD_SETLKW):
            raise Block([locks.waitq(key)]) from None
        raise
    return 0


@syscall("fcntl", "fd", "int", "hex")
def sys_fcntl(task: Task, fd: int, cmd: int, arg: int) -> int:
    table = fdtable_of(task)
    fd = s32(fd)
    cmd = s32(cmd)
    file = table.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        minfd = s32(arg)
        if minfd < 0:
            raise FsError(errno.EINVAL)
        return table.dup(fd, minfd, cmd == F_DUPFD_CLOEXEC)
    if cmd == F_GETFD:
        return 1 if table.get_cloexec(fd) else 0
    if cmd == F_SETFD:
        table.set_cloexec(fd, bool(arg & 1))
        return 0
    if cmd == F_GETFL:
        return file.getfl()
    if file.flags & os.O_PATH:
        raise FsError(errno.EBADF)
    if cmd == F_SETFL:
        file.setfl(arg & 0xFFFFFFFF)
        return 0
    if cmd in (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW):
        return _fcntl_lock(task, file, cmd, arg)
    if cmd == F_GETOWN:
        return int(getattr(file.ops, "owner", 0) or 0)
    if cmd == F_SETOWN:
        if file.ops is not None:
            file.ops.owner = s32(arg)
        return 0
    if cmd in (F_GETSIG, F_GETLEASE):
        return 2 if cmd == F_GETLEASE else 0  # F_UNLCK: no lease
    if cmd in (F_SETSIG, F_NOTIFY):
        return 0
    if cmd == F_SETLEASE:
        raise FsError(errno.EAGAIN if s32(arg) != 2 else errno.EINVAL)
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        pipe = getattr(file.ops, "pipe", None)
        if pipe is None:
            raise FsError(errno.EBADF)
        if cmd == F_SETPIPE_SZ:
            want = max(s32(arg), 4096)
            size = 4096
            while size < want:
                size <<= 1
            if size > 1 << 20:
                raise FsError(errno.EPERM)
            if len(pipe.buf) > size:
                raise FsError(errno.EBUSY)
            pipe.capacity = size
        return int(pipe.capacity)
    if cmd in (F_ADD_SEALS, F_GET_SEALS):
        raise FsError(errno.EINVAL)
    raise FsError(errno.EINVAL)


@syscall("flock", "fd", "int")
def sys_flock(task: Task, fd: int, op: int) -> int:
    file = get_file(task, fd)
    op = s32(op)
    nb = op & LOCK_NB
    base = op & ~LOCK_NB
    if base not in (LOCK_SH, LOCK_EX, LOCK_UN):
        raise FsError(errno.EINVAL)
    if file.flags & os.O_PATH:
        raise FsError(errno.EBADF)
    locks = files_of(task).locks
    key = (file.loc.mount.dev, file.loc.ino)
    try:
        locks.flock(key, file, base)
    except FsError as exc:
        if exc.errno == errno.EAGAIN and not nb:
            raise Block([locks.waitq(key)]) from None
        raise
    return 0


# -- ioctl ------------------------------------------------------------------------------------------------


@syscall("ioctl", "fd", "hex", "hex")
def sys_ioctl(task: Task, fd: int, request: int, arg: int) -> int:
    table = fdtable_of(task)
    fd = s32(fd)
    file = table.get(fd)
    request &= 0xFFFFFFFF
    if file.flags & os.O_PATH:
        raise FsError(errno.EBADF)
    # do_vfs_ioctl's generic requests
    if request in (FIOCLEX, FIONCLEX):
        table.set_cloexec(fd, request == FIOCLEX)
        return 0
    if request == FIONBIO:
        on = task.read_u32(arg)
        file.flags = file.flags | os.O_NONBLOCK if on else file.flags & ~os.O_NONBLOCK
        return 0
    if request == FIOASYNC:
        task.read_u32(arg)
        return 0
    ops = file.ops
    if ops is None:
        st = file.stat()
        if request == FIONREAD and stat.S_ISREG(st.st_mode):
            task.write(arg, max(st.st_size - file.pos, 0).to_bytes(4, "little", signed=True))
            return 0
        raise FsError(errno.ENOTTY)
    from emulator.syscalls.tty import tty_ioctl

    return tty_ioctl(task, file, request, arg)


# -- pipes ------------------------------------------------------------------------------------------------


@syscall("pipe", "ptr")
def sys_pipe(task: Task, fds: int) -> int:
    return sys_pipe2(task, fds, 0)


@syscall("pipe2", "ptr", "oflags")
def sys_pipe2(task: Task, fds: int, flags: int) -> int:
    flags = s32(flags)
    if flags & ~(os.O_NONBLOCK | os.O_CLOEXEC | os.O_DIRECT):
        raise FsError(errno.EINVAL)
    task.write(fds, bytes(8))  # EFAULT before anything is created
    r, w = files_of(task).ns.pipe(ctx_of(task), flags)
    install_pair(task, r, w, bool(flags & O_CLOEXEC), fds)
    return 0


def install_pair(task: Task, a: OpenFile, b: OpenFile, cloexec: bool, addr: int) -> None:
    """pipe2/socketpair: install both files (neither on failure) and store the two fds at ``addr``."""
    table = fdtable_of(task)
    try:
        x = table.install(a, cloexec)
    except FsError:
        b.close()
        raise
    try:
        y = table.install(b, cloexec)
    except FsError:
        table.close(x)
        raise
    task.write(addr, x.to_bytes(4, "little") + y.to_bytes(4, "little"))


# -- copying between files ----------------------------------------------------------------------------------

CHUNK = 1 << 20


def _copy(task: Task, src: OpenFile, dst: OpenFile, count: int, src_off: int | None, dst_off: int | None) -> int:
    """Copy up to ``count`` bytes; returns how many. Blocks (EAGAIN) only when nothing moved."""
    creds = ctx_of(task).creds
    done = 0
    while done < count:
        n = min(count - done, CHUNK)
        try:
            if src_off is None:
                data = src.pread(n, src.pos) if src.ops is None or src.ops.seekable else src.read(n)
            else:
                data = src.pread(n, src_off + done)
        except FsError as exc:
            if exc.errno == errno.EAGAIN and done:
                break
            raise
        if not data:
            break
        try:
            w = dst.pwrite(data, dst_off + done, creds) if dst_off is not None else dst.write(data, creds)
        except FsError as exc:
            if exc.errno == errno.EAGAIN and done:
                break
            raise
        if src_off is None and src.advances_pos:
            src.pos += w
        done += w
        if w < len(data) or len(data) < n:
            break
    return done


@syscall("sendfile", "fd", "fd", "ptr", "size")
def sys_sendfile(task: Task, out_fd: int, in_fd: int, offset: int, count: int) -> int:
    dst = get_file(task, out_fd)
    src = get_file(task, in_fd)
    if not src.readable or not dst.writable:
        raise FsError(errno.EBADF)
    if dst.flags & os.O_APPEND:
        raise FsError(errno.EINVAL)
    if src.ops is not None and not src.ops.seekable:
        raise FsError(errno.EINVAL)  # the input must be mmap-able (a file), not a pipe or socket
    if stat.S_ISDIR(src.stat().st_mode):
        raise FsError(errno.EINVAL)
    count = min(count, MAX_RW)
    off = None
    if offset:
        off = s64(task.read_u64(offset))
        if off < 0:
            raise FsError(errno.EINVAL)
    n = blocking(task, dst, lambda: _copy(task, src, dst, count, off, None))
    if offset and off is not None:
        task.write_u64(offset, off + n)
    return n


@syscall("copy_file_range", "fd", "ptr", "fd", "ptr", "size", "hex")
def sys_copy_file_range(task: Task, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int, flags: int) -> int:
    src = get_file(task, fd_in)
    dst = get_file(task, fd_out)
    if flags:
        raise FsError(errno.EINVAL)
    if not src.readable or not dst.writable or dst.flags & os.O_APPEND:
        raise FsError(errno.EBADF)
    sst, dst_st = src.stat(), dst.stat()
    if stat.S_ISDIR(sst.st_mode) or stat.S_ISDIR(dst_st.st_mode):
        raise FsError(errno.EISDIR)
    if not stat.S_ISREG(sst.st_mode) or not stat.S_ISREG(dst_st.st_mode):
        raise FsError(errno.EINVAL)
    ioff = s64(task.read_u64(off_in)) if off_in else src.pos
    ooff = s64(task.read_u64(off_out)) if off_out else dst.pos
    if ioff < 0 or ooff < 0:
        raise FsError(errno.EINVAL)
    length = min(length, MAX_RW)
    if (sst.st_dev, sst.st_ino) == (dst_st.st_dev, dst_st.st_ino) and ioff < ooff + length and ooff < ioff + length:
        raise FsError(errno.EINVAL)
    n = _copy(task, src, dst, length, ioff, ooff)
    if off_in:
        task.write_u64(off_in, ioff + n)
    else:
        src.pos = ioff + n
    if off_out:
        task.write_u64(off_out, ooff + n)
    else:
        dst.pos = ooff + n
    return n


# -- filesystems --------------------------------------------------------------------------------------------


def _statfs_bytes(st: Any, dev: int) -> bytes:
    return S.pack_statfs(
        st.f_type,
        st.f_bsize,
        st.f_blocks,
        st.f_bfree,
        st.f_bavail,
        st.f_files,
        st.f_ffree,
        (dev & 0xFFFFFFFF, dev >> 32),
        st.f_namelen,
        st.f_frsize,
        st.f_flags,
    )


@syscall("statfs", "path", "ptr")
def sys_statfs(task: Task, path: int, buf: int) -> int:
    p = read_path(task, path)
    ns = files_of(task).ns
    loc, _ = ns.resolve(ctx_of(task), None, p)
    task.write(buf, _statfs_bytes(ns.statfs_of(loc), loc.mount.dev))
    return 0


@syscall("fstatfs", "fd", "ptr")
def sys_fstatfs(task: Task, fd: int, buf: int) -> int:
    file = get_file(task, fd)
    task.write(buf, _statfs_bytes(file.statfs(), file.loc.mount.dev))
    return 0


@syscall("fsync", "fd")
def sys_fsync(task: Task, fd: int) -> int:
    get_file(task, fd).fsync(False)
    return 0


@syscall("fdatasync", "fd")
def sys_fdatasync(task: Task, fd: int) -> int:
    get_file(task, fd).fsync(True)
    return 0


@syscall("syncfs", "fd")
def sys_syncfs(task: Task, fd: int) -> int:
    get_file(task, fd).loc.mount.fs.sync()
    return 0


@syscall("sync")
def sys_sync(task: Task) -> int:
    files_of(task).ns.root_mount.fs.sync()
    return 0


@syscall("sync_file_range", "fd", "long", "long", "hex")
def sys_sync_file_range(task: Task, fd: int, offset: int, nbytes: int, flags: int) -> int:
    if flags & ~7 or s64(offset) < 0 or s64(nbytes) < 0:
        raise FsError(errno.EINVAL)
    get_file(task, fd).fsync(True)
    return 0


@syscall("fadvise64", "fd", "long", "long", "int")
def sys_fadvise64(task: Task, fd: int, offset: int, length: int, advice: int) -> int:
    file = get_file(task, fd)
    if file.ops is not None and not file.ops.seekable:
        raise FsError(errno.ESPIPE)
    if not 0 <= s32(advice) <= 5 or s64(length) < 0:
        raise FsError(errno.EINVAL)
    return 0


@syscall("readahead", "fd", "long", "size")
def sys_readahead(task: Task, fd: int, offset: int, count: int) -> int:
    file = get_file(task, fd)
    if file.ops is not None or not stat.S_ISREG(file.stat().st_mode):
        raise FsError(errno.EINVAL)
    return 0


# -- extended attributes ------------------------------------------------------------------------------------


def _xattr_name(task: Task, addr: int) -> bytes:
    try:
        name = task.read_cstring(addr, XATTR_NAME_MAX + 1)
    except FsError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise FsError(errno.ERANGE) from None
        raise
    if not name:
        raise FsError(errno.ERANGE)
    return name


def _xattr_out(task: Task, value: bytes, buf: int, size: int) -> int:
    size = size & 0xFFFFFFFFFFFFFFFF
    if size == 0:
        return len(value)
    if len(value) > size:
        raise FsError(errno.ERANGE)
    task.write(buf, value)
    return len(value)


def _getxattr(task: Task, path: int, name: int, buf: int, size: int, follow: bool) -> int:
    p = read_path(task, path)
    n = _xattr_name(task, name)
    size = min(size, XATTR_SIZE_MAX) if size else 0
    value = files_of(task).ns.getxattr(ctx_of(task), p, n, follow, None)
    return _xattr_out(task, value, buf, size)


def _setxattr(task: Task, path: int, name: int, value: int, size: int, flags: int, follow: bool) -> int:
    p = read_path(task, path)
    n = _xattr_name(task, name)
    if size > XATTR_SIZE_MAX:
        raise FsError(errno.E2BIG)
    v = task.read(value, size) if size else b""
    files_of(task).ns.setxattr(ctx_of(task), p, n, v, s32(flags), follow)
    return 0


def _list_out(task: Task, names: list[bytes], buf: int, size: int) -> int:
    data = b"".join(n + b"\0" for n in names)
    if size == 0:
        return len(data)
    if len(data) > size:
        raise FsError(errno.ERANGE)
    task.write(buf, data)
    return len(data)


@syscall("getxattr", "path", "str", "ptr", "size")
def sys_getxattr(task: Task, path: int, name: int, buf: int, size: int) -> int:
    return _getxattr(task, path, name, buf, size, True)


@syscall("lgetxattr", "path", "str", "ptr", "size")
def sys_lgetxattr(task: Task, path: int, name: int, buf: int, size: int) -> int:
    return _getxattr(task, path, name, buf, size, False)


@syscall("fgetxattr", "fd", "str", "ptr", "size")
def sys_fgetxattr(task: Task, fd: int, name: int, buf: int, size: int) -> int:
    file = get_file(task, fd)
    n = _xattr_name(task, name)
    return _xattr_out(task, file.fgetxattr(ctx_of(task).creds, n, None), buf, size)


@syscall("setxattr", "path", "str", "ptr", "size", "hex")
def sys_setxattr(task: Task, path: int, name: int, value: int, size: int, flags: int) -> int:
    return _setxattr(task, path, name, value, size, flags, True)


@syscall("lsetxattr", "path", "str", "ptr", "size", "hex")
def sys_lsetxattr(task: Task, path: int, name: int, value: int, size: int, flags: int) -> int:
    return _setxattr(task, path, name, value, size, flags, False)


@syscall("fsetxattr", "fd", "str", "ptr", "size", "hex")
def sys_fsetxattr(task: Task, fd: int, name: int, value: int, size: int, flags: int) -> int:
    file = get_file(task, fd)
    n = _xattr_name(task, name)
    if size > XATTR_SIZE_MAX:
        raise FsError(errno.E2BIG)
    v = task.read(value, size) if size else b""
    file.fsetxattr(ctx_of(task).creds, n, v, s32(flags))
    return 0


@syscall("listxattr", "path", "ptr", "size")
def sys_listxattr(task: Task, path: int, buf: int, size: int) -> int:
    names = files_of(task).ns.listxattr(ctx_of(task), read_path(task, path), True, None)
    return _list_out(task, names, buf, size)


@syscall("llistxattr", "path", "ptr", "size")
def sys_llistxattr(task: Task, path: int, buf: int, size: int) -> int:
    names = files_of(task).ns.listxattr(ctx_of(task), read_path(task, path), False, None)
    return _list_out(task, names, buf, size)


@syscall("flistxattr", "fd", "ptr", "size")
def sys_flistxattr(task: Task, fd: int, buf: int, size: int) -> int:
    names = get_file(task, fd).flistxattr(ctx_of(task).creds, None)
    return _list_out(task, names, buf, size)


@syscall("removexattr", "path", "str")
def sys_removexattr(task: Task, path: int, name: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.removexattr(ctx_of(task), p, _xattr_name(task, name), True)
    return 0


@syscall("lremovexattr", "path", "str")
def sys_lremovexattr(task: Task, path: int, name: int) -> int:
    p = read_path(task, path)
    files_of(task).ns.removexattr(ctx_of(task), p, _xattr_name(task, name), False)
    return 0


@syscall("fremovexattr", "fd", "str")
def sys_fremovexattr(task: Task, fd: int, name: int) -> int:
    get_file(task, fd).fremovexattr(ctx_of(task).creds, _xattr_name(task, name))
    return 0


# -- memfd ------------------------------------------------------------------------------------------------

MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB = 1, 2, 4
MFD_NAME_MAX = 249  # NAME_MAX - strlen("memfd:")


@syscall("memfd_create", "str", "hex")
def sys_memfd_create(task: Task, name: int, flags: int) -> int:
    """An anonymous regular file (stored like a pipe's inode, on the internal pipefs TmpFs)."""
    flags &= 0xFFFFFFFF
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB):
        raise FsError(errno.EINVAL)
    if flags & MFD_HUGETLB:
        raise FsError(errno.EINVAL)
    try:
        label = task.read_cstring(name, MFD_NAME_MAX + 1)
    except FsError as exc:
        raise FsError(errno.EINVAL if exc.errno == errno.ENAMETOOLONG else exc.errno or errno.EFAULT) from None
    from lxfs.vfs.file import OpenFile as _OpenFile

    ctx = ctx_of(task)
    ns = files_of(task).ns
    loc = ns.anon_inode(ctx, stat.S_IFREG | 0o777)
    file = _OpenFile(ns, loc, os.O_RDWR | 0o100000, None, ctx.creds, None, b"/memfd:" + label + b" (deleted)")
    return _install(task, file, bool(flags & MFD_CLOEXEC))


# -- splice and tee (fs/splice.c): one side a pipe; the data moves through Python, not pages ---------------

SPLICE_F_NONBLOCK = 2


def _pipe_of(file: OpenFile) -> Any:
    return getattr(file.ops, "pipe", None)


def _wait_pipe(task: Task, file: OpenFile, nonblock: bool) -> Block:
    if nonblock or file.flags & os.O_NONBLOCK:
        raise FsError(errno.EAGAIN)
    return block_on(task, [file])


def _pipe_ready(task: Task, src: OpenFile, dst: OpenFile, pin: Any, pout: Any, nonblock: bool) -> int | None:
    """None when data can move; 0 at the end of the input pipe; raises EAGAIN/Block/EPIPE otherwise."""
    if pout is not None and pout.readers == 0:
        sigpipe(task)
        raise FsError(errno.EPIPE)
    if pin is not None and not pin.buf:
        if pin.writers == 0 and not pin.waiting_writers:
            return 0
        raise _wait_pipe(task, src, nonblock)
    if pout is not None and pout.capacity - len(pout.buf) == 0:
        raise _wait_pipe(task, dst, nonblock)
    return None


@syscall("splice", "fd", "ptr", "fd", "ptr", "size", "hex")
def sys_splice(task: Task, fd_in: int, off_in: int, fd_out: int, off_out: int, length: int, flags: int) -> int:
    src = get_file(task, fd_in)
    dst = get_file(task, fd_out)
    if not src.readable or not dst.writable:
        raise FsError(errno.EBADF)
    pin, pout = _pipe_of(src), _pipe_of(dst)
    if pin is None and pout is None:
        raise FsError(errno.EINVAL)
    if (pin is not None and off_in) or (pout is not None and off_out):
        raise FsError(errno.ESPIPE)
    if pin is not None and pin is pout:
        raise FsError(errno.EINVAL)
    if pout is None and dst.flags & os.O_APPEND:
        raise FsError(errno.EINVAL)
    length = min(length, MAX_RW)
    if length == 0:
        return 0
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    end = _pipe_ready(task, src, dst, pin, pout, nonblock)
    if end is not None:
        return end
    creds = ctx_of(task).creds
    room = pout.capacity - len(pout.buf) if pout is not None else length
    n = min(length, room, len(pin.buf) if pin is not None else length)
    if pin is not None:
        data = pin.read(n)
    else:
        off = s64(task.read_u64(off_in)) if off_in else src.pos
        seekable = src.ops is None or src.ops.seekable
        data = src.pread(n, off) if seekable else src.read(n)
        if not data:
            return 0
    if pout is not None:
        done = pout.write(data)
    else:
        off = s64(task.read_u64(off_out)) if off_out else dst.pos
        seekable = dst.ops is None or dst.ops.seekable
        done = dst.pwrite(data, off, creds) if seekable else dst.write(data, creds)
        if off_out:
            task.write_u64(off_out, off + done)
        elif seekable:
            dst.pos = off + done
    if pin is None:
        if off_in:
            task.write_u64(off_in, off + done)
        elif src.ops is None or src.ops.seekable:
            src.pos += done
    return done


@syscall("tee", "fd", "fd", "size", "hex")
def sys_tee(task: Task, fd_in: int, fd_out: int, length: int, flags: int) -> int:
    src = get_file(task, fd_in)
    dst = get_file(task, fd_out)
    pin, pout = _pipe_of(src), _pipe_of(dst)
    if pin is None or pout is None or pin is pout or not src.readable or not dst.writable:
        raise FsError(errno.EINVAL)
    if length == 0:
        return 0
    end = _pipe_ready(task, src, dst, pin, pout, bool(flags & SPLICE_F_NONBLOCK))
    if end is not None:
        return end
    n = min(length, MAX_RW, len(pin.buf), pout.capacity - len(pout.buf))
    return int(pout.write(bytes(pin.buf[:n])))
