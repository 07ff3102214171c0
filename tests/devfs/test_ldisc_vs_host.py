"""The line discipline against the host kernel's own N_TTY: the same termios and the same keystrokes on
a host pty and on LineDiscipline must give the same echo bytes and the same reads, byte for byte."""

from __future__ import annotations

import fcntl
import os
import select
import termios as T
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from devfs.ldisc import LineDiscipline
from devfs.termbits import Termios
from lxfs.vfs.errors import FsError


@dataclass
class Result:
    echo: bytes = b""
    reads: list[bytes] = field(default_factory=list)
    signals: list[int] = field(default_factory=list)


def _drain(fd: int, quiet: float = 0.08) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], quiet)
        if not ready:
            return out
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


def _read_all(read: Callable[[], bytes], limit: int = 20) -> list[bytes]:
    reads: list[bytes] = []
    for _ in range(limit):
        try:
            data = read()
        except (BlockingIOError, FsError) as exc:
            if isinstance(exc, FsError):
                assert exc.errno == 11
            break
        reads.append(data)
        if data == b"" and len(reads) > 1 and reads[-2] == b"":
            break
    return reads


@pytest.fixture
def host_pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    os.set_blocking(slave, False)
    try:
        yield master, slave
    finally:
        os.close(master)
        os.close(slave)


def run_host(pty: tuple[int, int], tio: Termios, keys: list[bytes], output: bytes = b"") -> Result:
    master, slave = pty
    fcntl.ioctl(slave, T.TCSETS, tio.pack())
    result = Result()
    if output:
        os.write(slave, output)
    for chunk in keys:
        os.write(master, chunk)
        time.sleep(0.01)
    result.echo = _drain(master)
    result.reads = _read_all(lambda: os.read(slave, 1024), limit=8 if tio.cc[T.VMIN] else 1)
    return result


def run_ours(tio: Termios, keys: list[bytes], output: bytes = b"") -> Result:
    result = Result()
    echo = bytearray()
    ld = LineDiscipline(Termios.pty_slave(), echo.extend, result.signals.append)
    ld.set_termios(tio)
    if output:
        ld.write(output)
    for chunk in keys:
        ld.receive(chunk)
    result.echo = bytes(echo)
    result.reads = _read_all(lambda: ld.read(1024), limit=8 if tio.cc[T.VMIN] else 1)
    return result


def _tio(lflag_on: int = 0, lflag_off: int = 0, iflag_on: int = 0, iflag_off: int = 0,
         oflag_on: int = 0, oflag_off: int = 0, **cc: int) -> Termios:  # fmt: skip
    tio = Termios.pty_slave()
    tio.lflag = (tio.lflag | lflag_on) & ~lflag_off
    tio.iflag = (tio.iflag | iflag_on) & ~iflag_off
    tio.oflag = (tio.oflag | oflag_on) & ~oflag_off
    for name, value in cc.items():
        tio.cc[getattr(T, name)] = value
    return tio


