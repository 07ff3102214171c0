"""Process and thread syscalls: clone/fork/vfork, execve, exit, wait4/waitid, ids, sessions, credentials,
futex, robust lists, arch_prctl."""

from __future__ import annotations

import errno
import struct
import time
from typing import TYPE_CHECKING

from emulator import signals as sig
from emulator.cpu import FS_BASE, GS_BASE, RAX, RIP, RSP
from emulator.kernel import WAKE_EVENT, WAKE_TIMEOUT, Block, Credentials, Process, Task
from emulator.memory import AddressSpace
from emulator.syscalls.table import s32, syscall
from emulator.syscalls.time import timevals
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Kernel

# include/uapi/linux/sched.h
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT, CLONE_THREAD = 0x1000, 0x2000, 0x4000, 0x8000, 0x10000
CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID = 0x20000, 0x40000, 0x80000, 0x100000
CLONE_CHILD_CLEARTID, CLONE_DETACHED, CLONE_UNTRACED, CLONE_CHILD_SETTID = 0x200000, 0x400000, 0x800000, 0x1000000
CLONE_NEW_ANY = 0x7E000000 | CLONE_NEWNS  # namespaces: not supported
SIGCHLD = 17
# wait options (include/uapi/linux/wait.h)
WNOHANG, WUNTRACED, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 2, 4, 8, 0x01000000
__WNOTHREAD, __WALL, __WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
# futex (include/uapi/linux/futex.h)
FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 3, 4, 5
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFF_FFFF
# arch/x86/include/uapi/asm/prctl.h
ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012
NO_CHANGE = 0xFFFF_FFFF  # (uid_t)-1


def _syscall_rip(task: Task) -> int:
    """The address after the syscall instruction (inside the hook RIP still points at it)."""
    return task.process.mm.cpu.reg(RIP) + 2


# -- identity --------------------------------------------------------------------------------------------


@syscall("getpid")
def sys_getpid(task: Task) -> int:
    return task.process.pid


@syscall("gettid")
def sys_gettid(task: Task) -> int:
    return task.tid


@syscall("getppid")
def sys_getppid(task: Task) -> int:
    parent = task.process.parent
    return parent.pid if parent is not None else 0


@syscall("set_tid_address", "ptr")
def sys_set_tid_address(task: Task, tidptr: int) -> int:
    task.clear_child_tid = tidptr
    return task.tid


@syscall("set_robust_list", "ptr", "size")
def sys_set_robust_list(task: Task, head: int, size: int) -> int:
    if size != 24:  # sizeof(struct robust_list_head)
        raise FsError(errno.EINVAL)
    task.robust_list = (head, size)
    return 0


@syscall("get_robust_list", "int", "ptr", "ptr")
def sys_get_robust_list(task: Task, pid: int, head_ptr: int, len_ptr: int) -> int:
    t = task if s32(pid) == 0 else task.kernel.tasks.get(s32(pid))
    if t is None:
        raise FsError(errno.ESRCH)
    task.write_u64(head_ptr, t.robust_list[0])
    task.write_u64(len_ptr, 24)
    return 0


@syscall("rseq", "ptr", "int", "hex", "hex")
def sys_rseq(task: Task, rseq: int, length: int, flags: int, signature: int) -> int:
    return -errno.ENOSYS  # glibc then runs without restartable sequences


@syscall("arch_prctl", "hex", "ptr")
def sys_arch_prctl(task: Task, code: int, addr: int) -> int:
    cpu = task.process.mm.cpu
    if code == ARCH_SET_FS:
        if addr >= 1 << 47:
            raise FsError(errno.EPERM)
        cpu.set_reg(FS_BASE, addr)
    elif code == ARCH_SET_GS:
        if addr >= 1 << 47:
            raise FsError(errno.EPERM)
        cpu.set_reg(GS_BASE, addr)
    elif code == ARCH_GET_FS:
        task.write_u64(addr, cpu.reg(FS_BASE))
    elif code == ARCH_GET_GS:
        task.write_u64(addr, cpu.reg(GS_BASE))
    elif code == ARCH_GET_CPUID:
        return 1
    else:
        raise FsError(errno.EINVAL)
    return 0


# -- clone, fork, vfork ------------------------------------------------------------------------------------


