"""HostConsole: a host pty stands in for the user's terminal; the guest side is a devpts slave."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import termios as T
from collections.abc import Iterator

import pytest

from devfs.console import HostConsole
from devfs.pty import Caller, Devpts, Tty
from devfs.termbits import Winsize
from lxfs.vfs.errors import FsError


class Jobs:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []
        self.ctty: Tty | None = None

    def caller(self) -> Caller | None:
        return Caller(7, 7, 7, ctty=self.ctty, session_leader=True)

    def signal_pgrp(self, pgid: int, sig: int) -> None:
        self.sent.append((pgid, sig))

    def set_ctty(self, sid: int, tty: Tty | None) -> None:
        self.ctty = tty

    def pgrp_session(self, pgid: int) -> int | None:
        return 7

    def ctty_of(self, sid: int) -> Tty | None:
        return self.ctty


@pytest.fixture
def user_terminal() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def _screen(fd: int, until: bytes) -> bytes:
    seen = b""
    while until not in seen and select.select([fd], [], [], 1)[0]:
        seen += os.read(fd, 4096)
    return seen


def test_typing_reaches_the_guest_and_only_the_guest_echoes(user_terminal: tuple[int, int]) -> None:
    user, host_tty = user_terminal
    jobs = Jobs()
    console = HostConsole(Devpts(jobs), in_fd=host_tty, out_fd=host_tty)
    console.enter_raw()
    try:
        assert not T.tcgetattr(host_tty)[3] & T.ECHO
        guest = console.open_slave()  # the session leader (pid 7) acquires it as its terminal
        assert jobs.ctty is guest.tty
        os.write(user, b"echo hi\r")
        select.select([host_tty], [], [], 1)
        assert console.pump_input()
        assert guest.read(None, 100, 0) == b"echo hi\n"  # type: ignore[arg-type]
        assert _screen(user, b"hi\r\n") == b"echo hi\r\n"
        guest.write(None, b"hi\n", 0)  # type: ignore[arg-type]
        assert _screen(user, b"\n") == b"hi\r\n"
        os.write(user, b"sleep 100\x03")
        select.select([host_tty], [], [], 1)
        console.pump_input()
        assert jobs.sent == [(7, signal.SIGINT)]
        assert _screen(user, b"^C") == b"^C"
    finally:
        console.restore()
    assert T.tcgetattr(host_tty)[3] & T.ECHO


def test_window_size_is_copied_and_signalled(user_terminal: tuple[int, int]) -> None:
    user, host_tty = user_terminal
    jobs = Jobs()
    console = HostConsole(Devpts(jobs), in_fd=host_tty, out_fd=host_tty)
    guest = console.open_slave()
    fcntl.ioctl(user, T.TIOCSWINSZ, Winsize(50, 160).pack())
    console.resize()
    assert guest.tty.winsize == Winsize(50, 160)
    assert jobs.sent[-1] == (7, signal.SIGWINCH)


def test_host_input_end_is_eof_for_the_guest_and_close_hangs_up() -> None:
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        jobs = Jobs()
        console = HostConsole(Devpts(jobs), in_fd=r, out_fd=out_w)
        console.enter_raw()  # not a tty: nothing to change
        guest = console.open_slave()
        os.write(w, b"ls\n")
        assert console.pump_input()
        assert guest.read(None, 100, 0) == b"ls\n"  # type: ignore[arg-type]
        os.close(w)
        assert not console.pump_input()
        assert guest.read(None, 100, 0) == b""  # type: ignore[arg-type]  # the EOF character
        assert not console.pump_input()  # once ended, stays ended
        assert guest.write(None, b"still open\n", 0) == 11  # type: ignore[arg-type]
        console.close()
        with pytest.raises(FsError) as e:
            guest.write(None, b"x", 0)  # type: ignore[arg-type]
        assert e.value.errno == errno.EIO
        assert (7, signal.SIGHUP) in jobs.sent
    finally:
        os.close(r)
        os.close(out_r)
        os.close(out_w)
