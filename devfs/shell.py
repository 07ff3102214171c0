"""`lxfs shell`: an interactive shell of an image on the user's terminal, with job control.

The guest gets a devpts terminal (devfs.console.HostConsole): the host tty is raw, our line discipline
echoes and turns Ctrl-C / Ctrl-Z / Ctrl-\\ into signals for the guest's foreground process group.
``KernelJobs`` is the JobControl of the emulator's Kernel (who calls, process groups, sessions); this
module is CLI composition code (registered by lxfs.commands.run), so it may reach the emulator --
lazily, inside functions.
"""

from __future__ import annotations

import os
import select
import selectors
import signal
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devfs.pty import Caller, Tty, TtyFile
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Kernel, Process

POLL_NS = 20_000_000  # how often typed input is looked at while guests keep the CPU busy
DEFAULT_SHELL = b"/bin/sh"


class KernelJobs:
    """devfs.pty.JobControl over an emulator Kernel: the running task is the caller."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.cttys: dict[int, Tty] = {}  # session id -> controlling terminal

    def caller(self) -> Caller | None:
        from emulator import signals as sig

        task = self.kernel.current
        if task is None:
            return None
        proc = task.process
        ignored = frozenset(
            s for s in (signal.SIGTTIN, signal.SIGTTOU) if sig.is_ignored(proc, s) or task.sigmask >> (s - 1) & 1
        )
        return Caller(
            proc.pid, proc.pgid, proc.sid, uid=proc.creds.euid, ctty=self.ctty_of(proc.sid),
            session_leader=proc.sid == proc.pid, ignored=ignored, orphaned_pgrp=self._orphaned(proc.pgid),
        )  # fmt: skip

    def _orphaned(self, pgid: int) -> bool:
        """will_become_orphaned_pgrp: no member has a parent in another group of the same session.
        (Linux skips children of the global init; here the shell often is pid 1, so it counts.)"""
        for proc in self.kernel.processes.values():
            if proc.pgid != pgid or proc.zombie:
                continue
            parent = proc.parent
            if parent is not None and parent.pgid != pgid and parent.sid == proc.sid:
                return False
        return True

    def signal_pgrp(self, pgid: int, sig: int) -> None:
        self.kernel.kill_pgrp(pgid, sig)

    def set_ctty(self, sid: int, tty: Tty | None) -> None:
        if tty is None:
            self.cttys.pop(sid, None)
        else:
            self.cttys[sid] = tty

    def pgrp_session(self, pgid: int) -> int | None:
        for proc in self.kernel.processes.values():
            if proc.pgid == pgid and not proc.zombie:
                return proc.sid
        return None

    def ctty_of(self, sid: int) -> Tty | None:
        return self.cttys.get(sid)


def attach_terminal(kernel: Kernel, proc: Process, in_fd: int = 0, out_fd: int = 1) -> Any:
    """Give ``proc`` (a session leader) a devpts terminal wired to the host fds as fds 0-2 and its
    controlling terminal; returns the HostConsole. Typed input is pumped when the kernel is idle
    (selector) and every POLL_NS while it is busy (a timer), so Ctrl-C stops a busy loop."""
    from devfs.console import HostConsole

    ns = kernel.namespace
    devices = ns.devices
    jobs = KernelJobs(kernel)
    devices.set_job_control(jobs)
    console = HostConsole(devices.devpts, in_fd, out_fd, uid=proc.creds.euid)
    try:  # through /dev/pts when the image has /dev, so ttyname() finds it
        slave = ns.openat(proc.fs, None, console.slave_path, os.O_RDWR | os.O_NOCTTY)
    except FsError:
        slave = ns.open_anon(proc.fs, stat.S_IFCHR | 0o620, os.O_RDWR, console.open_slave(), console.slave_path)
    slave_ops = slave.ops
    assert isinstance(slave_ops, TtyFile)
    table = proc.fdtable
    for fd in (0, 1, 2):
        if fd in dict(table.items()):
            table.close(fd)
    table.install(slave, False)
    table.dup(0)
    table.dup(0)
    tty = slave_ops.tty
    tty.session, tty.pgrp = proc.sid, proc.pgid
    jobs.set_ctty(proc.sid, tty)

    def pump() -> None:
        if not console.closed and not console.pump_input():
            kernel.unwatch_fd(in_fd)

    def poll_input() -> None:
        if console.closed:
            return
        if console.resize_requested:
            console.resize_requested = False
            console.resize()
        if not console.input_ended and select.select([in_fd], [], [], 0)[0]:
            pump()
        kernel.add_timer(_now_ns() + POLL_NS, poll_input)

    kernel.watch_fd(in_fd, selectors.EVENT_READ, pump)
    kernel.add_timer(_now_ns() + POLL_NS, poll_input)
    return console


def _now_ns() -> int:
    return time.monotonic_ns()


def run_shell(
    image: Path | None, argv: list[str] | None = None, *, user: str | None = None, env: list[str] | None = None
) -> int:
    """``lxfs shell``: the guest shell's exit status (128+N when killed by signal N)."""
    from emulator.loader import ExecError
    from emulator.syscalls.fs_setup import spawn_init
    from lxfs.commands.run import DEFAULT_ENV, RunError, _parse_user, open_system

    uid, gid = _parse_user(user)
    args = [os.fsencode(a) for a in argv] if argv else [DEFAULT_SHELL]
    envp = [*DEFAULT_ENV, b"TERM=" + os.fsencode(os.environ.get("TERM", "xterm")), b"PS1=\\w \\$ "]
    for item in env or []:
        if "=" not in item:
            raise RunError(f"--env {item}: expected K=V", 2)
        key = os.fsencode(item.split("=", 1)[0]) + b"="
        envp = [e for e in envp if not e.startswith(key)] + [os.fsencode(item)]
    with open_system(image, uid=uid, gid=gid) as kernel:
        try:
            proc = spawn_init(kernel, args, envp, uid=uid, gid=gid, stdio=())
        except ExecError as exc:
            raise RunError(f"{args[0].decode()}: {exc.strerror}", 126) from None
        except FsError as exc:
            raise RunError(f"{args[0].decode()}: {exc.strerror}", 127 if exc.errno == 2 else 126) from None
        console = attach_terminal(kernel, proc)
        old_winch = signal.getsignal(signal.SIGWINCH)
        # the handler only flags: the resize (and its SIGWINCH to the guest) runs in the kernel loop
        signal.signal(signal.SIGWINCH, lambda signum, frame: setattr(console, "resize_requested", True))
        console.enter_raw()
        try:
            status = kernel.run()
        finally:
            console.restore()
            signal.signal(signal.SIGWINCH, old_winch)
            console.close()
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return (status >> 8) & 0xFF


