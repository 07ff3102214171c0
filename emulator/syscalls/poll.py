"""Readiness: eventfd and epoll objects (FileOps), and the poll/ppoll/select/pselect6/epoll_*/eventfd
syscalls (fs/eventfd.c, fs/eventpoll.c, fs/select.c semantics).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.kernel import WAKE_TIMEOUT
from emulator.syscalls import fs_structs as S
from emulator.syscalls.fs import block_on, ctx_of, fdtable_of, files_of, get_file
from emulator.syscalls.table import s32, syscall
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps

if TYPE_CHECKING:
    from emulator.kernel import Task
    from lxfs.vfs.file import OpenFile

EFD_SEMAPHORE = 1
EFD_CLOEXEC = 0o2000000
EFD_NONBLOCK = 0o4000
EVENTFD_MAX = 0xFFFF_FFFF_FFFF_FFFE  # ULLONG_MAX - 1: the largest count a write may reach

EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLL_CLOEXEC = 0o2000000
EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EP_MAX_EVENTS = 0x7FFFFFFF // 12  # INT_MAX / sizeof(struct epoll_event)
POLLNVAL = select.POLLNVAL
# POLLERR and POLLHUP are always reported (fs/select.c: POLLEX_SET / do_pollfd)
POLL_ALWAYS = select.POLLERR | select.POLLHUP


class EventFd(FileOps):
    """An eventfd counter (fs/eventfd.c)."""

    def __init__(self, initval: int, semaphore: bool) -> None:
        super().__init__()
        self.count = initval
        self.semaphore = semaphore

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        if size < 8:
            raise FsError(errno.EINVAL)
        if self.count == 0:
            raise FsError(errno.EAGAIN)
        value = 1 if self.semaphore else self.count
        self.count -= value
        self.waitq.notify(select.POLLOUT)
        return value.to_bytes(8, "little")

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        if len(data) < 8:
            raise FsError(errno.EINVAL)
        value = int.from_bytes(data[:8], "little")
        if value == 0xFFFF_FFFF_FFFF_FFFF:
            raise FsError(errno.EINVAL)
        if EVENTFD_MAX - self.count < value:
            raise FsError(errno.EAGAIN)
        self.count += value
        if value:
            self.waitq.notify(select.POLLIN)
        return 8

    def poll(self, file: OpenFile | None) -> int:
        mask = 0
        if self.count > 0:
            mask |= select.POLLIN | select.POLLRDNORM
        if self.count == 0xFFFF_FFFF_FFFF_FFFF:
            mask |= select.POLLERR
        if self.count < EVENTFD_MAX:
            mask |= select.POLLOUT | select.POLLWRNORM
        return mask


def file_poll(file: OpenFile) -> int:
    """The readiness of any open file: its FileOps' poll, or always ready for stored files."""
    ops = file.ops
    if ops is None:
        return select.POLLIN | select.POLLOUT | select.POLLRDNORM | select.POLLWRNORM
    return ops.poll(file)


@dataclass(slots=True, eq=False)
class EpollItem:
    """One entry of an epoll interest list (struct epitem)."""

    fd: int
    file: OpenFile
    events: int
    data: int
    pending: int = -1  # edge-triggered: events signalled since the last report (-1: all, at ADD/MOD)
    disabled: bool = False  # EPOLLONESHOT fired

    def on_wake(self, mask: int) -> None:
        self.pending = -1 if self.pending == -1 else self.pending | mask