def do_clone(task: Task, flags: int, newsp: int, ptid: int, ctid: int, tls: int) -> int:
    """clone(2) (kernel/fork.c copy_process): a thread, a process sharing the address space (vfork,
    CLONE_VM) or a copy of it (fork)."""
    k = task.kernel
    if flags & CLONE_NEW_ANY:
        raise FsError(errno.EPERM)
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise FsError(errno.EINVAL)
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise FsError(errno.EINVAL)
    parent = task.process
    mm = parent.mm
    cpu = mm.cpu
    rip = _syscall_rip(task)
    tid = k.alloc_pid()
    if flags & CLONE_THREAD:
        proc = parent
    else:
        child_mm: AddressSpace
        if flags & CLONE_VM:
            child_mm = mm
            mm.users += 1
        else:
            child_mm = mm.fork()
        real_parent = parent.parent if flags & CLONE_PARENT and parent.parent is not None else parent
        proc = Process(k, tid, real_parent, child_mm)
        proc.pgid, proc.sid = parent.pgid, parent.sid
        proc.creds = parent.creds.copy()
        proc.umask = parent.umask
        proc.rlimits = dict(parent.rlimits)
        proc.exit_signal = flags & 0xFF
        proc.sighand = parent.sighand if flags & CLONE_SIGHAND else parent.sighand.copy()
        proc.argv, proc.envp, proc.exe, proc.comm = list(parent.argv), list(parent.envp), parent.exe, parent.comm
        proc.fdtable, proc.fs = parent.fdtable, parent.fs
        for hook in k.fork_hooks:  # the file side copies or shares the fd table and fs context
            hook(parent, proc, flags)
        real_parent.children.append(proc)
        k.processes[tid] = proc
        k.forks += 1
    child = Task(k, tid, proc)
    child.comm = task.comm
    child.sigmask = task.sigmask
    if not flags & CLONE_VM or flags & CLONE_VFORK:
        child.altstack = task.altstack
    if proc.mm is mm:
        # same Uc: the child's context is a copy of the caller's registers, fixed up
        ctx = cpu.new_context()
        ctx.reg_write(RIP, rip)
        ctx.reg_write(RAX, 0)
        if newsp:
            ctx.reg_write(RSP, newsp)
        if flags & CLONE_SETTLS:
            ctx.reg_write(FS_BASE, tls)
        child.ctx, child.ctx_cpu = ctx, cpu
    else:
        ccpu = proc.mm.cpu
        ccpu.restore(cpu.new_context())  # the whole CPU state (a context restores into any x86-64 Uc)
        ccpu.engine.reg_write((RIP, RAX), (rip, 0))
        if newsp:
            ccpu.set_reg(RSP, newsp)
        if flags & CLONE_SETTLS:
            ccpu.set_reg(FS_BASE, tls)
        child.ctx, child.ctx_cpu = ccpu.new_context(), ccpu
        proc.mm.loaded = child
    proc.threads.append(child)
    k.tasks[tid] = child
    if flags & CLONE_PARENT_SETTID:
        mm.write_u32(ptid, tid)
    if flags & CLONE_CHILD_SETTID:
        proc.mm.write_u32(ctid, tid)
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = ctid
    k.runq.append(child)
    if flags & CLONE_VFORK and proc is not parent:
        proc.vfork_parent = task
        k.suspend(task)
    return tid


@syscall("clone", "clone_flags", "ptr", "ptr", "ptr", "ptr")
def sys_clone(task: Task, flags: int, newsp: int, ptid: int, ctid: int, tls: int) -> int:
    return do_clone(task, flags, newsp, ptid, ctid, tls)


@syscall("fork")
def sys_fork(task: Task) -> int:
    return do_clone(task, SIGCHLD, 0, 0, 0, 0)


@syscall("vfork")
def sys_vfork(task: Task) -> int:
    return do_clone(task, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0)


CLONE_ARGS_SIZE_VER0 = 64


@syscall("clone3", "ptr", "size")
def sys_clone3(task: Task, args: int, size: int) -> int:
    """Not supported: ENOSYS makes glibc fall back to clone. A malformed request still gets Linux's
    EINVAL (kernel/fork.c copy_clone_args_from_user checks the size first)."""
    if size < CLONE_ARGS_SIZE_VER0 or size > 4096:
        raise FsError(errno.EINVAL)
    return -errno.ENOSYS


# -- execve -------------------------------------------------------------------------------------------------


