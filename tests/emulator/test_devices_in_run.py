"""Devices as programs in ``lxfs run`` see them, against the same program run natively: the memory
devices' positions (lseek always 0, reads and writes never move f_pos), and the controlling terminal
(/dev/tty, tty_nr and tpgid in /proc/PID/stat, ^C to the foreground group) on a host pty."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.emulator.fs_harness import LXFS, first_difference, make_image, run_in_image, run_native
from tests.emulator.harness import compile_program


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_memory_device_positions_match_native(flavour: str, tmp_path: Path) -> None:
    prog = compile_program("dev_pos", flavour)
    native_out, native_status = run_native(prog, tmp_path / "native")
    image = make_image(tmp_path, {"/prog": prog})
    out, status, err = run_in_image(image, "/prog")
    assert out == native_out, f"differs at {first_difference(native_out, out)}\n{err.decode()[-3000:]}"
    assert status == native_status == 0, err.decode()[-3000:]


# A job-control shell in miniature: runs the program as the terminal's foreground group (so terminal
# stops apply: its group is not orphaned) and continues it whenever it stops, as ``fg`` would.
FG_WRAPPER = """
import os, signal, sys
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.tcsetpgrp(0, os.getpgrp())
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    _, status = os.waitpid(pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        sys.exit(os.waitstatus_to_exitcode(status))
    print("[stopped]", flush=True)
    os.kill(pid, signal.SIGCONT)
"""


def _type_stop_then_quit(master: int, out: bytes, step: list[int]) -> None:
    """^Z once "ready" shows, ^\\ once "continued" shows."""
    if step[0] == 0 and b"ready\r\n" in out:
        os.write(master, b"\x1a")
        step[0] = 1
    elif step[0] == 1 and b"continued\r\n" in out:
        os.write(master, b"\x1c")
        step[0] = 2


def _on_pty(argv: list[str], timeout: float = 60, script: str = "interrupt") -> bytes:
    """Run ``argv`` as a session leader whose controlling terminal is a new pty (stdin and stdout on it);
    type ^C once "ready" appears (script "stop": ^Z, then ^\\ once continued). Returns everything the
    terminal showed, with CRLF as LF."""
    master, slave = pty.openpty()

    def ctty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE, preexec_fn=ctty, close_fds=True)
    os.close(slave)
    out = b""
    typed = False
    step = [0]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every slave fd is closed
                    break
                if not chunk:
                    break
                out += chunk
            if script == "stop":
                _type_stop_then_quit(master, out, step)
            elif not typed and b"ready\r\n" in out:
                os.write(master, b"\x03")
                typed = True
            if proc.poll() is not None and not ready:
                break
        else:
            pytest.fail(f"timed out; terminal showed {out!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
        err = proc.communicate()[1]
        os.close(master)
    assert proc.returncode == 0, err.decode()[-3000:]
    for echo in (b"^C", b"^Z", b"^\\"):
        out = out.replace(echo, b"")
    return out.replace(b"\r\n", b"\n")


def test_job_control_on_the_terminal_matches_native(tmp_path: Path) -> None:
    """lxfs run on a terminal: /dev/tty is the controlling terminal, /proc/PID/stat shows it and its
    foreground group, and ^C reaches the guest's foreground group (after tcsetpgrp), not init's."""
    prog = compile_program("tty_jobs", "glibc")
    native = _on_pty([str(prog)])
    assert b"open /dev/tty: ok" in native and b"signaled 1 sig 2" in native, native
    image = make_image(tmp_path, {"/prog": prog})
    ours = _on_pty([*LXFS, "run", str(image), "--", "/prog"])
    assert ours == native, first_difference(native, ours)


def test_vtime_reads_end_by_timer_like_native(tmp_path: Path) -> None:
    """A VTIME read that nothing wakes still returns when its timer runs out (not a hang or deadlock)."""
    prog = compile_program("tty_vtime", "glibc")
    native_out, native_status = run_native(prog, tmp_path / "native")
    assert native_out.count(b"in time 1") == 2, native_out
    image = make_image(tmp_path, {"/prog": prog})
    out, status, err = run_in_image(image, "/prog", timeout=30)
    assert out == native_out, f"differs at {first_difference(native_out, out)}\n{err.decode()[-3000:]}"
    assert status == native_status == 0


@pytest.mark.parametrize("flavour", ["glibc", "dynamic"])
def test_exe_and_maps_name_the_resolved_file_like_native(flavour: str, tmp_path: Path) -> None:
    prog = compile_program("exe_path", flavour)
    native_out, native_status = run_native(prog, tmp_path / "native")
    assert native_out.count(b"is the file 1, maps names it 1") == 3, native_out
    image = make_image(tmp_path, {"/prog": prog}, dynamic=flavour == "dynamic")
    out, status, err = run_in_image(image, "/prog", timeout=120)
    assert out == native_out, f"differs at {first_difference(native_out, out)}\n{err.decode()[-3000:]}"
    assert status == native_status == 0


def test_group_cpu_times_include_exited_threads_like_native(tmp_path: Path) -> None:
    """/proc/PID/stat, times() and getrusage() count a joined thread's CPU time, across execve, and a
    reaped child's whole group goes to cutime and wait4's rusage."""
    prog = compile_program("group_times", "glibc")
    native_out, native_status = run_native(prog, tmp_path / "native")
    image = make_image(tmp_path, {"/prog": prog})
    out, status, err = run_in_image(image, "/prog", timeout=120)
    assert out == native_out, f"differs at {first_difference(native_out, out)}\n{err.decode()[-3000:]}"
    assert status == native_status == 0


def test_ctrl_z_and_ctrl_backslash_on_the_terminal_match_native(tmp_path: Path) -> None:
    """lxfs run on a terminal: ^Z stops the guest's foreground group and, as nothing in the guest can
    continue it, lxfs itself (a host SIGCONT continues both); ^\\ is the guest's SIGQUIT."""
    prog = compile_program("tty_stop", "glibc")
    wrap = [sys.executable, "-c", FG_WRAPPER]
    native = _on_pty([*wrap, str(prog)], script="stop")
    assert native == b"ready\n[stopped]\ncontinued\ngot SIGQUIT\n", native
    image = make_image(tmp_path, {"/prog": prog})
    ours = _on_pty([*wrap, *LXFS, "run", str(image), "--", "/prog"], script="stop")
    assert ours == native, first_difference(native, ours)