CASES: dict[str, tuple[Termios, list[bytes]]] = {
    "canonical_line_with_icrnl": (_tio(), [b"hello\r"]),
    "erase_del": (_tio(), [b"abc\x7f\x7fd\n"]),
    "erase_past_line_start_does_nothing": (_tio(), [b"\x7f\x7fa\n"]),
    "kill_with_echoke": (_tio(), [b"abc\x15x\n"]),
    "kill_without_echoke": (_tio(lflag_off=T.ECHOKE), [b"abc\x15x\n"]),
    "kill_without_echok_echoke": (_tio(lflag_off=T.ECHOKE | T.ECHOK), [b"abc\x15x\n"]),
    "werase_words_and_underscores": (_tio(), [b"foo bar_baz  \x17q\n", b"a-b\x17\x17c\n"]),
    "echoctl_control_chars": (_tio(), [b"a\x01b\x1b\n"]),
    "erase_control_char_echoctl": (_tio(), [b"a\x01\x7f\n"]),
    "erase_control_char_no_echoctl": (_tio(lflag_off=T.ECHOCTL), [b"a\x01\x7f\n"]),
    "erase_tab_start": (_tio(), [b"\t\x7fx\n"]),
    "erase_tab_after_text": (_tio(), [b"ab\tc\x7f\x7fd\n"]),
    "erase_tab_after_tab": (_tio(), [b"a\t\t\x7f\x7fz\n"]),
    "lnext_quotes_intr": (_tio(), [b"\x16\x03\x16\x7f\n"]),
    "reprint": (_tio(), [b"abc\x12d\n"]),
    "eof_after_text_and_on_empty_line": (_tio(), [b"abc\x04", b"\x04", b"x\n"]),
    "isig_intr_flushes_line": (_tio(), [b"abc\x03", b"def\n"]),
    "isig_quit_and_susp": (_tio(), [b"a\x1c", b"b\x1a", b"c\n"]),
    "noflsh_keeps_line": (_tio(lflag_on=T.NOFLSH), [b"abc\x03def\n"]),
    "isig_off_queues_intr": (_tio(lflag_off=T.ISIG), [b"a\x03b\n"]),
    "echoprt_erase": (_tio(lflag_on=T.ECHOPRT), [b"abc\x7f\x7fd\n"]),
    "no_echoe_erase_echoes_erase_char": (_tio(lflag_off=T.ECHOE), [b"abc\x7fd\n"]),
    "echo_off": (_tio(lflag_off=T.ECHO), [b"secret\n"]),
    "echonl_without_echo": (_tio(lflag_off=T.ECHO, lflag_on=T.ECHONL), [b"abc\n"]),
    "icrnl_off_cr_is_data": (_tio(iflag_off=T.ICRNL), [b"a\rb\n"]),
    "igncr": (_tio(iflag_on=T.IGNCR), [b"a\rb\n"]),
    "inlcr": (_tio(iflag_on=T.INLCR, iflag_off=T.ICRNL), [b"ab\n\r"]),
    "eol_char": (_tio(VEOL=ord(";")), [b"ab;cd\n"]),
    "iutf8_erases_whole_character": (_tio(iflag_on=0o40000), ["aé€\x7f\x7f".encode() + b"\n"]),
    "no_iutf8_erases_bytes": (_tio(), ["é\x7f".encode() + b"\n"]),
    "latin1_werase": (_tio(), [b"ab \xe9\xe8\x17z\n"]),
    "raw_no_echo": (_tio(lflag_off=T.ICANON | T.ECHO | T.ISIG, iflag_off=T.ICRNL | T.IXON), [b"a\r\x03\x7f"]),
    "noncanonical_with_echo": (_tio(lflag_off=T.ICANON), [b"ab\r\n\x01\x7f"]),
    "noncanonical_echo_no_echoctl": (_tio(lflag_off=T.ICANON | T.ECHOCTL), [b"a\x01\n"]),
    "ixon_stop_start_are_consumed": (_tio(), [b"a\x13b\x11c\n"]),
    "istrip": (_tio(iflag_on=T.ISTRIP), [b"\xe1b\n"]),
    "xtabs_echo_and_columns": (_tio(oflag_on=T.XTABS), [b"ab\tc\x7f\x7fd\n"]),
    "opost_off_echo": (_tio(oflag_off=T.OPOST), [b"ab\x7f\n"]),
    "line_longer_than_read": (_tio(), [b"x" * 1500 + b"\n"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_input_echo_and_reads_match_host(host_pty: tuple[int, int], name: str) -> None:
    tio, keys = CASES[name]
    host = run_host(host_pty, tio.copy(), keys)
    ours = run_ours(tio.copy(), keys)
    assert ours.echo == host.echo, f"echo: ours {ours.echo!r} host {host.echo!r}"
    assert ours.reads == host.reads, f"reads: ours {ours.reads!r} host {host.reads!r}"


OUTPUT_CASES: dict[str, tuple[Termios, bytes]] = {
    "onlcr": (_tio(), b"a\nb\r\n"),
    "opost_off": (_tio(oflag_off=T.OPOST), b"a\nb\t"),
    "ocrnl_onlret": (_tio(oflag_on=T.OCRNL | T.ONLRET), b"ab\rc\n"),
    "onocr": (_tio(oflag_on=T.ONOCR), b"\rab\rc"),
    "xtabs": (_tio(oflag_on=T.XTABS), b"a\tbc\t\bd\t"),
    "olcuc": (_tio(oflag_on=T.OLCUC), b"abc XyZ\n"),
}


@pytest.mark.parametrize("name", sorted(OUTPUT_CASES))
def test_output_processing_matches_host(host_pty: tuple[int, int], name: str) -> None:
    tio, data = OUTPUT_CASES[name]
    host = run_host(host_pty, tio.copy(), [], output=data)
    ours = run_ours(tio.copy(), [], output=data)
    assert ours.echo == host.echo


def test_default_pty_termios_is_the_hosts(host_pty: tuple[int, int]) -> None:
    _, slave = host_pty
    assert Termios.pty_slave().pack() == fcntl.ioctl(slave, T.TCGETS, bytes(36))


def test_signals_are_reported_in_order() -> None:
    signals: list[int] = []
    ld = LineDiscipline(Termios.pty_slave(), lambda b: None, signals.append)
    ld.receive(b"\x03\x1c\x1a")
    assert signals == [2, 3, 20]


# output first, then typing: erasing a tab depends on the column the output left (fast and slow paths)
MIXED_CASES: dict[str, tuple[Termios, bytes, list[bytes]]] = {
    "prompt_then_tab_erase": (_tio(), b"prompt> ", [b"\t\x7fx\n"]),
    "lines_then_tab_erase": (_tio(), b"line one\nsecond line\npro", [b"a\t\x7f\x7fb\n"]),
    "utf8_prompt_then_tab_erase": (_tio(iflag_on=0o40000), "héllo\nwörld> ".encode(), [b"\t\x7fz\n"]),
    "tabs_in_output_then_erase": (_tio(), b"a\tb\tc", [b"\t\x7f\n"]),
    "cr_in_output": (_tio(), b"abc\rde", [b"\t\x7f\n"]),
}


@pytest.mark.parametrize("name", sorted(MIXED_CASES))
def test_output_then_input_matches_host(host_pty: tuple[int, int], name: str) -> None:
    tio, output, keys = MIXED_CASES[name]
    host = run_host(host_pty, tio.copy(), keys, output=output)
    ours = run_ours(tio.copy(), keys, output=output)
    assert ours.echo == host.echo, f"echo: ours {ours.echo!r} host {host.echo!r}"
    assert ours.reads == host.reads


def test_raw_mode_bulk_input_is_queued_whole_up_to_the_buffer() -> None:
    tio = _tio(lflag_off=T.ICANON | T.ECHO | T.ISIG | T.IEXTEN, iflag_off=T.ICRNL | T.IXON)
    ld = LineDiscipline(Termios.pty_slave(), lambda b: None, lambda s: None)
    ld.set_termios(tio)
    data = bytes(range(256)) * 20
    assert ld.receive(data) == 4095  # N_TTY_BUF_SIZE - 1, the rest stays with the writer
    assert ld.read(10_000) == data[:4095]