def _read_strings(task: Task, addr: int) -> list[bytes]:
    if addr == 0:
        return []
    return [task.read_cstring(p, 32 * 4096) for p in task.process.mm.read_pointer_array(addr)]


@syscall("execve", "path", "argv", "envp")
def sys_execve(task: Task, path: int, argv: int, envp: int) -> int | None:
    return do_execve(task, task.read_cstring(path), _read_strings(task, argv), _read_strings(task, envp))


@syscall("execveat", "atfd", "path", "argv", "envp", "hex")
def sys_execveat(task: Task, dirfd: int, path: int, argv: int, envp: int, flags: int) -> int | None:
    p = task.read_cstring(path)
    if not p.startswith(b"/") and s32(dirfd) != -100:
        raise FsError(errno.ENOSYS)  # relative to a directory fd: the file side resolves these
    return do_execve(task, p, _read_strings(task, argv), _read_strings(task, envp))


def do_execve(task: Task, path: bytes, argv: list[bytes], envp: list[bytes]) -> int | None:
    """Load the new image first (errors leave the caller intact), then replace the process image."""
    k = task.kernel
    if not path:
        raise FsError(errno.ENOENT)
    new_mm = AddressSpace(k.dispatch)
    try:
        prog, rip, rsp = k._load(task, new_mm, path, argv, envp, task.process.creds)
    except BaseException:
        new_mm.destroy()
        raise
    proc = task.process
    # de_thread: every other thread dies; the exec'ing thread becomes the leader
    for t in list(proc.threads):
        if t is not task:
            k._reap_thread(t)
            proc.utime_ns += t.utime_ns
            proc.stime_ns += t.stime_ns
    proc.threads = [task]
    if task.tid != proc.pid:
        k.tasks.pop(task.tid, None)
        task.tid = proc.pid
        k.tasks[proc.pid] = task
    if task.clear_child_tid:
        try:
            proc.mm.write_u32(task.clear_child_tid, 0)
            futex_wake(k, task, task.clear_child_tid, 1, FUTEX_BITSET_MATCH_ANY, False)
        except FsError:
            pass
        task.clear_child_tid = 0
    old = proc.mm
    old.users -= 1
    if old.loaded is task:
        old.loaded = None
    if old.users == 0:
        task.post_stop.append(old.destroy)
    proc.mm = new_mm
    new_mm.cpu.reset_state(rip, rsp)
    new_mm.loaded = task
    task.ctx, task.ctx_cpu = new_mm.cpu.new_context(), new_mm.cpu
    proc.sighand = proc.sighand.copy()
    proc.sighand.reset_for_exec()
    task.altstack = (0, sig.SS_DISABLE, 0)
    task.robust_list = (0, 0)
    for hook in k.exec_hooks:  # close-on-exec descriptors
        hook(proc)
    if proc.vfork_parent is not None:
        k.wake(proc.vfork_parent, WAKE_EVENT)
        proc.vfork_parent = None
    k._set_image(proc, prog, path, envp)
    task.comm = proc.comm
    task.stop = True
    return None


# -- exit and wait -------------------------------------------------------------------------------------------


@syscall("exit", "int")
def sys_exit(task: Task, code: int) -> None:
    task.kernel.exit_thread(task, code & 0xFF)
    task.stop = True


@syscall("exit_group", "int")
def sys_exit_group(task: Task, code: int) -> None:
    task.kernel.exit_group(task.process, (code & 0xFF) << 8)
    task.stop = True


def _matches(caller: Process, child: Process, idtype: int, ident: int) -> bool:
    if idtype == P_ALL:
        return True
    if idtype == P_PID:
        return child.pid == ident
    if idtype == P_PGID:
        return child.pgid == (ident or caller.pgid)
    return False


def _find_waitable(task: Task, idtype: int, ident: int, options: int) -> tuple[Process | None, int, int]:
    """(child, wait status, CLD_* code) of a child with something to report, or (None, 0, 0); ECHILD if
    no child matches at all."""
    proc = task.process
    candidates = [c for c in proc.children if _matches(proc, c, idtype, ident)]
    if not candidates:
        raise FsError(errno.ECHILD)
    for c in candidates:
        if c.zombie and not c.reaped and options & WEXITED:
            st = c.exit_status or 0
            code = sig.CLD_EXITED if st & 0x7F == 0 else (sig.CLD_DUMPED if st & 0x80 else sig.CLD_KILLED)
            return c, st, code
        rep = c.stopped_report
        if rep is not None:
            if rep == 0xFFFF and options & WCONTINUED:
                return c, rep, sig.CLD_CONTINUED
            if rep != 0xFFFF and options & WSTOPPED:
                return c, rep, sig.CLD_STOPPED
    return None, 0, 0


