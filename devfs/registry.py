"""DeviceRegistry: (kind, major, minor) -> an open device (drivers/char's chrdev table), shared by
devtmpfs nodes and nodes made with mknod in any filesystem; and ``make_devtmpfs``, /dev's tree."""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable

from devfs.devices import HostTerminal, MemDevice, RandomDevice
from devfs.pty import PTY_SLAVE_MAJOR, Devpts, JobControl, NoJobControl, Tty, TtyFile
from lxfs.tmpfs import TmpFs
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps, SetAttr

Factory = Callable[[int], FileOps]  # open flags -> the new open file's operations

# (name, major, minor, mode) of /dev's character nodes, as devtmpfs creates them
DEV_NODES = (
    (b"null", 1, 3, 0o666),
    (b"zero", 1, 5, 0o666),
    (b"full", 1, 7, 0o666),
    (b"random", 1, 8, 0o666),
    (b"urandom", 1, 9, 0o666),
    (b"tty", 5, 0, 0o666),
    (b"console", 5, 1, 0o600),
    (b"ptmx", 5, 2, 0o666),
)
DEV_LINKS = (
    (b"fd", b"/proc/self/fd"),
    (b"stdin", b"/proc/self/fd/0"),
    (b"stdout", b"/proc/self/fd/1"),
    (b"stderr", b"/proc/self/fd/2"),
)
DEV_DIRS = ((b"pts", 0o755), (b"shm", 0o1777))


def _mem_factory(kind: str) -> Factory:
    if kind in ("random", "urandom"):
        return lambda flags: RandomDevice()
    return lambda flags: MemDevice(kind)


class Devices:
    """The system's devices (implements lxfs.vfs.interfaces.DeviceRegistry). ``jobs`` is the emulator's
    job control; ``console`` the host terminal behind /dev/console (created on first use)."""

    def __init__(self, jobs: JobControl | None = None, console: HostTerminal | None = None) -> None:
        self.jobs: JobControl = jobs or NoJobControl()
        self.devpts = Devpts(self.jobs)
        self._console = console
        self._table: dict[tuple[int, int, int], Factory] = {}
        for name, major, minor, _mode in DEV_NODES[:5]:
            self.register(stat.S_IFCHR, major, minor, _mem_factory(name.decode()))
        self.register(stat.S_IFCHR, 5, 0, self._open_ctty)
        self.register(stat.S_IFCHR, 5, 1, lambda flags: self.console)
        self.register(stat.S_IFCHR, 5, 2, self._open_ptmx)

    def set_job_control(self, jobs: JobControl) -> None:
        """Install the emulator's job control once its kernel exists (terminals opened later use it)."""
        self.jobs = jobs
        self.devpts.jobs = jobs
        for pair in self.devpts.pairs.values():
            pair.tty.jobs = jobs
        if self._console is not None:
            self._console.tty.jobs = jobs

    @property
    def console(self) -> HostTerminal:
        if self._console is None:
            self._console = HostTerminal(0, 1, self.jobs)
        return self._console

    def controlling_tty(self, sid: int) -> Tty | None:
        """Session ``sid``'s terminal: /proc/PID/stat shows its ``tty_nr`` and foreground ``pgrp``."""
        return self.jobs.ctty_of(sid)

    def register(self, kind: int, major: int, minor: int, factory: Factory) -> None:
        self._table[(kind, major, minor)] = factory

    def open_device(self, kind: int, major: int, minor: int, flags: int) -> FileOps:
        if kind == stat.S_IFCHR and major == PTY_SLAVE_MAJOR:
            return self.devpts.open_slave(minor, flags)
        factory = self._table.get((kind, major, minor))
        if factory is None:
            raise FsError(errno.ENXIO)
        return factory(flags)

    def _open_ptmx(self, flags: int) -> FileOps:
        """ptmx_open: a new pair whose slave belongs to the opener (devpts_pty_new: current fsuid)."""
        caller = self.jobs.caller()
        return self.devpts.open_master(uid=caller.uid if caller is not None else 0)

    def _open_ctty(self, flags: int) -> FileOps:
        """/dev/tty: the caller's controlling terminal (tty_open_current_tty), else ENXIO."""
        caller = self.jobs.caller()
        ctty = self.jobs.ctty_of(caller.sid) if caller is not None else None
        if ctty is None:
            raise FsError(errno.ENXIO)
        for pair in self.devpts.pairs.values():
            if pair.tty is ctty:
                pair.slave_opens += 1
                return TtyFile(ctty, flags, pair.slave_closed)
        if self._console is not None and ctty is self._console.tty:
            return self._console
        return TtyFile(ctty, flags)


def shmem_defaults(fs: TmpFs) -> None:
    """A tmpfs/devtmpfs mounted without size= or nr_inodes=: half of the emulated RAM in pages for
    each (mm/shmem.c shmem_default_max_blocks/_inodes), so df agrees with /proc/meminfo."""
    from procfs.source import SystemInfo

    fs.max_blocks = fs.max_inodes = SystemInfo().mem_total // 4096 // 2


def make_devtmpfs(now_ns: int | None = None) -> TmpFs:
    """/dev as devtmpfs populates it: the standard nodes, the /proc/self/fd links, and the pts and shm
    mount points (mount a DevptsFs and a TmpFs on them). Their times are ``now_ns``, by default now: as
    old as the system, as devtmpfs makes them at boot."""
    if now_ns is None:
        now_ns = time.time_ns()
    fs = TmpFs(mode=0o755, now_ns=now_ns)
    fs.fs_type = "devtmpfs"
    shmem_defaults(fs)
    root = fs.root_ino
    for name, major, minor, mode in DEV_NODES:
        fs.create(root, name, stat.S_IFCHR | mode, 0, 0, os.makedev(major, minor), now_ns)
    for name, target in DEV_LINKS:
        fs.symlink(root, name, target, 0, 0, now_ns)
    for name, mode in DEV_DIRS:
        ino = fs.mkdir(root, name, mode, 0, 0, now_ns)
        if stat.S_IMODE(fs.getattr(ino).mode) != mode:
            fs.setattr(ino, SetAttr(mode=mode))
    return fs
