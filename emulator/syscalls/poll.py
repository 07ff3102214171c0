"""Readiness: eventfd and epoll objects (FileOps), and the poll/ppoll/select/pselect6/epoll_*/eventfd
syscalls (fs/eventfd.c, fs/eventpoll.c, fs/select.c semantics).
"""

from __future__ import annotations

import errno
import select
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps

if TYPE_CHECKING:
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
            if getattr(item.file, "refcount", 1) <= 0:
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