def _write_rusage(task: Task, addr: int, child: Process | None) -> None:
    if addr:
        ut = (child.group_utime_ns() + child.cutime_ns) if child is not None else 0
        st = (child.group_stime_ns() + child.cstime_ns) if child is not None else 0
        task.write(addr, timevals(ut, st) + b"\0" * (144 - 32))


@syscall("wait4", "int", "ptr", "wait_options", "ptr")
def sys_wait4(task: Task, pid: int, status_ptr: int, options: int, rusage: int) -> int:
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE):
        raise FsError(errno.EINVAL)
    p = s32(pid)
    if p == -(1 << 31):
        raise FsError(errno.ESRCH)
    if p < -1:
        idtype, ident = P_PGID, -p
    elif p == -1:
        idtype, ident = P_ALL, 0
    elif p == 0:
        idtype, ident = P_PGID, task.process.pgid
    else:
        idtype, ident = P_PID, p
    opts = options | WEXITED
    child, status, _code = _find_waitable(task, idtype, ident, opts)
    if child is None:
        if options & WNOHANG:
            return 0
        raise Block([task.process.child_waitq])
    # Linux reaps first and copies out afterwards (kernel_wait4): a bad pointer still consumes the child
    if child.zombie:
        task.kernel.release_zombie(child)
    else:
        child.stopped_report = None
    if status_ptr:
        task.write_u32(status_ptr, status)
    _write_rusage(task, rusage, child)
    return child.pid


@syscall("waitid", "int", "int", "ptr", "wait_options", "ptr")
def sys_waitid(task: Task, idtype: int, ident: int, infop: int, options: int, rusage: int) -> int:
    idtype = s32(idtype)
    if idtype not in (P_ALL, P_PID, P_PGID) or options & ~(WNOHANG | WSTOPPED | WEXITED | WCONTINUED | WNOWAIT
                                                           | __WNOTHREAD | __WALL | __WCLONE):  # fmt: skip
        raise FsError(errno.EINVAL)
    if not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise FsError(errno.EINVAL)
    child, status, code = _find_waitable(task, idtype, s32(ident), options)
    if child is None:
        if options & WNOHANG:
            if infop:
                task.write(infop, b"\0" * 128)
            return 0
        raise Block([task.process.child_waitq])
    if code in (sig.CLD_EXITED,):
        si_status = (status >> 8) & 0xFF
    elif code == sig.CLD_CONTINUED:
        si_status = sig.SIGCONT
    elif code == sig.CLD_STOPPED:
        si_status = (status >> 8) & 0xFF
    else:
        si_status = status & 0x7F
    if infop:
        task.write(infop, sig.SigInfo(SIGCHLD, code, pid=child.pid, uid=child.creds.uid, status=si_status).pack())
    _write_rusage(task, rusage, child)
    if not options & WNOWAIT:
        if child.zombie:
            task.kernel.release_zombie(child)
        else:
            child.stopped_report = None
    return 0


# -- process groups and sessions --------------------------------------------------------------------------------


def _proc(task: Task, pid: int) -> Process:
    pid = s32(pid)
    if pid == 0:
        return task.process
    p = task.kernel.processes.get(pid)
    if p is None or p.reaped:
        raise FsError(errno.ESRCH)
    return p


@syscall("getpgid", "int")
def sys_getpgid(task: Task, pid: int) -> int:
    return _proc(task, pid).pgid


@syscall("getpgrp")
def sys_getpgrp(task: Task) -> int:
    return task.process.pgid


@syscall("getsid", "int")
def sys_getsid(task: Task, pid: int) -> int:
    return _proc(task, pid).sid


