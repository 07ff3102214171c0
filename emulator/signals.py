"""Signals: pending sets, handlers, default actions, delivery with Linux's x86-64 rt_sigframe, sigreturn.

Frame layout (arch/x86/kernel/signal.c, x86-64): below the interrupted rsp and its 128-byte red zone
(or on the alternate stack) comes the 512-byte FXSAVE image (64-byte aligned), then ``struct
rt_sigframe { pretcode; struct ucontext uc; struct siginfo info; }`` with rsp 16-byte aligned minus 8,
as if the handler had been called. rt_sigreturn reads it back from rsp - 8.
"""

from __future__ import annotations

import errno
import signal as hostsignal
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.cpu import GPRS, RAX, RIP, RSP
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Kernel, Process, Task

NSIG = 64
SIGKILL, SIGSTOP, SIGCHLD, SIGCONT = 9, 19, 17, 18
SIG_DFL, SIG_IGN = 0, 1
# include/uapi/asm-generic/signal-defs.h, arch/x86/include/uapi/asm/signal.h
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO = 1, 2, 4
SA_ONSTACK, SA_RESTART, SA_NODEFER, SA_RESETHAND, SA_RESTORER = (
    0x08000000,
    0x10000000,
    0x40000000,
    0x80000000,
    0x04000000,
)
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048
# si_code values (include/uapi/asm-generic/siginfo.h)
SI_USER, SI_KERNEL, SI_QUEUE, SI_TKILL = 0, 0x80, -1, -6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
ILL_ILLOPN = 2
FPE_INTDIV = 1
TRAP_BRKPT = 1
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 4, 5, 6
# x86 exception vectors -> (signal, si_code)
TRAPS = {
    0: (hostsignal.SIGFPE, FPE_INTDIV),
    1: (hostsignal.SIGTRAP, TRAP_BRKPT),
    3: (hostsignal.SIGTRAP, SI_KERNEL),
    4: (hostsignal.SIGSEGV, SI_KERNEL),
    5: (hostsignal.SIGSEGV, SI_KERNEL),
    6: (hostsignal.SIGILL, ILL_ILLOPN),
    13: (hostsignal.SIGSEGV, SI_KERNEL),
}

UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
# default actions (signal(7))
_IGNORE = {SIGCHLD, hostsignal.SIGURG, hostsignal.SIGWINCH, SIGCONT}
_STOP = {SIGSTOP, hostsignal.SIGTSTP, hostsignal.SIGTTIN, hostsignal.SIGTTOU}
_CORE = {
    hostsignal.SIGQUIT, hostsignal.SIGILL, hostsignal.SIGTRAP, hostsignal.SIGABRT, hostsignal.SIGBUS,
    hostsignal.SIGFPE, hostsignal.SIGSEGV, hostsignal.SIGXCPU, hostsignal.SIGXFSZ, hostsignal.SIGSYS,
}  # fmt: skip

UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 1, 2, 4
FRAME_SIZE = 8 + 304 + 128  # pretcode + struct ucontext + struct siginfo
UCONTEXT = 8
SIGINFO = 8 + 304
MCONTEXT = UCONTEXT + 40
SIGMASK = MCONTEXT + 256


def bit(signo: int) -> int:
    return 1 << (signo - 1)


@dataclass(slots=True)
class SigInfo:
    """struct siginfo (the fields Linux fills for the sources we have)."""

    signo: int
    code: int = SI_USER
    errno: int = 0
    pid: int = 0
    uid: int = 0
    status: int = 0
    addr: int = 0
    value: int = 0
    timerid: int = 0
    overrun: int = 0

    def pack(self) -> bytes:
        head = struct.pack("<iii4x", self.signo, self.errno, self.code)
        if self.signo in (hostsignal.SIGSEGV, hostsignal.SIGBUS, hostsignal.SIGILL, hostsignal.SIGFPE,
                          hostsignal.SIGTRAP) and self.code > 0:  # fmt: skip
            body = struct.pack("<Q", self.addr)
        elif self.signo == SIGCHLD and self.code > 0:
            body = struct.pack("<iIiqq", self.pid, self.uid, self.status, 0, 0)
        elif self.code == -2:  # SI_TIMER
            body = struct.pack("<iiQ", self.timerid, self.overrun, self.value)
        else:
            body = struct.pack("<iIQ", self.pid, self.uid, self.value)
        return (head + body).ljust(128, b"\0")


