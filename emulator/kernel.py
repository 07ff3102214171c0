"""The kernel: processes, threads, the scheduler, timers and syscall dispatch for one lxfs process.

- ``Kernel``: owns the VFS Namespace, pid allocation, the run queue and timers, and the one syscall
  dispatcher that the C trampoline calls for every guest ``syscall``. ``run()`` schedules until the first
  process (pid 1) exits and returns its wait status.
- ``Process`` (thread group): pid/ppid/pgid/sid, the AddressSpace (mm), fd table, fs context, creds,
  signal handlers, children, exit status, argv/env/exe for /proc, rlimits.
- ``Task`` (thread): tid, saved CPU context, signal mask and pending signals, robust list,
  clear_child_tid, and the state of a blocked syscall.

Blocking: a handler raises ``Block(queues, deadline)``; the task is parked on those WaitQueues, the CPU
stops, RIP is rewound to the ``syscall`` instruction (rax still holds the number), and when woken the
syscall runs again from scratch (``task.restarting`` is True and ``task.wake_reason`` says why). A signal
wakes a blocked task: the syscall then fails with EINTR, or restarts under SA_RESTART (Block.restart).

Control-flow changes (execve, rt_sigreturn, signal delivery, exit) never write RIP inside the hook: the
handler queues work in ``task.post_stop`` and sets ``task.stop``; the scheduler applies it after
``emu_start`` returns (DESIGN.md "Restart at a new RIP").

Extension points for the other sides: ``exec_reader`` (how execve reads a program), ``fork_hooks``,
``exec_hooks`` and ``exit_hooks`` (fd tables and fs contexts), ``watch_fd`` (host fds the idle loop waits
on), ``foreground_hook`` (where a host SIGINT goes), ``add_timer``/``wake``/``park``. Task is the
GuestMemory of its process (read, write, read_cstring, read_u64/u32, write_u64/u32: EFAULT on a bad
pointer); ``task.deadline(ns)`` keeps a sleep's deadline across re-executions. Without a namespace the
file syscalls are the host's stdio (emulator.syscalls.hoststdio). The ProcessSource methods at the end
delegate to emulator.procsource.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import os
import selectors
import signal as hostsignal
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from unicorn.unicorn_py3.unicorn import UcContext

from emulator import signals as sig
from emulator.bkl import KernelLock
from emulator.cpu import RIP, UC_ERR_EXCEPTION, UC_ERR_INSN_INVALID, UC_MEM_FETCH, Cpu, start_timer
from emulator.loader import Creds as LoaderCreds
from emulator.loader import Program, load_program, resolve_script
from emulator.memory import AddressSpace
from emulator.syscalls import table as systable
from lxfs.vfs.errors import FsError
from lxfs.vfs.waitq import WaitQueue
from procfs.source import default_limits

# include/uapi/linux/futex.h
FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x8000_0000, 0x4000_0000, 0x3FFF_FFFF
ROBUST_LIST_LIMIT = 2048
PREEMPT_US = int(os.environ.get("LXFS_PREEMPT_US", "4000"))  # time slice of CPU-bound tasks (DESIGN.md: every few ms)

# task states
RUNNABLE, BLOCKED, STOPPED, DEAD = "R", "S", "T", "X"
# what a host terminal sends the foreground process (lxfs run) on ^C, ^\ and ^Z: passed to the guest
HOST_TTY_SIGNALS = (hostsignal.SIGINT, hostsignal.SIGQUIT, hostsignal.SIGTSTP)
# why a parked task was woken (task.wake_reason)
WAKE_EVENT, WAKE_TIMEOUT, WAKE_SIGNAL = 1, 2, 3


class Block(Exception):
    """Raised by a handler that must wait: park on ``queues`` until notified, or until ``deadline``
    (time.monotonic_ns()) passes. ``restart``: re-run the syscall after a handler with SA_RESTART
    (False for sleeps and waits Linux never restarts: nanosleep, pause, sigsuspend, poll...)."""

    def __init__(
        self,
        queues: Iterable[WaitQueue] = (),
        deadline: int | None = None,
        restart: bool = True,
        interruptible: bool = True,
    ) -> None:
        super().__init__()
        self.queues = tuple(queues)
        self.deadline = deadline
        self.restart = restart
        self.interruptible = interruptible
        self.wanted_signals = 0  # rt_sigtimedwait: blocked signals that still end the wait

    def on_interrupt(self, task: Task) -> None:
        """The syscall is failing with EINTR (a handler runs): e.g. nanosleep stores the time left."""


class Exit(Exception):
    """Raised to leave run() early (all processes gone)."""


@dataclass(slots=True)
class Credentials:
    """Task credentials (include/linux/cred.h); root by default."""

    uid: int = 0
    euid: int = 0
    suid: int = 0
    fsuid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0
    fsgid: int = 0
    groups: tuple[int, ...] = ()

    def copy(self) -> Credentials:
        return Credentials(
            self.uid, self.euid, self.suid, self.fsuid, self.gid, self.egid, self.sgid, self.fsgid, self.groups
        )


@dataclass(slots=True)
class Timer:
    when: int
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class Task:
    """A thread: its CPU context lives in ``ctx`` while another task of the same Uc runs."""

    def __init__(self, kernel: Kernel, tid: int, process: Process) -> None:
        self.kernel = kernel
        self.tid = tid
        self.process = process
        self.ctx: UcContext | None = None
        self.ctx_cpu: object | None = None
        self.state = RUNNABLE
        self.comm = process.comm
        # signals
        self.sigmask = 0
        self.saved_sigmask: int | None = None  # sigsuspend/ppoll: restored after delivery
        self.pending = sig.SigPending()
        self.altstack = (0, sig.SS_DISABLE, 0)  # (ss_sp, ss_flags, ss_size)
        # thread bookkeeping
        self.clear_child_tid = 0
        self.robust_list = (0, 0)
        # blocking
        self.block: Block | None = None
        self.restarting = False
        self.wake_reason = 0
        self.block_timer: Timer | None = None
        self.block_deadline: int | None = None
        self._waiter: Callable[[int], None] | None = None
        self.futex_key: object | None = None
        self.futex_bitset = 0
        self.interrupted = False
        # stop requests for the scheduler
        self.stop = False
        self.rewind = False
        self.post_stop: list[Callable[[], None]] = []
        # accounting
        self.start_ns = time.monotonic_ns()
        self.utime_ns = 0  # guest code
        self.stime_ns = 0  # inside syscalls
        self.nvcsw = 0
        self.nivcsw = 0

    @property
    def mm(self) -> AddressSpace:
        return self.process.mm

    @property
    def pid(self) -> int:
        return self.process.pid

    # GuestMemory for ioctls and the file side
    def read(self, addr: int, size: int) -> bytes:
        return self.process.mm.read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        self.process.mm.write(addr, data)

    def read_cstring(self, addr: int, limit: int = 4096) -> bytes:
        return self.process.mm.read_cstring(addr, limit)

    def read_u64(self, addr: int) -> int:
        return self.process.mm.read_u64(addr)

    def read_u32(self, addr: int) -> int:
        return self.process.mm.read_u32(addr)

    def write_u64(self, addr: int, value: int) -> None:
        self.process.mm.write_u64(addr, value)

    def write_u32(self, addr: int, value: int) -> None:
        self.process.mm.write_u32(addr, value)

    def deadline(self, relative_ns: int) -> int:
        """The absolute deadline of a sleeping syscall: kept across its re-executions."""
        if self.restarting and self.block_deadline is not None:
            return self.block_deadline
        return time.monotonic_ns() + max(relative_ns, 0)

    def __repr__(self) -> str:
        return f"<Task {self.tid} of {self.process.pid} {self.state}>"


class Process:
    """A thread group."""

    def __init__(self, kernel: Kernel, pid: int, parent: Process | None, mm: AddressSpace) -> None:
        self.kernel = kernel
        self.pid = pid
        self.parent = parent
        self.pgid: int = parent.pgid if parent else pid
        self.sid: int = parent.sid if parent else pid
        self.mm = mm
        self.fdtable: Any = None  # lxfs.vfs.file.FdTable (the file side)
        self.fs: Any = None  # lxfs.vfs FsContext: root, cwd, umask (the file side)
        self.creds: Credentials = parent.creds.copy() if parent else Credentials()
        self.umask: int = parent.umask if parent else 0o022
        self.sighand: sig.SigHandlers = sig.SigHandlers()
        self.shared_pending = sig.SigPending()
        self.threads: list[Task] = []
        self.children: list[Process] = []
        self.child_waitq = WaitQueue()  # notified when a child changes state (wait4)
        self.vfork_waitq = WaitQueue()
        self.vfork_parent: Task | None = None
        self.exit_status: int | None = None  # wait status once a zombie
        self.exit_signal: int = hostsignal.SIGCHLD.value
        self.zombie = False
        self.reaped = False
        self.group_exiting = False
        self.stopped_report: int | None = None  # wait status of a stop not yet reported
        self.argv: list[bytes] = []
        self.envp: list[bytes] = []
        self.exe: bytes = b""
        self.comm: bytes = b""
        self.rlimits: dict[int, tuple[int, int]] = dict(parent.rlimits) if parent else default_limits()
        self.start_ns = time.monotonic_ns()
        self.itimer_real: Timer | None = None
        self.itimer_interval_ns = 0
        self.itimer_value_ns = 0  # absolute expiry of ITIMER_REAL (0: disarmed)
        # ITIMER_VIRTUAL and ITIMER_PROF: which -> [CPU ns left, interval ns], charged at the end of each slice
        # (VIRTUAL with its user time, PROF with user + system: Kernel._charge_cpu_timers)
        self.itimer_cpu: dict[int, list[int]] = {}
        self.utime_ns = 0  # threads execve dropped from ``threads`` (group totals keep them: signal->utime)
        self.stime_ns = 0
        self.cutime_ns = 0
        self.cstime_ns = 0
        self.child_rusage_ns = 0

    @property
    def leader(self) -> Task | None:
        return self.threads[0] if self.threads else None

    def live_threads(self) -> list[Task]:
        return [t for t in self.threads if t.state != DEAD]

    def group_utime_ns(self) -> int:
        """The thread group's user time: every thread's, the exited ones' included."""
        return self.utime_ns + sum(t.utime_ns for t in self.threads)

    def group_stime_ns(self) -> int:
        """The thread group's system time (time inside syscalls), as group_utime_ns."""
        return self.stime_ns + sum(t.stime_ns for t in self.threads)

    def __repr__(self) -> str:
        return f"<Process {self.pid} {self.comm!r}>"