@syscall("setpgid", "int", "int")
def sys_setpgid(task: Task, pid: int, pgid: int) -> int:
    """setpgid(2): the caller or one of its children, within the caller's session."""
    me = task.process
    target = _proc(task, pid)
    pg = s32(pgid)
    if pg < 0:
        raise FsError(errno.EINVAL)
    if target is not me and target.parent is not me:
        raise FsError(errno.ESRCH)
    if target.sid == target.pid:
        raise FsError(errno.EPERM)
    if target is not me and target.sid != me.sid:
        raise FsError(errno.EPERM)
    pg = pg or target.pid
    if pg != target.pid and not any(
        p.pgid == pg and p.sid == me.sid and not p.zombie for p in task.kernel.processes.values()
    ):
        raise FsError(errno.EPERM)
    target.pgid = pg
    return 0


@syscall("setsid")
def sys_setsid(task: Task) -> int:
    me = task.process
    if any(p.pgid == me.pid for p in task.kernel.processes.values() if not p.reaped):
        raise FsError(errno.EPERM)
    me.sid = me.pgid = me.pid
    return me.pid


# -- credentials (kernel/sys.c; CAP_SETUID/CAP_SETGID = euid 0) --------------------------------------------------


def _creds(task: Task) -> Credentials:
    return task.process.creds


@syscall("getuid")
def sys_getuid(task: Task) -> int:
    return _creds(task).uid


@syscall("geteuid")
def sys_geteuid(task: Task) -> int:
    return _creds(task).euid


@syscall("getgid")
def sys_getgid(task: Task) -> int:
    return _creds(task).gid


@syscall("getegid")
def sys_getegid(task: Task) -> int:
    return _creds(task).egid


@syscall("getresuid", "ptr", "ptr", "ptr")
def sys_getresuid(task: Task, r: int, e: int, s: int) -> int:
    c = _creds(task)
    for addr, v in ((r, c.uid), (e, c.euid), (s, c.suid)):
        task.write_u32(addr, v)
    return 0


@syscall("getresgid", "ptr", "ptr", "ptr")
def sys_getresgid(task: Task, r: int, e: int, s: int) -> int:
    c = _creds(task)
    for addr, v in ((r, c.gid), (e, c.egid), (s, c.sgid)):
        task.write_u32(addr, v)
    return 0


def _id(v: int) -> int:
    return v & 0xFFFF_FFFF


@syscall("setuid", "int")
def sys_setuid(task: Task, uid: int) -> int:
    c = _creds(task)
    uid = _id(uid)
    if uid == NO_CHANGE:
        raise FsError(errno.EINVAL)
    if c.euid == 0:
        c.uid = c.euid = c.suid = c.fsuid = uid
    elif uid in (c.uid, c.suid):
        c.euid = c.fsuid = uid
    else:
        raise FsError(errno.EPERM)
    return 0


@syscall("setgid", "int")
def sys_setgid(task: Task, gid: int) -> int:
    c = _creds(task)
    gid = _id(gid)
    if gid == NO_CHANGE:
        raise FsError(errno.EINVAL)
    if c.euid == 0:
        c.gid = c.egid = c.sgid = c.fsgid = gid
    elif gid in (c.gid, c.sgid):
        c.egid = c.fsgid = gid
    else:
        raise FsError(errno.EPERM)
    return 0


@syscall("setreuid", "int", "int")
def sys_setreuid(task: Task, ruid: int, euid: int) -> int:
    c = _creds(task)
    r, e = _id(ruid), _id(euid)
    priv = c.euid == 0
    if r != NO_CHANGE and not priv and r not in (c.uid, c.euid):
        raise FsError(errno.EPERM)
    if e != NO_CHANGE and not priv and e not in (c.uid, c.euid, c.suid):
        raise FsError(errno.EPERM)
    old_uid = c.uid
    if r != NO_CHANGE:
        c.uid = r
    if e != NO_CHANGE:
        c.euid = e
    if r != NO_CHANGE or (e != NO_CHANGE and e != old_uid):
        c.suid = c.euid
    c.fsuid = c.euid
    return 0


@syscall("setregid", "int", "int")
def sys_setregid(task: Task, rgid: int, egid: int) -> int:
    c = _creds(task)
    r, e = _id(rgid), _id(egid)
    priv = c.euid == 0
    if r != NO_CHANGE and not priv and r not in (c.gid, c.egid):
        raise FsError(errno.EPERM)
    if e != NO_CHANGE and not priv and e not in (c.gid, c.egid, c.sgid):
        raise FsError(errno.EPERM)
    old_gid = c.gid
    if r != NO_CHANGE:
        c.gid = r
    if e != NO_CHANGE:
        c.egid = e
    if r != NO_CHANGE or (e != NO_CHANGE and e != old_gid):
        c.sgid = c.egid
    c.fsgid = c.egid
    return 0