@dataclass(slots=True)
class SigPending:
    """Pending signals: a mask plus queued siginfo (standard signals queue at most once)."""

    mask: int = 0
    queue: list[SigInfo] = field(default_factory=list)

    def add(self, info: SigInfo) -> None:
        b = bit(info.signo)
        if info.signo < 32 and self.mask & b:
            return
        self.mask |= b
        self.queue.append(info)

    def take(self, signo: int) -> SigInfo:
        for i, info in enumerate(self.queue):
            if info.signo == signo:
                del self.queue[i]
                if not any(q.signo == signo for q in self.queue):
                    self.mask &= ~bit(signo)
                return info
        self.mask &= ~bit(signo)
        return SigInfo(signo, SI_KERNEL)

    def discard(self, signo: int) -> None:
        self.queue = [q for q in self.queue if q.signo != signo]
        self.mask &= ~bit(signo)


@dataclass(slots=True)
class SigAction:
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


class SigHandlers:
    """The signal actions of a process (shared by its threads; copied at fork)."""

    __slots__ = ("actions",)

    def __init__(self) -> None:
        self.actions = [SigAction() for _ in range(NSIG + 1)]

    def copy(self) -> SigHandlers:
        new = SigHandlers()
        new.actions = [SigAction(a.handler, a.flags, a.restorer, a.mask) for a in self.actions]
        return new

    def reset_for_exec(self) -> None:
        """execve: caught signals go back to their default; ignored ones stay ignored."""
        for a in self.actions:
            if a.handler not in (SIG_DFL, SIG_IGN):
                a.handler, a.flags, a.restorer, a.mask = SIG_DFL, 0, 0, 0


def is_ignored(proc: Process, signo: int) -> bool:
    act = proc.sighand.actions[signo]
    return act.handler == SIG_IGN or (act.handler == SIG_DFL and signo in _IGNORE)


def send(kernel: Kernel, proc: Process, task: Task | None, signo: int, info: SigInfo | None = None) -> None:
    """Generate ``signo`` for a process (task None) or one thread; wake a thread that can take it."""
    if proc.zombie or signo == 0:
        return
    info = info or SigInfo(signo, SI_KERNEL)
    if signo == SIGCONT or signo in _STOP:
        _stop_continue(kernel, proc, signo)
    if signo == SIGKILL:
        kernel.exit_group(proc, SIGKILL)
        return
    targets = [task] if task is not None else proc.live_threads()
    blocked_everywhere = all(t.sigmask & bit(signo) for t in targets)
    if is_ignored(proc, signo) and not blocked_everywhere:
        return
    if task is not None:
        task.pending.add(info)
    else:
        proc.shared_pending.add(info)
    from emulator.kernel import BLOCKED, WAKE_EVENT, WAKE_SIGNAL

    for t in targets:
        if t.state == BLOCKED and t.block is not None and t.block.wanted_signals & bit(signo):
            kernel.wake(t, WAKE_EVENT)
            break
        if not t.sigmask & bit(signo):
            if t.state == BLOCKED:
                kernel.wake(t, WAKE_SIGNAL)
            elif kernel.current is t:
                t.process.mm.cpu.stop()
            break


def _stop_continue(kernel: Kernel, proc: Process, signo: int) -> None:
    from emulator.kernel import RUNNABLE, STOPPED

    if signo == SIGCONT:
        for q in (proc.shared_pending, *(t.pending for t in proc.threads)):
            for s in _STOP:
                q.discard(s)
        resumed = False
        for t in proc.threads:
            if t.state == STOPPED:
                t.state = RUNNABLE
                kernel.runq.append(t)
                resumed = True
        if resumed and proc.parent is not None:
            proc.stopped_report = 0xFFFF  # WIFCONTINUED
            proc.parent.child_waitq.notify(1)
    else:
        for q in (proc.shared_pending, *(t.pending for t in proc.threads)):
            q.discard(SIGCONT)