class Epoll(FileOps):
    """An epoll instance: its interest list keyed by (fd, open file), as Linux keys it."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[int, int], EpollItem] = {}
        self._callbacks: dict[int, object] = {}

    def _watch(self, item: EpollItem) -> None:
        ops = item.file.ops
        if ops is None:
            return

        def waiter(mask: int, item: EpollItem = item) -> None:
            item.on_wake(mask)
            self.waitq.notify(select.POLLIN)

        self._callbacks[id(item)] = waiter
        ops.waitq.add(waiter)

    def _unwatch(self, item: EpollItem) -> None:
        waiter = self._callbacks.pop(id(item), None)
        ops = item.file.ops
        if waiter is not None and ops is not None:
            ops.waitq.remove(waiter)  # type: ignore[arg-type]

    def ctl(self, op: int, fd: int, file: OpenFile, events: int, data: int) -> None:
        # ep_op_has_event / epoll_ctl error order (fs/eventpoll.c do_epoll_ctl)
        if file.ops is None or getattr(file.ops, "unpollable", False):
            raise FsError(errno.EPERM)
        if file.ops is self:
            raise FsError(errno.EINVAL)
        if (op in (EPOLL_CTL_ADD, EPOLL_CTL_MOD)) and events & EPOLLEXCLUSIVE:
            if op == EPOLL_CTL_MOD:
                raise FsError(errno.EINVAL)
            if events & ~(EPOLLEXCLUSIVE | EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET):
                raise FsError(errno.EINVAL)
            if isinstance(file.ops, Epoll):
                raise FsError(errno.EINVAL)
        key = (fd, id(file))
        item = self.items.get(key)
        if op == EPOLL_CTL_ADD:
            if item is not None:
                raise FsError(errno.EEXIST)
            if isinstance(file.ops, Epoll) and file.ops._reaches(self):
                raise FsError(errno.ELOOP)
            item = EpollItem(fd, file, events | EPOLLERR | EPOLLHUP, data)
            self.items[key] = item
            self._watch(item)
        elif op == EPOLL_CTL_MOD:
            if item is None:
                raise FsError(errno.ENOENT)
            if item.events & EPOLLEXCLUSIVE:
                raise FsError(errno.EINVAL)
            item.events = events | EPOLLERR | EPOLLHUP
            item.data = data
            item.pending = -1
            item.disabled = False
        elif op == EPOLL_CTL_DEL:
            if item is None:
                raise FsError(errno.ENOENT)
            self._unwatch(item)
            del self.items[key]
        else:
            raise FsError(errno.EINVAL)
        if self.poll(None):
            self.waitq.notify(select.POLLIN)

    def _reaches(self, target: Epoll, depth: int = 0) -> bool:
        if self is target:
            return True
        if depth > 4:
            return True  # EP_MAX_NESTS
        return any(
            isinstance(it.file.ops, Epoll) and it.file.ops._reaches(target, depth + 1) for it in self.items.values()
        )

    def _prune(self) -> None:
        """Items whose open file description was closed everywhere leave the list (eventpoll_release)."""
        for key, item in list(self.items.items()):
            if item.file.refs <= 0:
                self._unwatch(item)
                del self.items[key]

    def ready(self, maxevents: int, consume: bool = True) -> list[tuple[int, int]]:
        self._prune()
        out: list[tuple[int, int]] = []
        for item in list(self.items.values()):
            if len(out) >= maxevents:
                break
            if item.disabled:
                continue
            # ep_poll_callback queues an edge-triggered item on a wakeup whose mask meets its events;
            # ep_send_events then reports the file's whole current readiness
            if item.events & EPOLLET and item.pending != -1 and not item.pending & item.events:
                continue
            revents = file_poll(item.file) & item.events
            revents &= ~EP_PRIVATE_BITS
            if not revents:
                continue
            out.append((revents, item.data))
            if consume:
                if item.events & EPOLLONESHOT:
                    item.disabled = True
                if item.events & EPOLLET:
                    item.pending = 0
        return out

    def poll(self, file: OpenFile | None) -> int:
        return select.POLLIN | select.POLLRDNORM if self.ready(1, consume=False) else 0

    def release(self, file: OpenFile | None) -> None:
        for item in list(self.items.values()):
            self._unwatch(item)
        self.items.clear()


# -- syscalls ---------------------------------------------------------------------------------------------------

POLLIN_SET = select.POLLRDNORM | select.POLLRDBAND | select.POLLIN | select.POLLHUP | select.POLLERR
POLLOUT_SET = select.POLLWRBAND | select.POLLWRNORM | select.POLLOUT | select.POLLERR
POLLEX_SET = select.POLLPRI
SIGSETSIZE = 8
UNBLOCKABLE = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))


def _timed_out(task: Task) -> bool:
    return task.restarting and task.wake_reason == WAKE_TIMEOUT


def _deadline_ms(task: Task, timeout_ms: int) -> int | None:
    if timeout_ms < 0:
        return None
    return task.deadline(timeout_ms * 1_000_000)


def _read_timespec(task: Task, addr: int) -> int | None:
    """A relative timeout in ns from a struct timespec (None: NULL, wait forever)."""
    if not addr:
        return None
    sec, nsec = S.TIMESPEC.unpack(task.read(addr, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise FsError(errno.EINVAL)
    return sec * 1_000_000_000 + nsec


def _apply_sigmask(task: Task, mask_ptr: int, size: int) -> None:
    """ppoll/pselect6/epoll_pwait: the mask in force while waiting (restored after, or after the
    handler of the signal that interrupted the wait)."""
    if not mask_ptr:
        return
    if size != SIGSETSIZE:
        raise FsError(errno.EINVAL)
    mask = int.from_bytes(task.read(mask_ptr, 8), "little") & ~UNBLOCKABLE
    if task.saved_sigmask is None:
        task.saved_sigmask = task.sigmask
    task.sigmask = mask


def _restore_sigmask(task: Task, mask_ptr: int) -> None:
    if mask_ptr and task.saved_sigmask is not None:
        task.sigmask, task.saved_sigmask = task.saved_sigmask, None


def _do_poll(task: Task, fds: int, nfds: int, deadline: int | None, nowait: bool) -> int:
    if nfds > fdtable_of(task).rlimit:
        raise FsError(errno.EINVAL)
    raw = task.read(fds, nfds * S.POLLFD.size) if nfds else b""
    entries = S.unpack_pollfds(raw)
    table = fdtable_of(task)
    out = []
    count = 0
    files = []
    for fd, events, _rev in entries:
        rev = 0
        if fd >= 0:
            try:
                f = table.get(fd)
            except FsError:
                rev = POLLNVAL
            else:
                files.append(f)
                rev = file_poll(f) & ((events & 0xFFFF) | POLL_ALWAYS)
        if rev:
            count += 1
        out.append((fd, events, rev))
    if count or nowait or _timed_out(task) or (deadline is not None and deadline <= time.monotonic_ns()):
        if nfds:
            task.write(fds, S.pack_pollfds(out))
        return count
    raise block_on(task, files, deadline, restart=False)


@syscall("poll", "ptr", "int", "int")
def sys_poll(task: Task, fds: int, nfds: int, timeout: int) -> int:
    t = s32(timeout)
    return _do_poll(task, fds, nfds & 0xFFFFFFFF, _deadline_ms(task, t), t == 0)


@syscall("ppoll", "ptr", "int", "timespec", "sigset", "size")
def sys_ppoll(task: Task, fds: int, nfds: int, tsp: int, sigmask: int, size: int) -> int:
    rel = _read_timespec(task, tsp)
    _apply_sigmask(task, sigmask, size)
    deadline = task.deadline(rel) if rel is not None else None
    try:
        n = _do_poll(task, fds, nfds & 0xFFFFFFFF, deadline, rel == 0)
    except FsError:
        _restore_sigmask(task, sigmask)
        raise
    _restore_sigmask(task, sigmask)
    return n


def _do_select(task: Task, nfds: int, rp: int, wp: int, ep: int, deadline: int | None, nowait: bool) -> int:
    nfds = s32(nfds)
    if nfds < 0:
        raise FsError(errno.EINVAL)
    table = fdtable_of(task)
    nfds = min(nfds, max((fd for fd, _ in table.items()), default=-1) + 1) if nfds > 1024 else nfds
    size = S.fd_set_size(nfds)
    sets = [S.unpack_fd_set(task.read(p, size), nfds) if p else [] for p in (rp, wp, ep)]
    files = {}
    for fd in set(sets[0]) | set(sets[1]) | set(sets[2]):
        files[fd] = table.get(fd)  # EBADF
    results: list[list[int]] = [[], [], []]
    for fd, f in files.items():
        mask = file_poll(f)
        if fd in sets[0] and mask & POLLIN_SET:
            results[0].append(fd)
        if fd in sets[1] and mask & POLLOUT_SET:
            results[1].append(fd)
        if fd in sets[2] and mask & POLLEX_SET:
            results[2].append(fd)
    count = sum(len(r) for r in results)
    if count or nowait or _timed_out(task) or (deadline is not None and deadline <= time.monotonic_ns()):
        for p, r in zip((rp, wp, ep), results, strict=True):
            if p:
                task.write(p, S.pack_fd_set(r, nfds))
        return count
    raise block_on(task, list(files.values()), deadline, restart=False)


def _remaining(deadline: int | None) -> int:
    return max(0, deadline - time.monotonic_ns()) if deadline is not None else 0


@syscall("select", "int", "ptr", "ptr", "ptr", "ptr")
def sys_select(task: Task, nfds: int, rp: int, wp: int, ep: int, tvp: int) -> int:
    rel = None
    if tvp:
        sec, usec = S.TIMESPEC.unpack(task.read(tvp, 16))
        if sec < 0 or usec < 0:
            raise FsError(errno.EINVAL)
        rel = sec * 1_000_000_000 + usec * 1000
    deadline = task.deadline(rel) if rel is not None else None
    n = _do_select(task, nfds, rp, wp, ep, deadline, rel == 0)
    if tvp and deadline is not None:
        left = _remaining(deadline)
        task.write(tvp, S.TIMESPEC.pack(left // 1_000_000_000, (left % 1_000_000_000) // 1000))
    return n


@syscall("pselect6", "int", "ptr", "ptr", "ptr", "timespec", "ptr")
def sys_pselect6(task: Task, nfds: int, rp: int, wp: int, ep: int, tsp: int, sig: int) -> int:
    rel = _read_timespec(task, tsp)
    mask_ptr = 0
    if sig:
        mask_ptr, size = S.IOVEC.unpack(task.read(sig, 16))
        _apply_sigmask(task, mask_ptr, size)
    deadline = task.deadline(rel) if rel is not None else None
    try:
        n = _do_select(task, nfds, rp, wp, ep, deadline, rel == 0)
    except FsError:
        _restore_sigmask(task, mask_ptr)
        raise
    _restore_sigmask(task, mask_ptr)
    if tsp and deadline is not None:
        left = _remaining(deadline)
        task.write(tsp, S.TIMESPEC.pack(left // 1_000_000_000, left % 1_000_000_000))
    return n


# -- epoll ----------------------------------------------------------------------------------------------


def _new_epoll(task: Task, flags: int) -> int:
    ctx = ctx_of(task)
    file = files_of(task).ns.open_anon(ctx, stat.S_IFREG | 0o600, os.O_RDWR, Epoll(), b"anon_inode:[eventpoll]")
    return fdtable_of(task).install(file, bool(flags & EPOLL_CLOEXEC))


@syscall("epoll_create", "int")
def sys_epoll_create(task: Task, size: int) -> int:
    if s32(size) <= 0:
        raise FsError(errno.EINVAL)
    return _new_epoll(task, 0)


@syscall("epoll_create1", "hex")
def sys_epoll_create1(task: Task, flags: int) -> int:
    if s32(flags) & ~EPOLL_CLOEXEC:
        raise FsError(errno.EINVAL)
    return _new_epoll(task, s32(flags))


def _epoll_of(task: Task, epfd: int) -> Epoll:
    f = get_file(task, epfd)
    if not isinstance(f.ops, Epoll):
        raise FsError(errno.EINVAL)
    return f.ops


@syscall("epoll_ctl", "fd", "int", "fd", "ptr")
def sys_epoll_ctl(task: Task, epfd: int, op: int, fd: int, event: int) -> int:
    op = s32(op)
    events = data = 0
    if op != EPOLL_CTL_DEL:
        events, data = S.EPOLL_EVENT.unpack(task.read(event, S.EPOLL_EVENT.size))
    epf = get_file(task, epfd)
    tf = get_file(task, fd)
    if tf.ops is None:
        raise FsError(errno.EPERM)
    if not isinstance(epf.ops, Epoll) or tf is epf:
        raise FsError(errno.EINVAL)
    epf.ops.ctl(op, s32(fd), tf, events, data)
    return 0


def _epoll_wait(task: Task, epfd: int, events: int, maxevents: int, deadline: int | None, nowait: bool) -> int:
    maxevents = s32(maxevents)
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise FsError(errno.EINVAL)
    ep = _epoll_of(task, epfd)
    ready = ep.ready(maxevents, consume=False)
    if ready:
        data = S.pack_epoll_events(ready)
        task.write(events, data)  # EFAULT leaves the events pending
        ep.ready(maxevents, consume=True)
        return len(ready)
    if nowait or _timed_out(task) or (deadline is not None and deadline <= time.monotonic_ns()):
        return 0
    return _block_epoll(task, ep, deadline)


def _block_epoll(task: Task, ep: Epoll, deadline: int | None) -> int:
    files = [item.file for item in ep.items.values()]
    b = block_on(task, files, deadline, restart=False)
    b.queues = (*b.queues, ep.waitq)
    raise b


@syscall("epoll_wait", "fd", "ptr", "int", "int")
def sys_epoll_wait(task: Task, epfd: int, events: int, maxevents: int, timeout: int) -> int:
    t = s32(timeout)
    return _epoll_wait(task, epfd, events, maxevents, _deadline_ms(task, t), t == 0)


@syscall("epoll_pwait", "fd", "ptr", "int", "int", "sigset", "size")
def sys_epoll_pwait(task: Task, epfd: int, events: int, maxevents: int, timeout: int, sigmask: int, size: int) -> int:
    t = s32(timeout)
    _apply_sigmask(task, sigmask, size)
    try:
        n = _epoll_wait(task, epfd, events, maxevents, _deadline_ms(task, t), t == 0)
    except FsError:
        _restore_sigmask(task, sigmask)
        raise
    _restore_sigmask(task, sigmask)
    return n


@syscall("epoll_pwait2", "fd", "ptr", "int", "timespec", "sigset", "size")
def sys_epoll_pwait2(task: Task, epfd: int, events: int, maxevents: int, tsp: int, sigmask: int, size: int) -> int:
    rel = _read_timespec(task, tsp)
    _apply_sigmask(task, sigmask, size)
    deadline = task.deadline(rel) if rel is not None else None
    try:
        n = _epoll_wait(task, epfd, events, maxevents, deadline, rel == 0)
    except FsError:
        _restore_sigmask(task, sigmask)
        raise
    _restore_sigmask(task, sigmask)
    return n


# -- eventfd --------------------------------------------------------------------------------------------


@syscall("eventfd2", "int", "hex")
def sys_eventfd2(task: Task, initval: int, flags: int) -> int:
    flags = s32(flags)
    if flags & ~(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK):
        raise FsError(errno.EINVAL)
    ctx = ctx_of(task)
    ops = EventFd(initval & 0xFFFFFFFF, bool(flags & EFD_SEMAPHORE))
    oflags = os.O_RDWR | (os.O_NONBLOCK if flags & EFD_NONBLOCK else 0)
    file = files_of(task).ns.open_anon(ctx, stat.S_IFREG | 0o600, oflags, ops, b"anon_inode:[eventfd]")
    return fdtable_of(task).install(file, bool(flags & EFD_CLOEXEC))


@syscall("eventfd", "int")
def sys_eventfd(task: Task, initval: int) -> int:
    return sys_eventfd2(task, initval, 0)
