"""Signal syscalls: rt_sigaction, rt_sigprocmask, rt_sigreturn, kill/tkill/tgkill, sigaltstack, pause,
rt_sigsuspend, rt_sigpending, rt_sigtimedwait; signalfd is ENOSYS."""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from emulator import signals as sig
from emulator.cpu import RSP
from emulator.kernel import WAKE_TIMEOUT, Block
from emulator.syscalls.table import s32, syscall
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Process, Task

SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SIGSETSIZE = 8


def _signo(s: int) -> int:
    s = s32(s)
    if not 1 <= s <= sig.NSIG:
        raise FsError(errno.EINVAL)
    return s


@syscall("rt_sigaction", "signal", "ptr", "ptr", "size")
def sys_rt_sigaction(task: Task, signo: int, act: int, oldact: int, sigsetsize: int) -> int:
    if sigsetsize != SIGSETSIZE:
        raise FsError(errno.EINVAL)
    s = _signo(signo)
    new = None
    if act:
        handler, flags, restorer, mask = struct.unpack("<QQQQ", task.read(act, 32))
        if s in (sig.SIGKILL, sig.SIGSTOP):
            raise FsError(errno.EINVAL)
        new = sig.SigAction(handler, flags & 0xFFFF_FFFF, restorer, mask & ~sig.UNBLOCKABLE)
    cur = task.process.sighand.actions[s]
    if oldact:
        task.write(oldact, struct.pack("<QQQQ", cur.handler, cur.flags, cur.restorer, cur.mask))
    if new is not None:
        task.process.sighand.actions[s] = new
        # setting SIG_IGN (or default-ignore) discards pending instances (kernel/signal.c do_sigaction)
        if sig.is_ignored(task.process, s):
            task.process.shared_pending.discard(s)
            for t in task.process.threads:
                t.pending.discard(s)
    return 0


@syscall("rt_sigprocmask", "how", "sigset", "ptr", "size")
def sys_rt_sigprocmask(task: Task, how: int, set_ptr: int, old_ptr: int, sigsetsize: int) -> int:
    if sigsetsize != SIGSETSIZE:
        raise FsError(errno.EINVAL)
    old = task.sigmask
    if set_ptr:
        new = struct.unpack("<Q", task.read(set_ptr, 8))[0]
        if how == SIG_BLOCK:
            mask = old | new
        elif how == SIG_UNBLOCK:
            mask = old & ~new
        elif how == SIG_SETMASK:
            mask = new
        else:
            raise FsError(errno.EINVAL)
        if old_ptr:
            task.write(old_ptr, struct.pack("<Q", old))
        task.sigmask = mask & ~sig.UNBLOCKABLE
    elif old_ptr:
        task.write(old_ptr, struct.pack("<Q", old))
    return 0


@syscall("rt_sigpending", "ptr", "size")
def sys_rt_sigpending(task: Task, set_ptr: int, sigsetsize: int) -> int:
    if sigsetsize > SIGSETSIZE:
        raise FsError(errno.EINVAL)
    pending = (task.pending.mask | task.process.shared_pending.mask) & task.sigmask
    task.write(set_ptr, struct.pack("<Q", pending)[:sigsetsize])
    return 0


@syscall("rt_sigreturn")
def sys_rt_sigreturn(task: Task) -> None:
    sig.sigreturn(task.kernel, task)
    return None


def _find_process(task: Task, pid: int) -> Process:
    p = task.kernel.processes.get(pid)
    if p is None or p.zombie:
        if p is not None and p.zombie and not p.reaped:
            return p  # a zombie can still be signalled (nothing happens)
        raise FsError(errno.ESRCH)
    return p


def _may_signal(task: Task, target: Process, signo: int) -> None:
    """kill(2) permission: root, or the sender's real/effective uid is the target's real/saved uid."""
    c, t = task.process.creds, target.creds
    if c.euid == 0 or c.uid in (t.uid, t.suid) or c.euid in (t.uid, t.suid):
        return
    if signo == sig.SIGCONT and target.sid == task.process.sid:
        return
    raise FsError(errno.EPERM)


def _info(task: Task, signo: int, code: int = sig.SI_USER) -> sig.SigInfo:
    return sig.SigInfo(signo, code, pid=task.process.pid, uid=task.process.creds.uid)


@syscall("kill", "int", "signal")
def sys_kill(task: Task, pid: int, signo: int) -> int:
    p, s = s32(pid), s32(signo)
    if not 0 <= s <= sig.NSIG:
        raise FsError(errno.EINVAL)
    k = task.kernel
    if p > 0:
        target = _find_process(task, p)
        _may_signal(task, target, s)
        k.send_signal(target, s, _info(task, s))
        return 0
    if p == -1:
        targets = [q for q in k.processes.values() if q.pid != 1 and q is not task.process and not q.zombie]
    else:
        pgid = task.process.pgid if p == 0 else -p
        targets = [q for q in k.processes.values() if q.pgid == pgid and not q.zombie]
    if not targets:
        raise FsError(errno.ESRCH)
    sent = False
    for q in targets:
        try:
            _may_signal(task, q, s)
        except FsError:
            continue
        k.send_signal(q, s, _info(task, s))
        sent = True
    if not sent:
        raise FsError(errno.EPERM)
    return 0