def force_signal(kernel: Kernel, task: Task, signo: int, code: int, addr: int) -> None:
    """A synchronous fault: if blocked or ignored the process dies (force_sig_info_to_task)."""
    act = task.process.sighand.actions[signo]
    if task.sigmask & bit(signo) or act.handler == SIG_IGN:
        act.handler = SIG_DFL
        task.sigmask &= ~bit(signo)
    task.pending.add(SigInfo(signo, code, addr=addr))


def _dequeue(task: Task) -> SigInfo | None:
    allowed = ~task.sigmask
    for pend in (task.pending, task.process.shared_pending):
        ready = pend.mask & allowed
        if ready:
            # synchronous faults first, then the lowest number (kernel/signal.c next_signal)
            signo = (ready & -ready).bit_length()
            return pend.take(signo)
    return None


def deliver(kernel: Kernel, task: Task) -> None:
    """Before returning to user mode: act on every deliverable signal (handlers nest frames)."""
    if not kernel.signal_deliverable(task):
        if task.saved_sigmask is not None and not task.restarting:
            task.sigmask, task.saved_sigmask = task.saved_sigmask, None
        return
    from emulator.kernel import DEAD, RUNNABLE, STOPPED

    first = True
    while task.state == RUNNABLE:
        info = _dequeue(task)
        if info is None:
            break
        signo = info.signo
        proc = task.process
        act = proc.sighand.actions[signo]
        if act.handler == SIG_IGN:
            continue
        if act.handler == SIG_DFL:
            if signo in _IGNORE:
                continue
            if signo in _STOP:
                for t in proc.live_threads():
                    t.state = STOPPED
                if task in kernel.runq:
                    kernel.runq.remove(task)
                if proc.parent is not None:
                    proc.stopped_report = (signo << 8) | 0x7F
                    pact = proc.parent.sighand.actions[SIGCHLD]
                    if not pact.flags & SA_NOCLDSTOP:
                        send(
                            kernel,
                            proc.parent,
                            None,
                            SIGCHLD,
                            SigInfo(SIGCHLD, CLD_STOPPED, pid=proc.pid, status=signo),
                        )
                    proc.parent.child_waitq.notify(1)
                return
            kernel.exit_group(proc, signo | (0x80 if signo in _CORE and _core_dumps(proc) else 0))
            task.state = DEAD
            return
        if first:
            _fix_interrupted_syscall(task, act)
            first = False
        setup_frame(kernel, task, info, act)
    if task.restarting and task.interrupted:
        # woken by a signal that was then ignored/handled elsewhere: the syscall runs again
        task.interrupted = False


def _core_dumps(proc: Process) -> bool:
    return False  # RLIMIT_CORE is 0 by default and lxfs writes no core files


def _fix_interrupted_syscall(task: Task, act: SigAction) -> None:
    """A handler runs on top of a syscall that was parked: restart it (SA_RESTART) or fail it with EINTR."""
    if not task.restarting:
        return
    b = task.block
    if b is not None and b.restart and act.flags & SA_RESTART:
        task.kernel.syscall_done(task)
        return  # RIP is on the syscall instruction and rax holds its number: it re-runs after the handler
    if b is not None:
        b.on_interrupt(task)
    cpu = task.process.mm.cpu
    cpu.engine.reg_write((RIP, RAX), (cpu.reg(RIP) + 2, (-errno.EINTR) & 0xFFFF_FFFF_FFFF_FFFF))
    task.kernel.syscall_done(task)


