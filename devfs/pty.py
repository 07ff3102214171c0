"""Terminals: Tty (a terminal with its line discipline, window size, session and foreground process
group), pseudo-terminal pairs (PtyMaster / PtySlave FileOps) and the tty ioctls, as in Linux's
drivers/tty/{tty_io.c, tty_ioctl.c, tty_jobctrl.c, pty.c}.

Job control needs the calling task; the emulator provides it through ``JobControl`` (``caller()``
and ``signal_pgrp``). After a SIGTTIN/SIGTTOU is queued for a background caller, read/write/ioctl
raise ``JOB_CONTROL_RESTART`` (EAGAIN): the caller parks, the signal interrupts it, and the syscall
restarts when the job continues (Linux's ERESTARTSYS).

Blocking follows the FileOps contract: EAGAIN, then ``waitq.notify``. A non-canonical read with VTIME
also sets ``read_deadline()`` (time.monotonic): the caller retries then even without a notify.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import struct
import termios as T
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from devfs import termbits as TB
from devfs.ldisc import LineDiscipline
from devfs.termbits import Termios, Winsize
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import FileOps, GuestMemory
from lxfs.vfs.waitq import WaitQueue

if TYPE_CHECKING:
    from lxfs.vfs.file import OpenFile

ERESTARTSYS = 512  # include/linux/errno.h: never seen by the guest; the syscall is restarted
# What a terminal raises after queueing SIGTTIN/SIGTTOU for a background caller (Linux: ERESTARTSYS).
# EAGAIN under the FileOps contract parks the task; the pending signal interrupts the wait at once
# and the syscall restarts once the job is continued -- Linux's behaviour, with no new errno.
JOB_CONTROL_RESTART = errno.EAGAIN
PTY_MASTER_MAJOR = 128
PTY_SLAVE_MAJOR = 136
PTY_OUTPUT_ROOM = 65536  # what a pty write can queue before the writer blocks (tty buffer space)
NR_PTYS = 4096  # /proc/sys/kernel/pty/max is larger; enough for one emulated system

_IN = select.POLLIN | select.POLLRDNORM  # n_tty_poll reports the *NORM bits too
_OUT = select.POLLOUT | select.POLLWRNORM
_INT = struct.Struct("<i")
_UINT = struct.Struct("<I")


@dataclass(slots=True)
class Caller:
    """The task calling into a terminal, as job control needs it (the emulator fills it in)."""

    pid: int
    pgid: int
    sid: int
    uid: int = 0
    ctty: Tty | None = None  # the controlling terminal of the caller's session
    session_leader: bool = False
    ignored: frozenset[int] = frozenset()  # signals the caller blocks or ignores (SIGTTIN, SIGTTOU)
    orphaned_pgrp: bool = False


class JobControl(Protocol):
    """What terminals need from the process side (implemented by the emulator's Kernel)."""

    def caller(self) -> Caller | None:
        """The calling task, or None for callers outside job control (the host side, tests, FUSE)."""
        ...

    def signal_pgrp(self, pgid: int, sig: int) -> None:
        """Send ``sig`` to every process of process group ``pgid``."""
        ...

    def set_ctty(self, sid: int, tty: Tty | None) -> None:
        """Make ``tty`` the controlling terminal of session ``sid`` (None: the session loses it)."""
        ...

    def pgrp_session(self, pgid: int) -> int | None:
        """The session of process group ``pgid``, or None if no such group exists."""
        ...

    def ctty_of(self, sid: int) -> Tty | None:
        """The controlling terminal of session ``sid`` (what set_ctty recorded)."""
        ...


class NoJobControl:
    """Job control for terminals nobody's processes use: no caller, signals are recorded."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def caller(self) -> Caller | None:
        return None

    def signal_pgrp(self, pgid: int, sig: int) -> None:
        self.sent.append((pgid, sig))

    def set_ctty(self, sid: int, tty: Tty | None) -> None:
        return None

    def pgrp_session(self, pgid: int) -> int | None:
        return None

    def ctty_of(self, sid: int) -> Tty | None:
        return None


@dataclass(eq=False)
class Tty:
    """A terminal: termios + line discipline, window size, session and foreground group.
    ``emit`` takes processed output toward the device (the pty master's queue, a screen)."""

    jobs: JobControl
    emit: Callable[[bytes], None]
    rdev: tuple[int, int] = (5, 1)
    termios: Termios = field(default_factory=Termios.pty_slave)
    winsize: Winsize = field(default_factory=Winsize)
    session: int = 0
    pgrp: int = 0
    exclusive: bool = False
    hung_up: bool = False
    waitq: WaitQueue = field(default_factory=WaitQueue)  # readers and writers of this terminal
    ldisc: LineDiscipline = field(init=False)

    def __post_init__(self) -> None:
        self.ldisc = LineDiscipline(self.termios, self.emit, self._isig)

    def _isig(self, sig: int) -> None:
        if self.pgrp:
            self.jobs.signal_pgrp(self.pgrp, sig)

    # --- job control (drivers/tty/tty_jobctrl.c) ---

    def check_change(self, sig: int) -> None:
        """__tty_check_change: a background process of this terminal's session gets ``sig``."""
        caller = self.jobs.caller()
        if caller is None or caller.ctty is not self or not self.pgrp or caller.pgid == self.pgrp:
            return
        if sig in caller.ignored:
            if sig == signal.SIGTTIN:
                raise FsError(errno.EIO)
            return
        if caller.orphaned_pgrp:
            raise FsError(errno.EIO)
        self.jobs.signal_pgrp(caller.pgid, sig)
        raise FsError(JOB_CONTROL_RESTART)

    def hangup(self) -> None:
        """tty_vhangup: readers see EOF, writers EIO; the session leader gets SIGHUP and SIGCONT."""
        if self.hung_up:
            return
        self.hung_up = True
        if self.session:
            self.jobs.signal_pgrp(self.session, signal.SIGHUP)
            self.jobs.signal_pgrp(self.session, signal.SIGCONT)
            self.jobs.set_ctty(self.session, None)
        self.session = self.pgrp = 0
        self.waitq.notify(select.POLLIN | select.POLLOUT | select.POLLHUP)

    def open_as_ctty(self, flags: int) -> None:
        """tty_open_proc_set_tty: a session leader without a terminal acquires this one (no O_NOCTTY)."""
        caller = self.jobs.caller()
        if flags & os.O_NOCTTY or caller is None:
            return
        if caller.session_leader and caller.ctty is None and not self.session:
            self._set_ctty(caller)

    def _set_ctty(self, caller: Caller) -> None:
        self.session, self.pgrp = caller.sid, caller.pgid
        self.jobs.set_ctty(caller.sid, self)

    # --- reads, writes, poll for the slave side ---

    def read(self, size: int) -> bytes:
        if self.hung_up:
            return b""
        self.check_change(signal.SIGTTIN)
        data = self.ldisc.read(size)
        return data

    def write(self, data: bytes) -> int:
        if self.hung_up:
            raise FsError(errno.EIO)
        if self.termios.lflag & T.TOSTOP:
            self.check_change(signal.SIGTTOU)
        return self.ldisc.write(data)

    @property
    def tty_nr(self) -> int:
        """new_encode_dev of this terminal, as /proc/PID/stat's tty_nr shows it."""
        major, minor = self.rdev
        return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)

    def poll(self) -> int:
        if self.hung_up:
            return _IN | _OUT | select.POLLERR | select.POLLHUP
        mask = _IN if self.ldisc.readable() else 0
        if not self.ldisc.stopped:
            mask |= _OUT
        return mask

    def input(self, data: bytes) -> int:
        """Bytes typed at the terminal (a pty master's write)."""
        taken = self.ldisc.receive(data)
        if self.ldisc.readable():
            self.waitq.notify(select.POLLIN)
        return taken

    def set_termios(self, new: Termios) -> None:
        self.termios = new
        was_stopped = self.ldisc.stopped
        self.ldisc.set_termios(new)
        self.waitq.notify(select.POLLIN | (select.POLLOUT if was_stopped and not self.ldisc.stopped else 0))

    def resize(self, ws: Winsize) -> None:
        """tty_do_resize: SIGWINCH to the foreground group when the size changes."""
        if ws != self.winsize:
            self.winsize = ws
            if self.pgrp:
                self.jobs.signal_pgrp(self.pgrp, signal.SIGWINCH)

    # --- ioctls common to every terminal (tty_ioctl + tty_mode_ioctl + n_tty_ioctl) ---

    def ioctl(self, request: int, arg: int, mem: GuestMemory, readable: bool = True, master: bool = False) -> int:
        """``master``: issued on the pty master, which is not subject to the slave's job control."""
        if self.hung_up:
            raise FsError(errno.ENOTTY if request == T.TIOCSPGRP else errno.EIO)
        caller = None if master else self.jobs.caller()
        check_change = (lambda sig: None) if master else self.check_change
        if request == T.TCGETS:
            mem.write(arg, self.termios.pack())
            return 0
        if request == TB.TCGETS2:
            mem.write(arg, self.termios.pack2())
            return 0
        if request in (T.TCSETS, T.TCSETSW, T.TCSETSF, TB.TCSETS2, TB.TCSETSW2, TB.TCSETSF2):
            two = request in (TB.TCSETS2, TB.TCSETSW2, TB.TCSETSF2)
            raw = mem.read(arg, TB.TERMIOS2_SIZE if two else TB.TERMIOS_SIZE)
            check_change(signal.SIGTTOU)
            new = Termios.unpack2(raw) if two else Termios.unpack(raw)
            if not two:
                new.ispeed, new.ospeed = self.termios.ispeed, self.termios.ospeed
            if request in (T.TCSETSF, TB.TCSETSF2):
                self.ldisc.flush_input()
            self.set_termios(new)
            return 0
        if request == T.TIOCGWINSZ:
            mem.write(arg, self.winsize.pack())
            return 0
        if request == T.TIOCSWINSZ:
            self.resize(Winsize.unpack(mem.read(arg, 8)))
            return 0
        if request in (T.FIONREAD, T.TIOCINQ):
            mem.write(arg, _INT.pack(self.ldisc.inq()))
            return 0
        if request == T.TIOCOUTQ:
            mem.write(arg, _INT.pack(0))
            return 0
        if request == T.TCFLSH:
            check_change(signal.SIGTTOU)
            if arg not in (T.TCIFLUSH, T.TCOFLUSH, T.TCIOFLUSH):
                raise FsError(errno.EINVAL)
            if arg in (T.TCIFLUSH, T.TCIOFLUSH):
                self.ldisc.flush_input()
            if arg in (T.TCOFLUSH, T.TCIOFLUSH):
                self.ldisc.flush_output()
            return 0
        if request == T.TCXONC:
            check_change(signal.SIGTTOU)
            if arg == T.TCOOFF:
                self.ldisc.stop()
            elif arg == T.TCOON:
                self.ldisc.start()
                self.waitq.notify(select.POLLOUT)
            elif arg in (T.TCIOFF, T.TCION):
                self.emit(bytes((self.termios.cc[T.VSTOP if arg == T.TCIOFF else T.VSTART],)))
            else:
                raise FsError(errno.EINVAL)
            return 0
        if request == T.TCSBRK:
            check_change(signal.SIGTTOU)
            return 0  # output is never queued: drained already
        if request == T.TIOCEXCL:
            self.exclusive = True
            return 0
        if request == T.TIOCNXCL:
            self.exclusive = False
            return 0
        if request == T.TIOCSCTTY:
            return self._tiocsctty(caller, arg, readable)
        if request == T.TIOCNOTTY:
            if caller is None or caller.ctty is not self:
                raise FsError(errno.ENOTTY)
            if caller.session_leader:
                if self.pgrp:
                    self.jobs.signal_pgrp(self.pgrp, signal.SIGHUP)
                    self.jobs.signal_pgrp(self.pgrp, signal.SIGCONT)
                self.jobs.set_ctty(self.session, None)
                self.session = self.pgrp = 0
            return 0
        if request == T.TIOCGPGRP:
            if caller is not None and caller.ctty is not self:
                raise FsError(errno.ENOTTY)
            mem.write(arg, _INT.pack(self.pgrp))
            return 0
        if request == T.TIOCSPGRP:
            return self._tiocspgrp(caller, mem.read(arg, 4))
        if request == TB.TIOCGSID:
            if (caller is not None and caller.ctty is not self) or not self.session:
                raise FsError(errno.ENOTTY)
            mem.write(arg, _INT.pack(self.session))
            return 0
        if request == T.TIOCSTI:
            # drivers/tty/tty_io.c tiocsti: only for the caller's own terminal unless privileged
            if caller is not None and caller.uid != 0 and caller.ctty is not self:
                raise FsError(errno.EPERM)
            self.input(mem.read(arg, 1))
            return 0
        if request == TB.TIOCGDEV:
            mem.write(arg, _UINT.pack(self.tty_nr))
            return 0
        raise FsError(errno.ENOTTY)

    def _tiocsctty(self, caller: Caller | None, arg: int, readable: bool) -> int:
        if caller is None:
            raise FsError(errno.EPERM)
        if caller.session_leader and caller.sid == self.session:
            return 0
        if not caller.session_leader or caller.ctty is not None:
            raise FsError(errno.EPERM)
        if self.session:
            if arg == 1 and caller.uid == 0:
                self.jobs.set_ctty(self.session, None)  # steal it (CAP_SYS_ADMIN)
            else:
                raise FsError(errno.EPERM)
        if not readable and caller.uid != 0:
            raise FsError(errno.EPERM)
        self._set_ctty(caller)
        return 0

    def _tiocspgrp(self, caller: Caller | None, raw: bytes) -> int:
        try:
            self.check_change(signal.SIGTTOU)
        except FsError as exc:
            if exc.errno == errno.EIO:
                raise FsError(errno.ENOTTY) from None
            raise
        (pgrp,) = _INT.unpack(raw)
        if pgrp < 0:
            raise FsError(errno.EINVAL)
        if caller is None:
            self.pgrp = pgrp
            return 0
        if caller.ctty is not self or self.session != caller.sid:
            raise FsError(errno.ENOTTY)
        session = self.jobs.pgrp_session(pgrp)
        if session is None:
            raise FsError(errno.ESRCH)
        if session != caller.sid:
            raise FsError(errno.EPERM)
        self.pgrp = pgrp
        return 0


class PtyPair:
    """One pseudo-terminal: the slave Tty and the master's read queue (the slave's output)."""

    def __init__(self, index: int, jobs: JobControl, on_free: Callable[[PtyPair], None]) -> None:
        self.index = index
        self.out = bytearray()  # slave output not yet read by the master
        self.master_waitq = WaitQueue()
        self.tty = Tty(jobs, self._slave_output, rdev=(PTY_SLAVE_MAJOR, index))
        self.locked = True  # unlockpt() clears it (TIOCSPTLCK 0)
        self.master_open = True
        self.slave_opens = 0
        self.slave_was_opened = False
        self.uid = 0
        self.gid = 5  # tty group (devpts gid=5 mount option)
        self._on_free = on_free

    def _slave_output(self, data: bytes) -> None:
        self.out += data
        self.master_waitq.notify(select.POLLIN)

    def output_room(self) -> int:
        return max(0, PTY_OUTPUT_ROOM - len(self.out))

    def master_closed(self) -> None:
        self.master_open = False
        self.tty.hangup()
        self._maybe_free()

    def slave_closed(self) -> None:
        self.slave_opens -= 1
        if self.slave_opens == 0:
            self.master_waitq.notify(select.POLLIN | select.POLLHUP)
        self._maybe_free()

    def _maybe_free(self) -> None:
        if not self.master_open and self.slave_opens == 0:
            self._on_free(self)


class PtyMaster(FileOps):
    """/dev/ptmx after open: writes are typed at the slave, reads get the slave's output."""

    def __init__(self, pair: PtyPair) -> None:
        super().__init__()
        self.pair = pair
        self.waitq = pair.master_waitq

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        pair = self.pair
        if pair.out:
            data = bytes(pair.out[:size])
            del pair.out[:size]
            pair.tty.waitq.notify(select.POLLOUT)
            return data
        if pair.slave_was_opened and pair.slave_opens == 0:
            raise FsError(errno.EIO)  # n_tty_read: TTY_OTHER_CLOSED
        raise FsError(errno.EAGAIN)

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        if not data:
            return 0
        taken = self.pair.tty.input(bytes(data))
        if taken == 0:
            raise FsError(errno.EAGAIN)
        return taken

    def poll(self, file: OpenFile) -> int:
        pair = self.pair
        mask = _OUT
        if pair.out:
            mask |= _IN
        if pair.slave_was_opened and pair.slave_opens == 0:
            mask |= select.POLLHUP
        return mask

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        pair = self.pair
        if request == TB.TIOCGPTN:
            mem.write(arg, _UINT.pack(pair.index))
            return 0
        if request == TB.TIOCSPTLCK:
            (value,) = _INT.unpack(mem.read(arg, 4))
            pair.locked = bool(value)
            return 0
        if request == TB.TIOCGPTLCK:
            mem.write(arg, _INT.pack(int(pair.locked)))
            return 0
        if request in (T.FIONREAD, T.TIOCINQ):
            mem.write(arg, _INT.pack(len(pair.out)))
            return 0
        if request == TB.TIOCSIG:
            (sig,) = _INT.unpack(mem.read(arg, 4))
            if not 0 < sig < 65:
                raise FsError(errno.EINVAL)
            if pair.tty.pgrp:
                pair.tty.jobs.signal_pgrp(pair.tty.pgrp, sig)
            return 0
        if request in (T.TIOCGPGRP, T.TIOCGWINSZ, T.TIOCSWINSZ, T.TCGETS, T.TCSETS, T.TCSETSW, T.TCSETSF,
                       TB.TCGETS2, TB.TCSETS2, TB.TCSETSW2, TB.TCSETSF2, TB.TIOCGSID):  # fmt: skip
            # tty_ioctl/tty_mode_ioctl act on the slave (real_tty = tty->link) for these
            if request == T.TIOCGPGRP:
                mem.write(arg, _INT.pack(pair.tty.pgrp))
                return 0
            if request == TB.TIOCGSID:
                if not pair.tty.session:
                    raise FsError(errno.ENOTTY)
                mem.write(arg, _INT.pack(pair.tty.session))
                return 0
            return pair.tty.ioctl(request, arg, mem, master=True)
        raise FsError(errno.ENOTTY)  # TIOCSCTTY, TIOCSPGRP, TIOCNOTTY ... are the slave's

    def release(self, file: OpenFile) -> None:
        self.pair.master_closed()


class TtyFile(FileOps):
    """An open terminal (a pty slave, /dev/tty, the console): the Tty's reads, writes and ioctls."""

    def __init__(self, tty: Tty, flags: int, on_release: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.tty = tty
        self.waitq = tty.waitq
        self._readable = flags & os.O_ACCMODE != os.O_WRONLY
        self._on_release = on_release

    def read(self, file: OpenFile, size: int, offset: int) -> bytes:
        return self.tty.read(size)

    def read_deadline(self) -> float | None:
        """When a read that raised EAGAIN should be retried even without a notify (VTIME)."""
        return self.tty.ldisc.deadline

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        return self.tty.write(bytes(data))

    def poll(self, file: OpenFile) -> int:
        return self.tty.poll()

    def ioctl(self, file: OpenFile, request: int, arg: int, mem: GuestMemory) -> int:
        if request in (TB.TIOCGPTN, TB.TIOCSPTLCK, TB.TIOCGPTLCK):
            raise FsError(errno.ENOTTY)
        return self.tty.ioctl(request, arg, mem, self._readable)

    def release(self, file: OpenFile) -> None:
        if self._on_release is not None:
            self._on_release()


class PtySlaveFile(TtyFile):
    """/dev/pts/N: writes must also fit the master's queue."""

    def __init__(self, pair: PtyPair, flags: int) -> None:
        super().__init__(pair.tty, flags, pair.slave_closed)
        self.pair = pair

    def write(self, file: OpenFile, data: bytes, offset: int) -> int:
        if not data:
            return 0
        room = self.pair.output_room()
        if room == 0 and not self.tty.hung_up:
            raise FsError(errno.EAGAIN)
        return self.tty.write(bytes(data[: room or len(data)]))


class Devpts:
    """The pty pairs of one devpts instance: ptmx allocates, /dev/pts/N opens slaves."""

    def __init__(self, jobs: JobControl | None = None) -> None:
        self.jobs: JobControl = jobs or NoJobControl()
        self.pairs: dict[int, PtyPair] = {}
        self.generation = 0  # bumps when the set of slaves changes (for directory caches)

    def open_master(self, uid: int = 0, gid: int = 5) -> PtyMaster:
        index = next((i for i in range(NR_PTYS) if i not in self.pairs), None)
        if index is None:
            raise FsError(errno.ENOSPC)
        pair = PtyPair(index, self.jobs, self._free)
        pair.uid, pair.gid = uid, gid
        self.pairs[index] = pair
        self.generation += 1
        return PtyMaster(pair)

    def open_slave(self, index: int, flags: int) -> PtySlaveFile:
        pair = self.pairs.get(index)
        if pair is None or not pair.master_open:
            raise FsError(errno.EIO if pair is not None else errno.ENXIO)
        if pair.locked:
            raise FsError(errno.EIO)  # pty_open: TTY_PTY_LOCK
        caller = self.jobs.caller()
        if pair.tty.exclusive and (caller is None or caller.uid != 0):
            raise FsError(errno.EBUSY)
        pair.slave_opens += 1
        pair.slave_was_opened = True
        pair.tty.hung_up = False
        pair.tty.open_as_ctty(flags)
        return PtySlaveFile(pair, flags)

    def _free(self, pair: PtyPair) -> None:
        if self.pairs.get(pair.index) is pair:
            del self.pairs[pair.index]
            self.generation += 1