def _thread_kill(task: Task, tgid: int, tid: int, signo: int) -> int:
    s = s32(signo)
    if not 0 <= s <= sig.NSIG or s32(tid) <= 0:
        raise FsError(errno.EINVAL)
    t = task.kernel.tasks.get(s32(tid))
    if t is None or (tgid != -1 and t.process.pid != tgid):
        raise FsError(errno.ESRCH)
    _may_signal(task, t.process, s)
    task.kernel.send_thread_signal(t, s, _info(task, s, sig.SI_TKILL))
    return 0


@syscall("tkill", "int", "signal")
def sys_tkill(task: Task, tid: int, signo: int) -> int:
    return _thread_kill(task, -1, tid, signo)


@syscall("tgkill", "int", "int", "signal")
def sys_tgkill(task: Task, tgid: int, tid: int, signo: int) -> int:
    if s32(tgid) <= 0:
        raise FsError(errno.EINVAL)
    return _thread_kill(task, s32(tgid), tid, signo)


@syscall("sigaltstack", "ptr", "ptr")
def sys_sigaltstack(task: Task, ss: int, old: int) -> int:
    sp, flags, size = task.altstack
    rsp = task.process.mm.cpu.reg(RSP)
    on = flags != sig.SS_DISABLE and sp <= rsp < sp + size
    if old:
        cur_flags = sig.SS_ONSTACK if on else flags
        task.write(old, struct.pack("<Qi4xQ", sp, cur_flags, size))
    if ss:
        nsp, nflags, nsize = struct.unpack("<Qi4xQ", task.read(ss, 24))
        if on:
            raise FsError(errno.EPERM)
        mode = nflags & ~sig.SS_AUTODISARM
        if mode not in (0, sig.SS_DISABLE, sig.SS_ONSTACK):
            raise FsError(errno.EINVAL)
        if mode == sig.SS_DISABLE:
            task.altstack = (0, sig.SS_DISABLE, 0)
        else:
            if nsize < sig.MINSIGSTKSZ:
                raise FsError(errno.ENOMEM)
            task.altstack = (nsp, nflags & sig.SS_AUTODISARM, nsize)
    return 0


@syscall("pause")
def sys_pause(task: Task) -> int:
    raise Block(restart=False)


@syscall("rt_sigsuspend", "sigset", "size")
def sys_rt_sigsuspend(task: Task, mask_ptr: int, sigsetsize: int) -> int:
    if sigsetsize != SIGSETSIZE:
        raise FsError(errno.EINVAL)
    if not task.restarting:
        mask = struct.unpack("<Q", task.read(mask_ptr, 8))[0]
        task.saved_sigmask = task.sigmask
        task.sigmask = mask & ~sig.UNBLOCKABLE
    raise Block(restart=False)


@syscall("rt_sigtimedwait", "sigset", "ptr", "ptr", "size")
def sys_rt_sigtimedwait(task: Task, set_ptr: int, info_ptr: int, ts_ptr: int, sigsetsize: int) -> int:
    if sigsetsize != SIGSETSIZE:
        raise FsError(errno.EINVAL)
    wanted = struct.unpack("<Q", task.read(set_ptr, 8))[0] & ~sig.UNBLOCKABLE
    for pend in (task.pending, task.process.shared_pending):
        ready = pend.mask & wanted
        if ready:
            info = pend.take((ready & -ready).bit_length())
            if info_ptr:
                task.write(info_ptr, info.pack())
            return info.signo
    if task.restarting and task.wake_reason == WAKE_TIMEOUT:
        return -errno.EAGAIN
    deadline = None
    if ts_ptr:
        sec, nsec = struct.unpack("<qq", task.read(ts_ptr, 16))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise FsError(errno.EINVAL)
        deadline = task.deadline(sec * 1_000_000_000 + nsec)
        if deadline <= time.monotonic_ns():
            return -errno.EAGAIN
    # the signals stay blocked; send() wakes a task whose Block waits for them (they are taken, not delivered)
    b = Block(deadline=deadline, restart=False)
    b.wanted_signals = wanted
    raise b


@syscall("signalfd", "fd", "sigset", "size")
def sys_signalfd(task: Task, fd: int, mask: int, size: int) -> int:
    return -errno.ENOSYS


@syscall("signalfd4", "fd", "sigset", "size", "hex")
def sys_signalfd4(task: Task, fd: int, mask: int, size: int, flags: int) -> int:
    return -errno.ENOSYS
