"""Advisory file locks: POSIX record locks (fcntl F_SETLK, owned by a process), OFD locks (owned by an
open file description) and flock(2) locks (fs/locks.c semantics, without deadlock detection)."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from lxfs.vfs.errors import FsError
from lxfs.vfs.waitq import WaitQueue

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
OFFSET_MAX = (1 << 63) - 1
LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8

Owner = tuple[str, int]  # ("posix", pid) or ("ofd", id(OpenFile))


@dataclass(slots=True)
class RecordLock:
    owner: Owner
    pid: int  # reported by F_GETLK (-1 for OFD locks)
    type: int
    start: int
    end: int  # inclusive; OFFSET_MAX = to EOF and beyond


@dataclass
class InodeLocks:
    records: list[RecordLock] = field(default_factory=list)
    flocks: dict[int, tuple[int, object]] = field(default_factory=dict)  # id(OpenFile) -> (type, file)
    waitq: WaitQueue = field(default_factory=WaitQueue)


class LockTable:
    """Every lock of the system, by inode (st_dev, st_ino)."""

    def __init__(self) -> None:
        self.inodes: dict[tuple[int, int], InodeLocks] = {}

    def _get(self, key: tuple[int, int]) -> InodeLocks:
        locks = self.inodes.get(key)
        if locks is None:
            locks = self.inodes[key] = InodeLocks()
        return locks

    def waitq(self, key: tuple[int, int]) -> WaitQueue:
        return self._get(key).waitq

    # -- record locks -----------------------------------------------------------------------------------
    def conflict(self, key: tuple[int, int], owner: Owner, ltype: int, start: int, end: int) -> RecordLock | None:
        locks = self.inodes.get(key)
        if locks is None:
            return None
        for lk in locks.records:
            if lk.owner == owner or lk.end < start or lk.start > end:
                continue
            if ltype == F_WRLCK or lk.type == F_WRLCK:
                return lk
        return None

    def set(self, key: tuple[int, int], owner: Owner, pid: int, ltype: int, start: int, end: int) -> None:
        """Apply a lock or unlock of [start, end] for ``owner``; EAGAIN on a conflict (no change)."""
        if ltype != F_UNLCK and self.conflict(key, owner, ltype, start, end) is not None:
            raise FsError(errno.EAGAIN)
        locks = self._get(key)
        kept: list[RecordLock] = []
        for lk in locks.records:
            if lk.owner != owner or lk.end < start or lk.start > end:
                kept.append(lk)
                continue
            # split the old lock around the new range (posix_lock_inode)
            if lk.start < start:
                kept.append(RecordLock(owner, lk.pid, lk.type, lk.start, start - 1))
            if lk.end > end:
                kept.append(RecordLock(owner, lk.pid, lk.type, end + 1, lk.end))
        if ltype != F_UNLCK:
            kept.append(RecordLock(owner, pid, ltype, start, end))
        # merge adjacent ranges of the same owner and type
        kept.sort(key=lambda lk: (lk.owner, lk.type, lk.start))
        merged: list[RecordLock] = []
        for lk in kept:
            last = merged[-1] if merged else None
            if last is not None and last.owner == lk.owner and last.type == lk.type and lk.start <= last.end + 1:
                last.end = max(last.end, lk.end)
            else:
                merged.append(lk)
        locks.records = merged
        locks.waitq.notify(1)

    def release_owner(self, key: tuple[int, int], owner: Owner) -> None:
        locks = self.inodes.get(key)
        if locks is None:
            return
        before = len(locks.records)
        locks.records = [lk for lk in locks.records if lk.owner != owner]
        if len(locks.records) != before:
            locks.waitq.notify(1)
        self._gc(key, locks)

    def release_pid_everywhere(self, pid: int) -> None:
        for key, locks in list(self.inodes.items()):
            if any(lk.owner == ("posix", pid) for lk in locks.records):
                self.release_owner(key, ("posix", pid))

    # -- flock ------------------------------------------------------------------------------------------
    def flock(self, key: tuple[int, int], file: object, op: int) -> None:
        locks = self._get(key)
        me = id(file)
        if op == LOCK_UN:
            if locks.flocks.pop(me, None) is not None:
                locks.waitq.notify(1)
            self._gc(key, locks)
            return
        want = LOCK_EX if op == LOCK_EX else LOCK_SH
        for other, (ltype, _f) in locks.flocks.items():
            if other != me and (want == LOCK_EX or ltype == LOCK_EX):
                raise FsError(errno.EAGAIN)
        locks.flocks[me] = (want, file)
        locks.waitq.notify(1)

    def release_file(self, key: tuple[int, int], file: object) -> None:
        """The open file description's last close: its flock and OFD locks go."""
        locks = self.inodes.get(key)
        if locks is None:
            return
        if locks.flocks.pop(id(file), None) is not None:
            locks.waitq.notify(1)
        self.release_owner(key, ("ofd", id(file)))

    def _gc(self, key: tuple[int, int], locks: InodeLocks) -> None:
        if not locks.records and not locks.flocks and not len(locks.waitq):
            self.inodes.pop(key, None)