@syscall("setresuid", "int", "int", "int")
def sys_setresuid(task: Task, ruid: int, euid: int, suid: int) -> int:
    c = _creds(task)
    new = [_id(ruid), _id(euid), _id(suid)]
    if c.euid != 0 and any(v != NO_CHANGE and v not in (c.uid, c.euid, c.suid) for v in new):
        raise FsError(errno.EPERM)
    if new[0] != NO_CHANGE:
        c.uid = new[0]
    if new[1] != NO_CHANGE:
        c.euid = new[1]
    if new[2] != NO_CHANGE:
        c.suid = new[2]
    c.fsuid = c.euid
    return 0


@syscall("setresgid", "int", "int", "int")
def sys_setresgid(task: Task, rgid: int, egid: int, sgid: int) -> int:
    c = _creds(task)
    new = [_id(rgid), _id(egid), _id(sgid)]
    if c.euid != 0 and any(v != NO_CHANGE and v not in (c.gid, c.egid, c.sgid) for v in new):
        raise FsError(errno.EPERM)
    if new[0] != NO_CHANGE:
        c.gid = new[0]
    if new[1] != NO_CHANGE:
        c.egid = new[1]
    if new[2] != NO_CHANGE:
        c.sgid = new[2]
    c.fsgid = c.egid
    return 0


@syscall("setfsuid", "int")
def sys_setfsuid(task: Task, uid: int) -> int:
    c = _creds(task)
    old = c.fsuid
    uid = _id(uid)
    if c.euid == 0 or uid in (c.uid, c.euid, c.suid, c.fsuid):
        c.fsuid = uid
    return old


@syscall("setfsgid", "int")
def sys_setfsgid(task: Task, gid: int) -> int:
    c = _creds(task)
    old = c.fsgid
    gid = _id(gid)
    if c.euid == 0 or gid in (c.gid, c.egid, c.sgid, c.fsgid):
        c.fsgid = gid
    return old


NGROUPS_MAX = 65536