ExecReader = Callable[["Task | None", bytes], tuple[bytes, bytes]]  # (task, path) -> (resolved path, data)


def host_exec_reader(task: Task | None, path: bytes) -> tuple[bytes, bytes]:
    """Read a program from the host filesystem (until the VFS is wired in by the file side)."""
    try:
        if not os.path.isfile(path):
            if os.path.isdir(path):
                raise FsError(errno.EACCES)
            raise FsError(errno.ENOENT)
        if not os.access(path, os.X_OK):
            raise FsError(errno.EACCES)
        with open(path, "rb") as f:
            return path, f.read()
    except OSError as exc:
        if isinstance(exc, FsError):
            raise
        raise FsError(exc.errno or errno.EIO) from None


class Kernel:
    """One emulated Linux system inside this host process."""

    def __init__(
        self,
        namespace: Any = None,
        *,
        strace: TextIO | None = None,
        release: bytes = b"6.1.0-lxfs",
        hostname: bytes = b"lxfs",
        exec_reader: ExecReader = host_exec_reader,
        stdio: Sequence[int] = (0, 1, 2),
    ) -> None:
        self.namespace = namespace
        # without a namespace the file syscalls are the host's stdio (emulator.syscalls.hoststdio)
        self.table = systable.load() if namespace is not None else systable.host_table()
        self.strace = strace
        self.release = release
        self.hostname = hostname
        self.domainname = b"(none)"
        self.exec_reader = exec_reader
        self.stdio = tuple(stdio)
        self.processes: dict[int, Process] = {}
        self.tasks: dict[int, Task] = {}
        self._next_pid = 1
        self.runq: deque[Task] = deque()
        self.current: Task | None = None
        self.running_cpu: Cpu = None  # type: ignore[assignment]  # the Cpu inside emu_start
        self._timers: list[tuple[int, int, Timer]] = []
        self._seq = itertools.count()
        self.selector = selectors.DefaultSelector()
        self.init: Process | None = None
        self.futexes: dict[object, list[Task]] = {}
        self.boot_ns = time.monotonic_ns()
        self.boot_time = time.time()
        self.ctxt = 0
        self.forks = 0
        self.host_sigint = False
        self.host_signals: list[int] = []  # terminal signals (SIGINT, SIGQUIT, SIGTSTP) to pass on
        self._tstp_pgrp = 0  # the group a host SIGTSTP went to, until the kernel idles
        self.unimplemented: dict[int, int] = {}
        self.messages: TextIO = sys.stderr
        self.exit_hooks: list[Callable[[Process], None]] = []  # the file side: close fds etc.
        self.fork_hooks: list[Callable[[Process, Process, int], None]] = []  # (parent, child, clone flags)
        self.exec_hooks: list[Callable[[Process], None]] = []  # close-on-exec
        self.foreground_hook: Callable[[], int | None] | None = None  # the tty side: foreground pgrp
        self._host_signals = False  # SIGINT handler installed: idle waits for it instead of giving up
        # the big kernel lock (emulator/bkl.py): held by run() except between slices and while idle
        self.lock = KernelLock()

    # -- pids -----------------------------------------------------------------------------------------

    def alloc_pid(self) -> int:
        pid = self._next_pid
        while pid in self.tasks or pid in self.processes:
            pid += 1
        self._next_pid = pid + 1
        return pid

    # -- creating the first process -----------------------------------------------------------------------

    def spawn(self, argv: Sequence[bytes], envp: Sequence[bytes] = (), path: bytes | None = None) -> Process:
        """Create a process running ``argv`` (pid 1 for the first); ExecError/FsError if it cannot load."""
        argv = [a if isinstance(a, bytes) else os.fsencode(a) for a in argv]
        envp = [e if isinstance(e, bytes) else os.fsencode(e) for e in envp]
        path = path or argv[0]
        mm = AddressSpace(self.dispatch)
        try:
            prog, rip, rsp = self._load(None, mm, path, argv, envp, Credentials())
        except BaseException:
            mm.destroy()
            raise
        pid = self.alloc_pid()
        proc = Process(self, pid, None, mm)
        task = Task(self, pid, proc)
        proc.threads.append(task)
        self._set_image(proc, prog, path, envp)
        task.comm = proc.comm
        mm.cpu.reset_state(rip, rsp)
        mm.loaded = task
        self.processes[pid] = proc
        self.tasks[pid] = task
        if self.init is None:
            self.init = proc
        self.runq.append(task)
        return proc

    def _load(
        self,
        task: Task | None,
        mm: AddressSpace,
        path: bytes,
        argv: list[bytes],
        envp: Sequence[bytes],
        creds: Credentials,
    ) -> tuple[Program, int, int]:
        real, data = self.exec_reader(task, path)
        resolved = {path: real}

        def read_file(p: bytes) -> bytes:
            resolved[p], contents = self.exec_reader(task, p)
            return contents

        # a script's interpreter gets the path as given; the program is named by its resolved path
        prog = resolve_script(path, data, list(argv), read_file)
        prog.path = resolved.get(prog.path, prog.path)
        lc = LoaderCreds(creds.uid, creds.euid, creds.gid, creds.egid)
        rip, rsp = load_program(mm, prog, envp, read_file, lc, execfn=path)
        return prog, rip, rsp

    def _set_image(self, proc: Process, prog: Program, path: bytes, envp: Sequence[bytes]) -> None:
        proc.argv = list(prog.argv)
        proc.envp = list(envp)
        proc.exe = prog.path
        proc.comm = os.path.basename(path)[:15]  # Linux: the basename of the name given to execve

    # -- timers ----------------------------------------------------------------------------------------------

    def add_timer(self, when_ns: int, callback: Callable[[], None]) -> Timer:
        t = Timer(when_ns, callback)
        heapq.heappush(self._timers, (when_ns, next(self._seq), t))
        return t

    def _fire_timers(self) -> None:
        now = time.monotonic_ns()
        while self._timers and self._timers[0][0] <= now:
            _, _, t = heapq.heappop(self._timers)
            if not t.cancelled:
                t.cancelled = True
                t.callback()

    def _next_timer(self) -> int | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    # -- host fds (stdin, ptys): the file side registers them; readiness runs the callback ----------------

    def watch_fd(self, fd: int, events: int, callback: Callable[[], None]) -> None:
        self.selector.register(fd, events, callback)

    def unwatch_fd(self, fd: int) -> None:
        try:
            self.selector.unregister(fd)
        except (KeyError, ValueError):
            pass

    # -- blocking and waking --------------------------------------------------------------------------------

    def park(self, task: Task, block: Block) -> None:
        """Park ``task`` (called by the dispatcher for a Block); the syscall re-runs when woken."""
        task.state = BLOCKED
        task.block = block
        task.rewind = True
        task.stop = True
        task.restarting = True
        task.wake_reason = 0

        def waiter(mask: int, task: Task = task) -> None:
            self.wake(task, WAKE_EVENT)

        task._waiter = waiter
        for q in block.queues:
            q.add(waiter)
        if block.deadline is not None:
            task.block_deadline = block.deadline
            task.block_timer = self.add_timer(block.deadline, lambda: self.wake(task, WAKE_TIMEOUT))
        # a signal may already be deliverable (e.g. sent before the block)
        if block.interruptible and self.signal_deliverable(task):
            self.wake(task, WAKE_SIGNAL)

    def suspend(self, task: Task) -> None:
        """Stop running ``task`` without re-running its syscall (vfork parent); wake() resumes it."""
        task.state = BLOCKED
        task.block = Block(restart=False, interruptible=False)
        task.stop = True
        task.rewind = False
        task.restarting = False
        task._waiter = None

    def wake(self, task: Task, reason: int) -> None:
        if task.state != BLOCKED:
            return
        b = task.block
        if reason == WAKE_SIGNAL and b is not None and not b.interruptible:
            return
        if b is not None and task._waiter is not None:
            for q in b.queues:
                q.remove(task._waiter)
        task._waiter = None
        if task.block_timer is not None:
            task.block_timer.cancel()
            task.block_timer = None
        if task.futex_key is not None:
            waiters = self.futexes.get(task.futex_key)
            if waiters and task in waiters:
                waiters.remove(task)
            task.futex_key = None
        task.wake_reason = reason
        task.interrupted = reason == WAKE_SIGNAL
        task.state = RUNNABLE
        self.runq.append(task)

    def syscall_done(self, task: Task) -> None:
        task.restarting = False
        task.block = None
        task.block_deadline = None
        task.wake_reason = 0
        task.interrupted = False

    # -- the syscall dispatcher (hot path: called from C for every guest syscall) ---------------------------

    def dispatch(self, nr: int, a0: int, a1: int, a2: int, a3: int, a4: int, a5: int) -> int | None:
        task = self.current
        assert task is not None
        try:
            entry = self.table[nr]
        except IndexError:
            entry = None
        if entry is None:
            self.unimplemented[nr] = self.unimplemented.get(nr, 0) + 1
            ret: int | None = -errno.ENOSYS
            if self.strace is not None:
                self._trace_unknown(task, nr, (a0, a1, a2, a3, a4, a5))
            return ret
        if self.strace is not None and nr in (60, 231):  # exit, exit_group: the line comes before "+++"
            from emulator.strace import trace

            trace(self, task, entry, (a0, a1, a2, a3, a4, a5), None)
        try:
            ret = entry.call(task, a0, a1, a2, a3, a4, a5)
        except FsError as exc:
            ret = -(exc.errno or errno.EIO)
        except Block as b:
            self.park(task, b)
            self.running_cpu.stop()
            return None
        except Exception:  # a kernel bug: like an oops, it kills the caller, not the whole system
            self._oops(task, entry.name)
            return None
        if task.restarting:
            self.syscall_done(task)
        if self.strace is not None and nr not in (60, 231):
            from emulator.strace import trace

            trace(self, task, entry, (a0, a1, a2, a3, a4, a5), ret)
        if task.stop or task.pending.mask & ~task.sigmask or task.process.shared_pending.mask & ~task.sigmask:
            self.running_cpu.stop()
        return ret

    def _oops(self, task: Task, name: str) -> None:
        import traceback

        print(f"lxfs: internal error in {name}() of pid {task.process.pid}; killing it (SIGSYS):", file=self.messages)
        traceback.print_exc(file=self.messages)
        self.exit_group(task.process, hostsignal.SIGSYS)
        task.stop = True
        self.running_cpu.stop()

    def _trace_unknown(self, task: Task, nr: int, args: tuple[int, ...]) -> None:
        from emulator.strace import trace_unknown

        trace_unknown(self, task, nr, args)

    # -- scheduling -----------------------------------------------------------------------------------------

    def run(self) -> int:
        """Schedule until pid 1 exits; return its wait status."""
        assert self.init is not None
        start_timer(PREEMPT_US)
        old = {s: hostsignal.getsignal(s) for s in HOST_TTY_SIGNALS}
        in_main = _in_main_thread()
        if in_main:
            for s in HOST_TTY_SIGNALS:
                hostsignal.signal(s, self._on_host_sigint)
            self._host_signals = True
        lock = self.lock
        lock.acquire()
        try:
            while not self.init.zombie:
                if lock.waiting:
                    self.current = None  # a host thread's /proc/self is no guest process
                    lock.yield_to_waiters()
                if self.host_sigint:
                    self._forward_host_signals()
                self._fire_timers()
                if not self.runq:
                    if self._tstp_pgrp:
                        self._stop_with_guest()
                    self._idle()
                    continue
                task = self.runq.popleft()
                if task.state != RUNNABLE:
                    continue
                self._run_task(task)
        finally:
            if in_main:
                for s, handler in old.items():
                    hostsignal.signal(s, handler)
                self._host_signals = False
            self.shutdown()
            lock.release()
        status = self.init.exit_status
        return 0 if status is None else status

    def foreground_pgrp(self) -> int:
        """Where a host SIGINT goes: the terminal's foreground group when the tty side says so, else
        init's group."""
        if self.foreground_hook is not None:
            pgrp = self.foreground_hook()
            if pgrp:
                return pgrp
        return self.init.pgid if self.init else 1

    def _forward_host_signals(self) -> None:
        """Signals the host terminal sent us (^C, ^\\, ^Z) go to the guest terminal's foreground group."""
        self.host_sigint = False
        pending, self.host_signals = self.host_signals, []
        for signo in pending:
            pgrp = self.foreground_pgrp()
            self.kill_pgrp(pgrp, signo)
            if signo == hostsignal.SIGTSTP:
                self._tstp_pgrp = pgrp

    def _stop_with_guest(self) -> None:
        """After a host ^Z: when it stopped init's whole group, nothing in the guest can continue it, so
        lxfs stops too, as a program would (the host shell's ``fg`` continues it, and it the group)."""
        pgrp, self._tstp_pgrp = self._tstp_pgrp, 0
        init = self.init
        if init is None or init.pgid != pgrp:
            return
        members = [p for p in self.processes.values() if p.pgid == pgrp and not p.zombie]
        if not members or any(t.state != STOPPED for p in members for t in p.live_threads()):
            return
        with self.lock.released():
            os.kill(os.getpid(), hostsignal.SIGSTOP)
        self.kill_pgrp(pgrp, hostsignal.SIGCONT)

    def _on_host_sigint(self, signum: int, frame: object) -> None:
        self.host_signals.append(signum)
        self.host_sigint = True
        if self.current is not None:
            self.current.process.mm.cpu.stop()

    def _idle(self) -> None:
        nxt = self._next_timer()
        has_fds = bool(self.selector.get_map())
        if nxt is None and not has_fds:
            if self._host_signals:
                # only a signal from outside can wake anything: wait for it, as Linux would
                with self.lock.released():
                    time.sleep(0.05)
                return
            self._deadlock()
            return
        timeout = None if nxt is None else max(0.0, (nxt - time.monotonic_ns()) / 1e9)
        self.current = None
        if has_fds:
            with self.lock.released():
                ready = self.selector.select(timeout)
            for key, _ in ready:
                key.data()
        elif timeout:
            with self.lock.released():
                time.sleep(timeout)

    def _deadlock(self) -> None:
        """Every task waits for something that can never happen: Linux would hang; we say so and stop."""
        print("lxfs: every process is blocked forever (deadlock); stopping", file=self.messages)
        assert self.init is not None
        for proc in list(self.processes.values()):
            if not proc.zombie:
                self.exit_group(proc, hostsignal.SIGKILL)

    def switch_to(self, task: Task) -> None:
        """Load ``task``'s registers into its address space's Cpu (saving whoever was there)."""
        mm = task.process.mm
        cur = mm.loaded
        if cur is task:
            return
        cpu = mm.cpu
        if isinstance(cur, Task) and cur.state != DEAD and cur.process.mm is mm:
            if cur.ctx is None or cur.ctx_cpu is not cpu:
                cur.ctx = cpu.new_context()
                cur.ctx_cpu = cpu
            else:
                cpu.save(cur.ctx)
        assert task.ctx is not None and task.ctx_cpu is cpu, "task context belongs to another address space"
        cpu.restore(task.ctx)
        mm.loaded = task
        self.ctxt += 1

    def _run_task(self, task: Task) -> None:
        self.current = task
        self.switch_to(task)
        sig.deliver(self, task)
        if task.state != RUNNABLE:
            self._after_stop(task)
            return
        cpu = self.running_cpu = task.process.mm.cpu
        t0 = time.perf_counter_ns()
        s0 = cpu.engine.sys_ns()
        err = cpu.run(cpu.reg(RIP))
        spent = time.perf_counter_ns() - t0
        system = cpu.engine.sys_ns() - s0  # the slice's time inside syscalls (timed by the C trampoline)
        user = max(0, spent - system)
        task.utime_ns += user
        task.stime_ns += system
        if task.process.itimer_cpu:
            self._charge_cpu_timers(task.process, user, spent)
        if err:
            self._fault(task, err)
        self._after_stop(task)

    def _charge_cpu_timers(self, proc: Process, user: int, spent: int) -> None:
        """ITIMER_VIRTUAL (user time) / ITIMER_PROF (user + system; check_cpu_itimer): count the slice down;
        on expiry signal the process and reload from the interval (or disarm)."""
        for which, timer in list(proc.itimer_cpu.items()):
            timer[0] -= user if which == hostsignal.ITIMER_VIRTUAL else spent
            if timer[0] > 0:
                continue
            if timer[1]:
                timer[0] = max(timer[0] + timer[1], 1)
            else:
                del proc.itimer_cpu[which]
            signo = hostsignal.SIGVTALRM if which == hostsignal.ITIMER_VIRTUAL else hostsignal.SIGPROF
            self.send_signal(proc, signo, sig.SigInfo(signo, sig.SI_KERNEL))

    def _after_stop(self, task: Task) -> None:
        if task.rewind:
            task.rewind = False
            cpu = task.process.mm.cpu
            cpu.set_reg(RIP, cpu.reg(RIP) - 2)
        task.stop = False
        while task.post_stop:
            task.post_stop.pop(0)()
        if task.state == RUNNABLE:
            self.runq.append(task)

    def _fault(self, task: Task, err: int) -> None:
        """The CPU stopped with an error: a page fault (stack growth or SIGSEGV), an exception vector
        (SIGFPE, SIGTRAP, SIGILL, SIGSEGV) or an invalid instruction (SIGILL)."""
        cpu = task.process.mm.cpu
        page, access = cpu.fault()
        intno = cpu.engine.intno()
        rip = cpu.reg(RIP)
        if err == UC_ERR_EXCEPTION and access:
            if task.process.mm.grow_stack(page):
                return
            fetch_addr = rip if page <= rip < page + 4096 else page
            addr = fetch_addr if access == UC_MEM_FETCH else cpu.fault_address(page)
            v = task.process.mm.find(addr)
            code = sig.SEGV_ACCERR if v is not None else sig.SEGV_MAPERR
            sig.force_signal(self, task, hostsignal.SIGSEGV, code, addr)
        elif intno >= 0:
            signo, code = sig.TRAPS.get(intno, (hostsignal.SIGSEGV, sig.SI_KERNEL))
            sig.force_signal(self, task, signo, code, rip if signo != hostsignal.SIGSEGV else 0)
        elif err == UC_ERR_INSN_INVALID:
            sig.force_signal(self, task, hostsignal.SIGILL, sig.ILL_ILLOPN, rip)
        else:
            sig.force_signal(self, task, hostsignal.SIGSEGV, sig.SI_KERNEL, 0)

    # -- signals ---------------------------------------------------------------------------------------------

    def signal_deliverable(self, task: Task) -> bool:
        return bool((task.pending.mask | task.process.shared_pending.mask) & ~task.sigmask)

    def send_signal(self, proc: Process, signo: int, info: sig.SigInfo | None = None) -> None:
        """A process-directed signal (kill): queued on the group, one thread is woken."""
        sig.send(self, proc, None, signo, info)

    def send_thread_signal(self, task: Task, signo: int, info: sig.SigInfo | None = None) -> None:
        sig.send(self, task.process, task, signo, info)

    def kill_pgrp(self, pgid: int, signo: int) -> None:
        for p in list(self.processes.values()):
            if p.pgid == pgid and not p.zombie:
                self.send_signal(p, signo, sig.SigInfo(signo, sig.SI_KERNEL))

    # -- process lifetime ------------------------------------------------------------------------------------

    def exit_thread(self, task: Task, code: int) -> None:
        """exit(2) of one thread; the last one ends the process with ``code``."""
        proc = task.process
        self._reap_thread(task)
        if not proc.live_threads():
            self._exit_process(proc, (code & 0xFF) << 8)

    def _reap_thread(self, task: Task) -> None:
        if task.state == DEAD:
            return
        if task.state == BLOCKED:
            self.wake(task, WAKE_EVENT)
        task.state = DEAD
        task.stop = True
        proc = task.process
        if task.robust_list[0]:
            self._exit_robust_list(task)
        if task.clear_child_tid:
            # CLONE_CHILD_CLEARTID: zero the tid word and wake one futex waiter (pthread_join)
            try:
                proc.mm.write_u32(task.clear_child_tid, 0)
                from emulator.syscalls.process import futex_wake

                futex_wake(self, task, task.clear_child_tid, 1, 0xFFFF_FFFF, False)
            except FsError:
                pass
        self.tasks.pop(task.tid, None)
        if self.current is task:
            proc.mm.cpu.stop()

    def _exit_robust_list(self, task: Task) -> None:
        """Mark the robust futexes a dying thread still holds (kernel/futex/core.c exit_robust_list):
        FUTEX_OWNER_DIED, and wake one waiter, so pthread_mutex_lock returns EOWNERDEAD."""
        from emulator.syscalls.process import futex_wake

        mm = task.process.mm
        head = task.robust_list[0]
        try:
            entry, offset, pending = struct.unpack("<QqQ", mm.read(head, 24))
            seen = 0
            addrs = []
            while entry != head and entry and seen < ROBUST_LIST_LIMIT:
                addrs.append(entry)
                entry = mm.read_u64(entry)
                seen += 1
            if pending:
                addrs.append(pending)
        except FsError:
            return
        for item in addrs:
            uaddr = (item + offset) & 0xFFFF_FFFF_FFFF_FFFF
            try:
                uval = mm.read_u32(uaddr)
            except FsError:
                continue
            if uval & FUTEX_TID_MASK != task.tid:
                continue
            mm.write_u32(uaddr, (uval & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
            if uval & FUTEX_WAITERS:
                futex_wake(self, task, uaddr, 1, 0xFFFF_FFFF, False)

    def exit_group(self, proc: Process, status: int) -> None:
        """End every thread of ``proc`` with wait status ``status``."""
        if proc.zombie or proc.group_exiting:
            return
        proc.group_exiting = True
        for t in list(proc.threads):
            self._reap_thread(t)
        self._exit_process(proc, status)

    def _exit_process(self, proc: Process, status: int) -> None:
        if proc.zombie:
            return
        proc.group_exiting = True
        proc.exit_status = status
        if self.strace is not None:
            from emulator.strace import trace_exit

            trace_exit(self, proc, status)
        if proc.itimer_real is not None:
            proc.itimer_real.cancel()
        for hook in self.exit_hooks:
            hook(proc)
        mm = proc.mm
        mm.users -= 1
        if mm.users == 0:
            # the Uc may be inside its own hook right now: destroy it after emu_start returns
            if self.current is not None and self.current.process.mm is mm:
                self.current.post_stop.append(mm.destroy)
            else:
                mm.destroy()
        if proc.vfork_parent is not None:
            self.wake(proc.vfork_parent, WAKE_EVENT)
            proc.vfork_parent = None
        # orphans go to init (or are reaped at once when init itself is gone)
        for child in proc.children:
            if self.init is not None and proc is not self.init:
                child.parent = self.init
                self.init.children.append(child)
                if child.zombie:
                    self.init.child_waitq.notify(1)
        proc.children = []
        proc.zombie = True
        parent = proc.parent
        if parent is not None and not parent.zombie:
            if proc.exit_signal:
                code = sig.CLD_EXITED if status & 0x7F == 0 else sig.CLD_KILLED
                si_status = (status >> 8) & 0xFF if code == sig.CLD_EXITED else status & 0x7F
                info = sig.SigInfo(proc.exit_signal, code, pid=proc.pid, uid=proc.creds.uid, status=si_status)
                self.send_signal(parent, proc.exit_signal, info)
            # SA_NOCLDWAIT or SIGCHLD ignored: children are reaped at once (wait(2) NOTES)
            act = parent.sighand.actions[hostsignal.SIGCHLD]
            if act.handler == sig.SIG_IGN or act.flags & sig.SA_NOCLDWAIT:
                self.release_zombie(proc)
            parent.child_waitq.notify(1)
        elif parent is None and proc is not self.init:
            self.release_zombie(proc)

    def release_zombie(self, proc: Process) -> None:
        proc.reaped = True
        self.processes.pop(proc.pid, None)
        if proc.parent is not None and proc in proc.parent.children:
            proc.parent.children.remove(proc)
            proc.parent.cutime_ns += proc.group_utime_ns() + proc.cutime_ns
            proc.parent.cstime_ns += proc.group_stime_ns() + proc.cstime_ns

    def shutdown(self) -> None:
        """Kill whatever is left (init is gone) and free the address spaces."""
        for proc in list(self.processes.values()):
            if not proc.zombie:
                self.exit_group(proc, hostsignal.SIGKILL)
        self.current = None
        for t in self.runq:
            while t.post_stop:
                t.post_stop.pop(0)()
        self.runq.clear()

    # -- /proc: ProcessSource (procfs/source.py) ------------------------------------------------------------

    def current_pid(self) -> int:
        return self.current.process.pid if self.current else 0

    def current_tid(self) -> int:
        return self.current.tid if self.current else 0

    def current_uid(self) -> int:
        return self.current.process.creds.euid if self.current else 0

    def pids(self) -> list[int]:
        return sorted(p.pid for p in self.processes.values() if not p.reaped)

    def process(self, pid: int) -> Any:
        from emulator.procsource import process_info

        p = self.processes.get(pid)
        return process_info(self, p) if p is not None else None

    def identity(self, pid: int) -> Any:
        from emulator.procsource import identity

        p = self.processes.get(pid)
        return identity(p) if p is not None else None

    def vmas(self, pid: int) -> list[Any]:
        from emulator.procsource import vma_list

        p = self.processes.get(pid)
        return vma_list(p) if p is not None and not p.zombie else []

    def fds(self, pid: int) -> list[Any]:
        from emulator.procsource import fd_list

        p = self.processes.get(pid)
        return fd_list(p) if p is not None and not p.zombie else []

    def mounts(self, pid: int) -> list[Any]:
        from emulator.procsource import mount_list

        return mount_list(self, self.processes.get(pid))

    def system(self) -> Any:
        from emulator.procsource import system_info

        return system_info(self)

    def set_comm(self, pid: int, tid: int, comm: bytes) -> None:
        t = self.tasks.get(tid)
        if t is not None and t.process.pid == pid:
            t.comm = comm
            if tid == pid:
                t.process.comm = comm

    def set_oom_score_adj(self, pid: int, value: int) -> None:
        p = self.processes.get(pid)
        if p is not None:
            p.oom_score_adj = value  # type: ignore[attr-defined]

    def set_hostname(self, name: bytes) -> None:
        self.hostname = name


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run(
    argv: Sequence[bytes | str],
    envp: Sequence[bytes | str] | None = None,
    *,
    namespace: Any = None,
    strace: TextIO | None = None,
    exec_reader: ExecReader = host_exec_reader,
) -> int:
    """Run a program to completion; returns its wait status (exit code << 8, or the killing signal).

    ``envp`` defaults to a minimal PATH/HOME/TERM environment, not the host's."""
    if envp is None:
        envp = [b"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", b"HOME=/root", b"TERM=xterm"]
    kernel = Kernel(namespace, strace=strace, exec_reader=exec_reader)
    kernel.spawn([os.fsencode(a) for a in argv], [os.fsencode(e) for e in envp])
    return kernel.run()
