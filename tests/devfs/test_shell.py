"""`lxfs shell` end to end: busybox sh of the default image under a host pty, driven like a user --
Ctrl-C kills a foreground sleep, Ctrl-Z stops it and fg resumes it, stty -a shows the terminal."""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

if shutil.which("busybox") is None:
    pytest.skip("busybox-static is needed for the default image", allow_module_level=True)


class Session:
    """A `lxfs shell` on a host pty of 24x80."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("<4H", 24, 80, 0, 0))
        # the pty becomes lxfs's controlling terminal, so resizing it sends lxfs SIGWINCH
        code = (
            "import fcntl, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
            "from lxfs.cli import main; sys.argv = ['lxfs', 'shell']; main()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        os.close(slave)
        self.seen = b""

    def expect(self, pattern: bytes, timeout: float = 20.0) -> bytes:
        end = time.monotonic() + timeout
        while pattern not in self.seen and time.monotonic() < end:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    break
        assert pattern in self.seen, f"{pattern!r} not in {self.seen[-400:]!r}"
        before, _, self.seen = self.seen.partition(pattern)
        return before

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


@pytest.fixture
def shell() -> Iterator[Session]:
    session = Session()
    yield session
    if session.proc.poll() is None:
        session.proc.kill()
        session.proc.wait()


PROMPT = b"# "


def test_echo_tty_and_stty(shell: Session) -> None:
    shell.expect(PROMPT)
    shell.send(b"echo hel''lo\r")
    shell.expect(b"hello\r\n")
    shell.expect(PROMPT)
    shell.send(b"tty\r")
    shell.expect(b"/dev/pts/0\r\n")
    shell.expect(PROMPT)
    shell.send(b"echo via-dev-tty > /dev/tty\r")  # the controlling terminal
    shell.expect(b"via-dev-tty\r\n")
    shell.expect(PROMPT)
    shell.send(b"stty -a\r")
    out = shell.expect(PROMPT)
    assert b"rows 24; columns 80" in out
    assert b"intr = ^C" in out and b"susp = ^Z" in out
    shell.send(b"exit 3\r")
    assert shell.close() == 3


def test_ctrl_c_kills_the_foreground_sleep(shell: Session) -> None:
    shell.expect(PROMPT)
    # as on the host's busybox sh under a pty: "^C", a new prompt, and $? is 128 + SIGINT
    shell.send(b"sleep 30\r")
    time.sleep(1.0)
    start = time.monotonic()
    shell.send(b"\x03")
    shell.expect(b"^C")
    shell.expect(PROMPT)
    assert time.monotonic() - start < 10
    shell.send(b"echo status=$?\r")
    shell.expect(b"status=130\r\n")
    shell.send(b"exit\r")
    shell.close()


def test_ctrl_z_stops_and_fg_resumes(shell: Session) -> None:
    shell.expect(PROMPT)
    shell.send(b"sleep 30\r")
    time.sleep(1.0)
    shell.send(b"\x1a")
    shell.expect(b"Stopped")
    shell.expect(PROMPT)
    shell.send(b"jobs\r")
    shell.expect(b"sleep 30")
    shell.expect(PROMPT)
    shell.send(b"fg\r")
    shell.expect(b"sleep 30")
    time.sleep(0.5)
    shell.send(b"\x03")
    shell.expect(PROMPT)
    shell.send(b"echo after\r")
    shell.expect(b"after\r\n")
    shell.send(b"exit 0\r")
    assert shell.close() == 0


def test_resizing_the_host_terminal_reaches_the_guest(shell: Session) -> None:
    shell.expect(PROMPT)
    shell.send(b"stty size\r")
    shell.expect(b"24 80\r\n")
    shell.expect(PROMPT)
    fcntl.ioctl(shell.master, termios.TIOCSWINSZ, struct.pack("<4H", 50, 132, 0, 0))
    time.sleep(0.5)
    shell.send(b"stty size\r")
    shell.expect(b"50 132\r\n")
    shell.send(b"exit 0\r")
    assert shell.close() == 0


def test_background_read_stops_with_sigttin_and_fg_restarts_it(shell: Session) -> None:
    shell.expect(PROMPT)
    shell.send(b"cat &\r")
    shell.expect(PROMPT)
    time.sleep(1.0)
    shell.send(b"\r")
    shell.expect(b"Stopped (tty input)")
    shell.expect(PROMPT)
    shell.send(b"fg\r")
    shell.expect(b"cat\r\n")
    time.sleep(0.5)
    shell.send(b"typed\r")
    shell.expect(b"typed\r\ntyped\r\n")  # our echo, then cat's copy: its read was restarted
    shell.send(b"\x04")
    shell.expect(PROMPT)
    shell.send(b"echo rc=$?\r")
    shell.expect(b"rc=0\r\n")
    shell.send(b"exit 0\r")
    assert shell.close() == 0


def test_vi_in_raw_mode_edits_a_file(shell: Session) -> None:
    shell.expect(PROMPT)
    shell.send(b"vi /tmp/note\r")
    shell.expect(b"/tmp/note")
    time.sleep(0.5)
    shell.send(b"ihello from vi")
    time.sleep(0.3)
    shell.send(b"\x1b")
    time.sleep(0.5)
    shell.send(b":wq\r")
    shell.expect(PROMPT)
    shell.send(b"cat /tmp/note; stty -a | grep -o ' icanon'\r")
    shell.expect(b"hello from vi\r\n")
    shell.expect(b" icanon")  # vi restored the canonical mode it found
    shell.send(b"exit 0\r")
    assert shell.close() == 0


def test_piped_commands_run_and_the_exit_status_is_the_shells() -> None:
    code = "import sys; from lxfs.cli import main; sys.argv = ['lxfs', 'shell']; main()"
    done = subprocess.run(
        [sys.executable, "-c", code], input=b"echo from-pipe; exit 4\n", capture_output=True, timeout=120
    )
    assert done.returncode == 4
    assert b"from-pipe\r\n" in done.stdout


def test_user_shell_owns_its_terminal() -> None:
    code = "import sys; from lxfs.cli import main; sys.argv = ['lxfs', 'shell', '--user', '1000:1000']; main()"
    script = b"id -u; ls -ln $(tty); echo via-tty > /dev/tty; exit 5\n"
    done = subprocess.run([sys.executable, "-c", code], input=script, capture_output=True, timeout=120)
    assert done.returncode == 5
    assert b"\r\n1000\r\n" in done.stdout
    assert b"crw--w----    1 1000     5         136,   0" in done.stdout
    assert b"\r\nvia-tty\r\n" in done.stdout