@syscall("getgroups", "int", "ptr")
def sys_getgroups(task: Task, size: int, lst: int) -> int:
    groups = _creds(task).groups
    size = s32(size)
    if size < 0:
        raise FsError(errno.EINVAL)
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise FsError(errno.EINVAL)
    task.write(lst, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


@syscall("setgroups", "int", "ptr")
def sys_setgroups(task: Task, size: int, lst: int) -> int:
    c = _creds(task)
    size = s32(size)
    if size < 0 or size > NGROUPS_MAX:
        raise FsError(errno.EINVAL)
    if c.euid != 0:
        raise FsError(errno.EPERM)
    c.groups = tuple(sorted(struct.unpack(f"<{size}I", task.read(lst, 4 * size)))) if size else ()
    return 0


# -- futex ----------------------------------------------------------------------------------------------------


def futex_key(task: Task, addr: int, private: bool) -> object:
    """Private futexes are keyed by (address space, address); shared ones by the memory itself, so a
    MAP_SHARED futex matches across processes."""
    mm = task.process.mm
    if not private:
        v = mm.find(addr)
        if v is not None and v.shared:
            return ("shared", id(v.buf), v.boff + addr - v.start)
    return ("private", id(mm), addr)


def futex_wake(k: Kernel, task: Task, addr: int, n: int, bitset: int, private: bool) -> int:
    key = futex_key(task, addr, private)
    waiters = k.futexes.get(key)
    woken = 0
    if waiters:
        for t in list(waiters):
            if woken >= n:
                break
            if t.futex_bitset & bitset:
                waiters.remove(t)
                t.futex_key = None
                k.wake(t, WAKE_EVENT)
                woken += 1
        if not waiters:
            del k.futexes[key]
    return woken


def _timeout(task: Task, ts: int, absolute: bool, realtime: bool) -> int | None:
    if ts == 0:
        return None
    sec, nsec = struct.unpack("<qq", task.read(ts, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise FsError(errno.EINVAL)
    ns = sec * 1_000_000_000 + nsec
    if absolute:
        if realtime:
            ns = ns - time.time_ns() + time.monotonic_ns()
        return ns
    return task.deadline(ns)


@syscall("futex", "ptr", "futex_op", "int", "ptr", "ptr", "int")
def sys_futex(task: Task, uaddr: int, op: int, val: int, timeout: int, uaddr2: int, val3: int) -> int:
    k = task.kernel
    private = bool(op & FUTEX_PRIVATE_FLAG)
    realtime = bool(op & FUTEX_CLOCK_REALTIME)
    cmd = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    if uaddr & 3:
        raise FsError(errno.EINVAL)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3 & 0xFFFF_FFFF
        if bitset == 0:
            raise FsError(errno.EINVAL)
        if task.restarting:
            if task.wake_reason == WAKE_EVENT:
                return 0
            if task.wake_reason == WAKE_TIMEOUT:
                return -errno.ETIMEDOUT
        deadline = _timeout(task, timeout, cmd == FUTEX_WAIT_BITSET, realtime)
        if deadline is not None and deadline <= time.monotonic_ns():
            return -errno.ETIMEDOUT
        if task.read_u32(uaddr) != val & 0xFFFF_FFFF:
            return -errno.EAGAIN
        key = futex_key(task, uaddr, private)
        k.futexes.setdefault(key, []).append(task)
        task.futex_key = key
        task.futex_bitset = bitset
        raise Block(deadline=deadline)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else val3 & 0xFFFF_FFFF
        if bitset == 0:
            raise FsError(errno.EINVAL)
        task.read_u32(uaddr)  # EFAULT on a bad address, as get_futex_key
        return futex_wake(k, task, uaddr, s32(val), bitset, private)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        nr_wake, nr_requeue = s32(val), s32(timeout)
        if nr_wake < 0 or nr_requeue < 0:
            raise FsError(errno.EINVAL)
        if cmd == FUTEX_CMP_REQUEUE and task.read_u32(uaddr) != val3 & 0xFFFF_FFFF:
            return -errno.EAGAIN
        woken = futex_wake(k, task, uaddr, nr_wake, FUTEX_BITSET_MATCH_ANY, private)
        key1, key2 = futex_key(task, uaddr, private), futex_key(task, uaddr2, private)
        waiters = k.futexes.get(key1, [])
        moved = 0
        while waiters and moved < nr_requeue:
            t = waiters.pop(0)
            t.futex_key = key2
            k.futexes.setdefault(key2, []).append(t)
            moved += 1
        if not waiters:
            k.futexes.pop(key1, None)
        return woken + moved
    if cmd == FUTEX_WAKE_OP:
        return _futex_wake_op(task, uaddr, s32(val), s32(timeout), uaddr2, val3, private)
    raise FsError(errno.ENOSYS)


def _futex_wake_op(task: Task, uaddr: int, nr_wake: int, nr_wake2: int, uaddr2: int, op: int, private: bool) -> int:
    """FUTEX_WAKE_OP (futex_atomic_op_inuser): *uaddr2 = OP(*uaddr2, oparg); wake uaddr; wake uaddr2 if CMP."""
    encoded_op, cmp = (op >> 28) & 0xF, (op >> 24) & 0xF
    oparg, cmparg = (op >> 12) & 0xFFF, op & 0xFFF
    if encoded_op & 8:
        oparg = 1 << (oparg & 31)
        encoded_op &= 7
    old = task.read_u32(uaddr2)
    new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg, 4: old ^ oparg}.get(encoded_op)
    if new is None:
        raise FsError(errno.ENOSYS)
    task.write_u32(uaddr2, new)
    k = task.kernel
    woken = futex_wake(k, task, uaddr, nr_wake, FUTEX_BITSET_MATCH_ANY, private)
    sold = old - (1 << 32) if old & 0x8000_0000 else old
    ok = {0: sold == cmparg, 1: sold != cmparg, 2: sold < cmparg, 3: sold <= cmparg, 4: sold > cmparg,
          5: sold >= cmparg}.get(cmp)  # fmt: skip
    if ok is None:
        raise FsError(errno.ENOSYS)
    if ok:
        woken += futex_wake(k, task, uaddr2, nr_wake2, FUTEX_BITSET_MATCH_ANY, private)
    return woken


# -- scheduling -----------------------------------------------------------------------------------------------


@syscall("sched_yield")
def sys_sched_yield(task: Task) -> int:
    task.stop = True  # back of the run queue
    return 0
