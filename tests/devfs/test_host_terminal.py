"""HostTerminal: the guest console over host fds; modes and window size are the host tty's."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import termios as T
from collections.abc import Iterator

import pytest

from devfs.devices import HostTerminal
from devfs.termbits import Termios, Winsize
from lxfs.vfs.errors import FsError
from tests.devfs.guestmem import Mem

ARG = 0x2000


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def test_termios_and_winsize_go_to_the_host_tty(pty: tuple[int, int]) -> None:
    _master, slave = pty
    term = HostTerminal(slave, slave)
    mem = Mem()
    term.ioctl(None, T.TCGETS, ARG, mem)  # type: ignore[arg-type]
    assert mem.read(ARG, 36) == fcntl.ioctl(slave, T.TCGETS, bytes(36))
    raw = Termios.unpack(mem.read(ARG, 36))
    raw.lflag &= ~T.ICANON
    mem.write(ARG, raw.pack())
    term.ioctl(None, T.TCSETS, ARG, mem)  # type: ignore[arg-type]
    assert not termios_lflag(slave) & T.ICANON
    mem.write(ARG, Winsize(40, 132).pack())
    term.ioctl(None, T.TIOCSWINSZ, ARG, mem)  # type: ignore[arg-type]
    assert fcntl.ioctl(slave, T.TIOCGWINSZ, bytes(8)) == Winsize(40, 132).pack()


def termios_lflag(fd: int) -> int:
    return struct.unpack("<4I", fcntl.ioctl(fd, T.TCGETS, bytes(36))[:16])[3]


def test_reads_would_block_until_the_host_has_input(pty: tuple[int, int]) -> None:
    master, slave = pty
    term = HostTerminal(slave, slave)
    with pytest.raises(FsError) as e:
        term.read(None, 10, 0)  # type: ignore[arg-type]
    assert e.value.errno == errno.EAGAIN
    assert not term.poll(None) & select.POLLIN  # type: ignore[arg-type]
    os.write(master, b"typed\n")
    select.select([slave], [], [], 1)
    assert term.poll(None) & select.POLLIN  # type: ignore[arg-type]
    assert term.read(None, 10, 0) == b"typed\n"  # type: ignore[arg-type]
    assert term.write(None, b"shown\n", 0) == 6  # type: ignore[arg-type]
    seen = b""
    while b"shown" not in seen and select.select([master], [], [], 1)[0]:
        seen += os.read(master, 100)
    assert seen == b"typed\r\nshown\r\n"  # the host tty's own echo, then our output


def test_not_a_tty_gives_ENOTTY() -> None:
    r, w = os.pipe()
    try:
        term = HostTerminal(r, w)
        mem = Mem()
        for request in (T.TCGETS, T.TIOCGWINSZ, T.TIOCGPGRP):
            with pytest.raises(FsError) as e:
                term.ioctl(None, request, ARG, mem)  # type: ignore[arg-type]
            assert e.value.errno == errno.ENOTTY
    finally:
        os.close(r)
        os.close(w)


def test_foreground_group_is_guest_state(pty: tuple[int, int]) -> None:
    _, slave = pty
    term = HostTerminal(slave, slave)
    mem = Mem()
    mem.write(ARG, struct.pack("<i", 42))
    term.ioctl(None, T.TIOCSPGRP, ARG, mem)  # type: ignore[arg-type]
    term.ioctl(None, T.TIOCGPGRP, ARG, mem)  # type: ignore[arg-type]
    assert struct.unpack("<i", mem.read(ARG, 4)) == (42,)
    assert term.tty.pgrp == 42