def register(app: typer.Typer) -> None:
    @app.command(
        "shell",
        help="An interactive shell inside an image (the default busybox image without IMAGE), on this "
        "terminal with job control: lxfs shell [IMAGE] [-- PROGRAM ARGS...]",
    )
    def shell_cmd(
        args: Annotated[list[str] | None, typer.Argument(help="[IMAGE] [-- PROGRAM ARGS...]")] = None,
        user: Annotated[str | None, typer.Option("--user", help="Run as UID:GID.")] = None,
        env: Annotated[list[str] | None, typer.Option("--env", help="K=V for the environment.")] = None,
    ) -> None:
        from lxfs.commands.run import RunError

        items = list(args or [])
        raw = sys.argv[1:]
        image: Path | None = None
        program: list[str] = []
        if "--" in raw:
            before = [a for a in raw[: raw.index("--")] if a not in ("shell",) and not a.startswith("-")]
            if before:
                image = Path(before[0])
            program = items[len(before) :]
        elif items:
            image = Path(items[0])
            program = items[1:]
        try:
            status = run_shell(image, program or None, user=user, env=env)
        except RunError as exc:
            print(f"lxfs shell: {exc}", file=sys.stderr)
            raise typer.Exit(exc.status) from None
        raise typer.Exit(status)
