"""Pseudo-terminals as FileOps: ptmx/pts lifecycle, ioctls (compared with a host pty where the host can
show them), job control signals and errnos, hangup, VMIN/VTIME, devpts listing."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import stat
import struct
import termios as T
import time
from collections.abc import Iterator

import pytest

from devfs import termbits as TB
from devfs.devpts import DevptsFs
from devfs.ldisc import LineDiscipline
from devfs.pty import JOB_CONTROL_RESTART, Caller, PtyMaster, PtySlaveFile, Tty
from devfs.registry import Devices
from devfs.termbits import Termios, Winsize
from lxfs.vfs.errors import FsError
from tests.devfs.guestmem import Mem

ARG = 0x1000


class Jobs:
    """A tiny process table: pid -> (pgid, sid); the caller is settable."""

    def __init__(self) -> None:
        self.procs = {100: (100, 100), 101: (101, 100), 102: (101, 100), 200: (200, 200)}
        self.ctty: dict[int, Tty | None] = {}
        self.current: int | None = 100
        self.ignored: frozenset[int] = frozenset()
        self.orphaned = False
        self.sent: list[tuple[int, int]] = []

    def caller(self) -> Caller | None:
        if self.current is None:
            return None
        pgid, sid = self.procs[self.current]
        return Caller(
            self.current, pgid, sid, uid=1000, ctty=self.ctty.get(sid), session_leader=self.current == sid,
            ignored=self.ignored, orphaned_pgrp=self.orphaned,
        )  # fmt: skip

    def signal_pgrp(self, pgid: int, sig: int) -> None:
        self.sent.append((pgid, sig))

    def set_ctty(self, sid: int, tty: Tty | None) -> None:
        self.ctty[sid] = tty

    def pgrp_session(self, pgid: int) -> int | None:
        return next((sid for pg, sid in self.procs.values() if pg == pgid), None)

    def ctty_of(self, sid: int) -> Tty | None:
        return self.ctty.get(sid)


def _ioctl(ops: PtyMaster | PtySlaveFile, request: int, value: bytes = b"", arg: int = ARG) -> bytes | int:
    mem = Mem({ARG: bytes(64)})
    if value:
        mem.write(ARG, value)
    try:
        ops.ioctl(None, request, arg, mem)  # type: ignore[arg-type]
    except FsError as exc:
        return exc.errno or 0
    return mem.read(ARG, 64)


def _open_pair(devices: Devices, flags: int = os.O_RDWR) -> tuple[PtyMaster, PtySlaveFile]:
    master = devices.open_device(stat.S_IFCHR, 5, 2, os.O_RDWR)
    assert isinstance(master, PtyMaster)
    _ioctl(master, TB.TIOCSPTLCK, struct.pack("<i", 0))
    index = struct.unpack("<I", _ioctl(master, TB.TIOCGPTN)[:4])[0]  # type: ignore[index]
    slave = devices.open_device(stat.S_IFCHR, 136, index, flags)
    assert isinstance(slave, PtySlaveFile)
    return master, slave


@pytest.fixture
def host_pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    os.set_blocking(slave, False)
    os.set_blocking(master, False)
    yield master, slave
    os.close(master)
    os.close(slave)


def _settle(fd: int) -> None:
    select.select([fd], [], [], 0.05)
    time.sleep(0.02)


def test_ptmx_allocates_locked_pairs_and_slaves_open_after_unlock() -> None:
    devices = Devices()
    master = devices.open_device(stat.S_IFCHR, 5, 2, os.O_RDWR)
    assert isinstance(master, PtyMaster)
    assert _ioctl(master, TB.TIOCGPTN)[:4] == struct.pack("<I", 0)  # type: ignore[index]
    assert _ioctl(master, TB.TIOCGPTLCK)[:4] == struct.pack("<i", 1)  # type: ignore[index]
    with pytest.raises(FsError) as e:
        devices.open_device(stat.S_IFCHR, 136, 0, os.O_RDWR)
    assert e.value.errno == errno.EIO
    _ioctl(master, TB.TIOCSPTLCK, struct.pack("<i", 0))
    slave = devices.open_device(stat.S_IFCHR, 136, 0, os.O_RDWR)
    assert isinstance(slave, PtySlaveFile)
    second = devices.open_device(stat.S_IFCHR, 5, 2, os.O_RDWR)
    assert _ioctl(second, TB.TIOCGPTN)[:4] == struct.pack("<I", 1)  # type: ignore[arg-type,index]
    assert _ioctl(slave, TB.TIOCGPTN) == errno.ENOTTY
    with pytest.raises(FsError) as e:
        devices.open_device(stat.S_IFCHR, 136, 7, os.O_RDWR)
    assert e.value.errno == errno.ENXIO


def test_typing_and_output_through_the_pair_match_host(host_pty: tuple[int, int]) -> None:
    hm, hs = host_pty
    master, slave = _open_pair(Devices())
    os.write(hm, b"ls -l\r")
    master.write(None, b"ls -l\r", 0)  # type: ignore[arg-type]
    _settle(hm)
    assert master.read(None, 100, 0) == os.read(hm, 100) == b"ls -l\r\n"  # type: ignore[arg-type]
    assert slave.read(None, 100, 0) == os.read(hs, 100) == b"ls -l\n"  # type: ignore[arg-type]
    os.write(hs, b"out\n\tx")
    slave.write(None, b"out\n\tx", 0)  # type: ignore[arg-type]
    _settle(hm)
    assert master.read(None, 100, 0) == os.read(hm, 100)  # type: ignore[arg-type]
    with pytest.raises(FsError) as e:
        slave.read(None, 100, 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EAGAIN
    with pytest.raises(BlockingIOError):
        os.read(hs, 100)


def test_tcgets_tcsets_winsize_fionread_match_host(host_pty: tuple[int, int]) -> None:
    hm, hs = host_pty
    master, slave = _open_pair(Devices())
    for ours, host in ((slave, hs), (master, hm)):
        assert _ioctl(ours, T.TCGETS)[:36] == fcntl.ioctl(host, T.TCGETS, bytes(36))  # type: ignore[index]
        assert _ioctl(ours, TB.TCGETS2)[:44] == fcntl.ioctl(host, TB.TCGETS2, bytes(44))  # type: ignore[index]
        assert _ioctl(ours, T.TIOCGWINSZ)[:8] == fcntl.ioctl(host, T.TIOCGWINSZ, bytes(8))  # type: ignore[index]
    raw = Termios.pty_slave()
    raw.lflag &= ~(T.ICANON | T.ECHO)
    raw.cc[T.VMIN] = 1
    _ioctl(slave, T.TCSETS, raw.pack())
    fcntl.ioctl(hs, T.TCSETS, raw.pack())
    assert _ioctl(master, T.TCGETS)[:36] == fcntl.ioctl(hm, T.TCGETS, bytes(36))  # type: ignore[index]
    ws = Winsize(24, 80, 0, 0).pack()
    _ioctl(master, T.TIOCSWINSZ, ws)
    fcntl.ioctl(hm, T.TIOCSWINSZ, ws)
    assert _ioctl(slave, T.TIOCGWINSZ)[:8] == fcntl.ioctl(hs, T.TIOCGWINSZ, bytes(8)) == ws  # type: ignore[index]
    # FIONREAD in canonical mode counts complete lines only, EOF markers excluded
    canon = Termios.pty_slave()
    _ioctl(slave, T.TCSETS, canon.pack())
    fcntl.ioctl(hs, T.TCSETS, canon.pack())
    for keys in (b"abc", b"\n", b"de\x04", b"\x04"):
        master.write(None, keys, 0)  # type: ignore[arg-type]
        os.write(hm, keys)
        _settle(hm)
        assert _ioctl(slave, T.FIONREAD)[:4] == fcntl.ioctl(hs, T.FIONREAD, bytes(4)), keys  # type: ignore[index]
    assert master.read(None, 100, 0) == os.read(hm, 100)  # type: ignore[arg-type]
    master.write(None, b"z", 0)  # type: ignore[arg-type]
    os.write(hm, b"z")
    _settle(hm)
    assert _ioctl(master, T.FIONREAD)[:4] == fcntl.ioctl(hm, T.FIONREAD, bytes(4))  # type: ignore[index]


def test_unknown_ioctl_and_bad_flush_arg_match_host(host_pty: tuple[int, int]) -> None:
    _, hs = host_pty
    _, slave = _open_pair(Devices())
    with pytest.raises(OSError) as host:
        fcntl.ioctl(hs, 0x5499, 0)
    assert _ioctl(slave, 0x5499) == host.value.errno
    with pytest.raises(OSError) as host:
        fcntl.ioctl(hs, T.TCFLSH, 7)
    assert _ioctl(slave, T.TCFLSH, arg=7) == host.value.errno == errno.EINVAL


def test_isig_signals_the_foreground_group() -> None:
    jobs = Jobs()
    devices = Devices(jobs)
    master, slave = _open_pair(devices)  # pid 100 is a session leader: the pty becomes its ctty
    assert jobs.ctty[100] is slave.tty
    assert slave.tty.pgrp == 100
    master.write(None, b"sleep\x03", 0)  # type: ignore[arg-type]
    master.write(None, b"\x1a\x1c", 0)  # type: ignore[arg-type]
    assert jobs.sent == [(100, signal.SIGINT), (100, signal.SIGTSTP), (100, signal.SIGQUIT)]
    # echoes of the same input batch before a signal character are dropped (as the host's cases show)
    assert master.read(None, 100, 0) == b"^C^\\"  # type: ignore[arg-type]


def test_tiocspgrp_rules_and_sigwinch() -> None:
    jobs = Jobs()
    master, slave = _open_pair(Devices(jobs))
    assert _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", 101)) != errno.EPERM
    assert slave.tty.pgrp == 101
    assert _ioctl(slave, T.TIOCGPGRP)[:4] == struct.pack("<i", 101)  # type: ignore[index]
    # the shell (group 100) is now in the background: tcsetpgrp sends it SIGTTOU unless ignored
    assert _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", 100)) == JOB_CONTROL_RESTART
    assert jobs.sent[-1] == (100, signal.SIGTTOU)
    jobs.ignored = frozenset({signal.SIGTTOU})  # as shells do
    assert _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", 200)) == errno.EPERM  # another session
    assert _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", 555)) == errno.ESRCH
    assert _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", -1)) == errno.EINVAL
    assert _ioctl(slave, TB.TIOCGSID)[:4] == struct.pack("<i", 100)  # type: ignore[index]
    _ioctl(master, T.TIOCSWINSZ, Winsize(30, 100).pack())
    assert jobs.sent[-1] == (101, signal.SIGWINCH)
    sent = len(jobs.sent)
    _ioctl(master, T.TIOCSWINSZ, Winsize(30, 100).pack())  # same size: no signal
    assert len(jobs.sent) == sent
    jobs.current = 200  # a process of another session: not its terminal
    assert _ioctl(slave, T.TIOCGPGRP) == errno.ENOTTY
    assert _ioctl(slave, T.TIOCSCTTY, arg=0) == errno.EPERM  # already another session's terminal
    assert _ioctl(master, T.TIOCGPGRP)[:4] == struct.pack("<i", 101)  # type: ignore[index]


def test_background_read_gets_sigttin_or_eio() -> None:
    jobs = Jobs()
    master, slave = _open_pair(Devices(jobs))
    master.write(None, b"x\n", 0)  # type: ignore[arg-type]
    _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", 100))
    jobs.current = 101  # background group 101 of the same session
    with pytest.raises(FsError) as e:
        slave.read(None, 10, 0)  # type: ignore[arg-type]
    assert e.value.errno == JOB_CONTROL_RESTART and jobs.sent[-1] == (101, signal.SIGTTIN)
    jobs.ignored = frozenset({signal.SIGTTIN})
    with pytest.raises(FsError) as e:
        slave.read(None, 10, 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EIO
    jobs.ignored = frozenset()
    jobs.orphaned = True
    with pytest.raises(FsError) as e:
        slave.read(None, 10, 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EIO
    jobs.orphaned = False
    # writes from the background are allowed unless TOSTOP
    assert slave.write(None, b"ok", 0) == 2  # type: ignore[arg-type]
    tio = Termios.pty_slave()
    tio.lflag |= T.TOSTOP
    jobs.current = 100
    _ioctl(slave, T.TCSETS, tio.pack())
    jobs.current = 101
    with pytest.raises(FsError) as e:
        slave.write(None, b"no", 0)  # type: ignore[arg-type]
    assert e.value.errno == JOB_CONTROL_RESTART and jobs.sent[-1] == (101, signal.SIGTTOU)
    assert _ioctl(slave, T.TCSETS, tio.pack()) == JOB_CONTROL_RESTART  # tcsetattr from the background
    jobs.ignored = frozenset({signal.SIGTTOU})
    assert slave.write(None, b"ok", 0) == 2  # type: ignore[arg-type]
    jobs.current = 100
    assert slave.read(None, 10, 0) == b"x\n"  # type: ignore[arg-type]


def test_tiocsctty_needs_a_session_leader_without_terminal() -> None:
    jobs = Jobs()
    devices = Devices(jobs)
    jobs.current = 101  # not a session leader: opening does not acquire a terminal
    _master, slave = _open_pair(devices)
    assert 100 not in jobs.ctty
    assert _ioctl(slave, T.TIOCSCTTY, arg=0) == errno.EPERM
    jobs.current = 100
    assert _ioctl(slave, T.TIOCSCTTY, arg=0) != errno.EPERM
    assert jobs.ctty[100] is slave.tty and slave.tty.pgrp == 100
    assert _ioctl(slave, T.TIOCNOTTY) != errno.ENOTTY
    assert jobs.ctty[100] is None and slave.tty.session == 0
    assert (100, signal.SIGHUP) in jobs.sent


def test_noctty_open_does_not_acquire() -> None:
    jobs = Jobs()
    _open_pair(Devices(jobs), os.O_RDWR | os.O_NOCTTY)
    assert 100 not in jobs.ctty


def test_master_close_hangs_up_the_slave() -> None:
    jobs = Jobs()
    master, slave = _open_pair(Devices(jobs))
    master.write(None, b"pending\n", 0)  # type: ignore[arg-type]
    master.release(None)  # type: ignore[arg-type]
    assert slave.read(None, 100, 0) == b""  # type: ignore[arg-type]
    with pytest.raises(FsError) as e:
        slave.write(None, b"x", 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EIO
    assert slave.poll(None) & select.POLLHUP  # type: ignore[arg-type]
    assert (100, signal.SIGHUP) in jobs.sent and (100, signal.SIGCONT) in jobs.sent
    assert _ioctl(slave, T.TCGETS) == errno.EIO
    assert _ioctl(slave, T.TIOCSPGRP, struct.pack("<i", 1)) == errno.ENOTTY


def test_slave_close_gives_master_data_then_eio(host_pty: tuple[int, int]) -> None:
    devices = Devices()
    master, slave = _open_pair(devices)
    slave.write(None, b"bye\n", 0)  # type: ignore[arg-type]
    slave.release(None)  # type: ignore[arg-type]
    assert master.poll(None) & select.POLLHUP  # type: ignore[arg-type]
    assert master.read(None, 100, 0) == b"bye\r\n"  # type: ignore[arg-type]
    with pytest.raises(FsError) as e:
        master.read(None, 100, 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EIO
    # the host agrees: after the slave closes, the master reads EIO once drained
    hm, hs = os.openpty()
    os.write(hs, b"bye\n")
    os.close(hs)
    time.sleep(0.02)
    assert os.read(hm, 100) == b"bye\r\n"
    with pytest.raises(OSError) as host:
        os.read(hm, 100)
    assert host.value.errno == errno.EIO
    os.close(hm)


def test_devpts_lists_live_slaves_with_linux_modes() -> None:
    devices = Devices()
    fs = DevptsFs(devices.devpts)
    assert [e.name for e in fs.readdir(fs.root_ino, 0)] == [b".", b"..", b"ptmx"]
    master, slave = _open_pair(devices)
    names = {e.name: e.ino for e in fs.readdir(fs.root_ino, 0)}
    assert list(names) == [b".", b"..", b"ptmx", b"0"]
    attr = fs.getattr(names[b"0"])
    assert (attr.mode, attr.rdev, attr.gid) == (stat.S_IFCHR | 0o620, os.makedev(136, 0), 5)
    assert fs.getattr(names[b"ptmx"]).mode == stat.S_IFCHR  # ptmxmode=000
    assert fs.lookup(fs.root_ino, b"0") == names[b"0"] and fs.lookup(fs.root_ino, b"00") is None
    master.release(None)  # type: ignore[arg-type]
    slave.release(None)  # type: ignore[arg-type]
    assert fs.lookup(fs.root_ino, b"0") is None


def test_dev_tty_opens_the_controlling_terminal() -> None:
    jobs = Jobs()
    devices = Devices(jobs)
    master, _slave = _open_pair(devices)
    tty = devices.open_device(stat.S_IFCHR, 5, 0, os.O_RDWR)
    tty.write(None, b"via /dev/tty\n", 0)  # type: ignore[arg-type]
    assert master.read(None, 100, 0) == b"via /dev/tty\r\n"  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _raw(vmin: int, vtime: int) -> tuple[LineDiscipline, Clock]:
    clock = Clock()
    tio = Termios.pty_slave()
    tio.lflag &= ~(T.ICANON | T.ECHO)
    tio.cc[T.VMIN], tio.cc[T.VTIME] = vmin, vtime
    ld = LineDiscipline(Termios.pty_slave(), lambda b: None, lambda s: None, clock=clock)
    ld.set_termios(tio)
    return ld, clock


def _eagain(ld: LineDiscipline, size: int = 100) -> bool:
    try:
        ld.read(size)
    except FsError as exc:
        return exc.errno == errno.EAGAIN
    return False


def test_vmin0_vtime0_returns_at_once() -> None:
    ld, _ = _raw(0, 0)
    assert ld.read(10) == b""
    ld.receive(b"ab")
    assert ld.read(10) == b"ab"


def test_vmin_waits_for_that_many_bytes() -> None:
    ld, _ = _raw(3, 0)
    ld.receive(b"ab")
    assert _eagain(ld) and ld.deadline is None
    ld.receive(b"c")
    assert ld.read(100) == b"abc"
    ld.receive(b"xy")
    assert ld.read(2) == b"xy"  # min(VMIN, requested size) is enough


def test_vtime_alone_is_a_read_timeout() -> None:
    ld, clock = _raw(0, 5)
    assert _eagain(ld) and ld.deadline == pytest.approx(100.5)
    clock.now = 100.4
    assert _eagain(ld)
    clock.now = 100.5
    assert ld.read(10) == b""
    ld.receive(b"z")
    assert ld.read(10) == b"z"


def test_vmin_with_vtime_is_an_inter_byte_timer() -> None:
    ld, clock = _raw(4, 2)
    assert _eagain(ld) and ld.deadline is None  # no timer before the first byte
    ld.receive(b"a")
    clock.now = 100.1
    assert _eagain(ld) and ld.deadline == pytest.approx(100.2)
    ld.receive(b"b")  # restarts the timer
    clock.now = 100.25
    assert _eagain(ld)
    clock.now = 100.31
    assert ld.read(10) == b"ab"


def test_host_vmin_vtime_agree_with_ours(host_pty: tuple[int, int]) -> None:
    _hm, hs = host_pty
    tio = Termios.pty_slave()
    tio.lflag &= ~(T.ICANON | T.ECHO)
    tio.cc[T.VMIN], tio.cc[T.VTIME] = 0, 0
    fcntl.ioctl(hs, T.TCSETS, tio.pack())
    os.set_blocking(hs, True)
    assert os.read(hs, 10) == b""  # VMIN=0 VTIME=0: returns at once even when blocking
    tio.cc[T.VTIME] = 1
    fcntl.ioctl(hs, T.TCSETS, tio.pack())
    start = time.monotonic()
    assert os.read(hs, 10) == b""  # times out after 0.1 s
    assert 0.05 < time.monotonic() - start < 1.0


def _host_poll(fd: int) -> int:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLOUT | select.POLLRDNORM | select.POLLWRNORM)
    events = poller.poll(0)
    return events[0][1] if events else 0


def test_poll_masks_match_host(host_pty: tuple[int, int]) -> None:
    hm, hs = host_pty
    master, slave = _open_pair(Devices())
    assert slave.poll(None) == _host_poll(hs)  # type: ignore[arg-type]
    assert master.poll(None) == _host_poll(hm)  # type: ignore[arg-type]
    for keys in (b"partial", b" line\n"):
        master.write(None, keys, 0)  # type: ignore[arg-type]
        os.write(hm, keys)
        _settle(hm)
        assert slave.poll(None) == _host_poll(hs), keys  # type: ignore[arg-type]
        assert master.poll(None) == _host_poll(hm), keys  # type: ignore[arg-type]


def test_devices_report_the_controlling_terminal_for_proc() -> None:
    jobs = Jobs()
    devices = Devices(jobs)
    _, slave = _open_pair(devices)
    tty = devices.controlling_tty(100)
    assert tty is slave.tty and tty.tty_nr == (136 << 8) and tty.pgrp == 100
    assert devices.controlling_tty(200) is None


def test_ptmx_opener_owns_the_slave() -> None:
    jobs = Jobs()  # the caller is uid 1000
    devices = Devices(jobs)
    fs = DevptsFs(devices.devpts)
    _open_pair(devices)
    attr = fs.getattr(fs.lookup(fs.root_ino, b"0") or 0)
    assert (attr.uid, attr.gid, stat.S_IMODE(attr.mode)) == (1000, 5, 0o620)