def setup_frame(kernel: Kernel, task: Task, info: SigInfo, act: SigAction) -> None:
    mm = task.process.mm
    cpu = mm.cpu
    regs = cpu.regs()
    rsp = regs[15]
    ss_sp, ss_flags, ss_size = task.altstack
    on_alt = ss_flags != SS_DISABLE and ss_sp <= rsp < ss_sp + ss_size
    if act.flags & SA_ONSTACK and ss_flags == 0 and not on_alt:
        sp = ss_sp + ss_size
        if ss_flags & SS_AUTODISARM:
            task.altstack = (0, SS_DISABLE, 0)
    else:
        sp = rsp - 128
    fpstate = (sp - 512) & ~63
    frame = ((fpstate - FRAME_SIZE) & ~15) - 8
    oldmask = task.saved_sigmask if task.saved_sigmask is not None else task.sigmask
    task.saved_sigmask = None
    flags_stack = SS_ONSTACK if on_alt else (ss_flags if ss_flags == SS_DISABLE else 0)
    uc = struct.pack("<QQQi4xQ", UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0, ss_sp, flags_stack, ss_size)
    mctx = struct.pack("<18Q", *regs) + struct.pack("<HHHH", 0x33, 0, 0, 0x2B)
    mctx += struct.pack("<QQQQQ", 0, 14 if info.signo == hostsignal.SIGSEGV else 0, oldmask, info.addr, fpstate)
    mctx += b"\0" * 64
    assert len(mctx) == 256
    data = struct.pack("<Q", act.restorer) + uc + mctx + struct.pack("<Q", oldmask) + info.pack()
    assert len(data) == FRAME_SIZE
    try:
        mm.write(fpstate, cpu.fxsave())
        mm.write(frame, data)
    except FsError:
        # no room for the frame: the process dies of SIGSEGV (force_sigsegv)
        kernel.exit_group(task.process, hostsignal.SIGSEGV)
        return
    task.sigmask |= act.mask
    if not act.flags & SA_NODEFER:
        task.sigmask |= bit(info.signo)
    task.sigmask &= ~UNBLOCKABLE
    if act.flags & SA_RESETHAND:
        act.handler, act.flags = SIG_DFL, act.flags & ~SA_SIGINFO
    regs[13] = 0  # rax
    regs[8] = info.signo  # rdi
    regs[9] = frame + SIGINFO  # rsi
    regs[12] = frame + UCONTEXT  # rdx
    regs[15] = frame  # rsp
    regs[16] = act.handler  # rip
    regs[17] &= ~(0x100 | 0x400 | 0x40000)  # clear TF, DF, AC as Linux does for handlers
    cpu.set_regs(regs)
    # the handler starts with Linux's initial x87/SSE state (fpu__clear_user_states): the interrupted
    # state is in the frame and comes back with rt_sigreturn
    cpu.fxrstor(INIT_FXSAVE)


# FXSAVE image of the initial FPU state: FCW 0x37f, all x87 registers empty, MXCSR 0x1f80, xmm zero
INIT_FXSAVE = struct.pack("<HHBxHQQII", 0x37F, 0, 0, 0, 0, 0, 0x1F80, 0xFFFF).ljust(512, b"\0")


def sigreturn(kernel: Kernel, task: Task) -> None:
    """rt_sigreturn: restore registers, mask, FPU and altstack from the frame at rsp - 8 (after the stop)."""
    mm = task.process.mm
    cpu = mm.cpu
    frame = cpu.reg(RSP) - 8
    try:
        data = mm.read(frame, FRAME_SIZE)
    except FsError:
        kernel.exit_group(task.process, hostsignal.SIGSEGV)
        return
    regs = list(struct.unpack_from("<18Q", data, MCONTEXT))
    fpstate = struct.unpack_from("<Q", data, MCONTEXT + 18 * 8 + 8 + 32)[0]
    mask = struct.unpack_from("<Q", data, SIGMASK)[0]
    ss_sp, ss_flags, ss_size = struct.unpack_from("<Qi4xQ", data, UCONTEXT + 16)
    fx = None
    if fpstate:
        try:
            fx = mm.read(fpstate, 512)
        except FsError:
            kernel.exit_group(task.process, hostsignal.SIGSEGV)
            return
    task.sigmask = mask & ~UNBLOCKABLE
    if task.altstack[1] != SS_ONSTACK:
        cur_sp, cur_flags, cur_size = task.altstack
        if not (ss_flags & SS_DISABLE) and ss_size:
            task.altstack = (ss_sp, ss_flags & ~SS_ONSTACK, ss_size)
        del cur_sp, cur_flags, cur_size

    def apply() -> None:
        cpu.set_regs(regs)
        if fx is not None:
            cpu.fxrstor(fx)

    task.post_stop.append(apply)
    task.stop = True


assert len(GPRS) == 18
