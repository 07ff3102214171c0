"""System-wide syscalls: uname, sethostname, sysinfo, getrandom, resource limits, scheduler queries
(affinity, getcpu, priorities) and prctl names."""

from __future__ import annotations

import errno
import os
import struct
from typing import TYPE_CHECKING

from emulator.syscalls.table import s32, syscall
from lxfs.vfs.errors import FsError
from procfs.source import RLIM_INFINITY, RLIMIT_NOFILE

if TYPE_CHECKING:
    from emulator.kernel import Process, Task

UTS_LEN = 65
RLIM_NLIMITS = 16
NR_OPEN = 1_048_576
GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_SET_NAME, PR_GET_NAME, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 15, 16, 38, 39
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


def _uts(s: bytes) -> bytes:
    return s[: UTS_LEN - 1].ljust(UTS_LEN, b"\0")


@syscall("uname", "ptr")
def sys_uname(task: Task, buf: int) -> int:
    k = task.kernel
    task.write(
        buf,
        b"".join(
            _uts(x) for x in (b"Linux", k.hostname, k.release, b"#1 SMP PREEMPT_DYNAMIC lxfs", b"x86_64", k.domainname)
        ),
    )
    return 0


def _set_uts(task: Task, name: int, length: int, attr: str) -> int:
    n = s32(length)
    if n < 0 or n > UTS_LEN - 1:
        raise FsError(errno.EINVAL)
    if task.process.creds.euid != 0:
        raise FsError(errno.EPERM)
    setattr(task.kernel, attr, task.read(name, n))
    return 0


@syscall("sethostname", "str", "int")
def sys_sethostname(task: Task, name: int, length: int) -> int:
    return _set_uts(task, name, length, "hostname")


@syscall("setdomainname", "str", "int")
def sys_setdomainname(task: Task, name: int, length: int) -> int:
    return _set_uts(task, name, length, "domainname")


@syscall("sysinfo", "ptr")
def sys_sysinfo(task: Task, info: int) -> int:
    # kernel/sys.c do_sysinfo: the same clock and memory as /proc/uptime and /proc/meminfo (busybox
    # uptime and free read this, top and ps read /proc); uptime rounded up, loads in 1/65536ths
    k = task.kernel
    s = k.system()
    uptime = int(s.uptime) + (s.uptime % 1 > 0)
    loads = [int(x * 65536) & 0xFFFF_FFFF_FFFF_FFFF for x in s.loadavg]
    threads = sum(1 for t in k.tasks.values() if t.state != "X")
    data = struct.pack(
        "<q3Q6QHxxxxxxQQI",
        uptime,
        *loads,
        s.mem_total,
        s.mem_free,
        s.shmem,
        s.buffers,
        s.swap_total,
        s.swap_free,
        min(threads, 0xFFFF),
        0,
        0,
        1,
    )
    task.write(info, data.ljust(112, b"\0"))
    return 0


@syscall("getrandom", "ptr", "size", "hex")
def sys_getrandom(task: Task, buf: int, count: int, flags: int) -> int:
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) or (flags & GRND_RANDOM and flags & GRND_INSECURE):
        raise FsError(errno.EINVAL)
    n = min(count, 33554431)
    task.write(buf, os.urandom(n))
    return n


# -- resource limits -------------------------------------------------------------------------------------------


def _target(task: Task, pid: int) -> Process:
    p = s32(pid)
    if p == 0:
        return task.process
    proc = task.kernel.processes.get(p)
    if proc is None or proc.zombie:
        raise FsError(errno.ESRCH)
    return proc


def _set_limit(task: Task, proc: Process, res: int, soft: int, hard: int) -> None:
    if soft > hard:
        raise FsError(errno.EINVAL)
    _, old_hard = proc.rlimits[res]
    if hard > old_hard and task.process.creds.euid != 0:
        raise FsError(errno.EPERM)
    if res == RLIMIT_NOFILE and hard > NR_OPEN and hard != RLIM_INFINITY:
        raise FsError(errno.EPERM)
    if res == RLIMIT_NOFILE and hard == RLIM_INFINITY:
        raise FsError(errno.EPERM)
    proc.rlimits[res] = (soft, hard)


@syscall("prlimit64", "int", "rlimit", "ptr", "ptr")
def sys_prlimit64(task: Task, pid: int, resource: int, new: int, old: int) -> int:
    res = s32(resource)
    if not 0 <= res < RLIM_NLIMITS:
        raise FsError(errno.EINVAL)
    proc = _target(task, pid)
    cur = proc.rlimits[res]
    lim = struct.unpack("<QQ", task.read(new, 16)) if new else None
    if old:
        task.write(old, struct.pack("<QQ", *cur))
    if lim is not None:
        _set_limit(task, proc, res, *lim)
    return 0


@syscall("getrlimit", "rlimit", "ptr")
def sys_getrlimit(task: Task, resource: int, rlim: int) -> int:
    res = s32(resource)
    if not 0 <= res < RLIM_NLIMITS:
        raise FsError(errno.EINVAL)
    task.write(rlim, struct.pack("<QQ", *task.process.rlimits[res]))
    return 0


@syscall("setrlimit", "rlimit", "ptr")
def sys_setrlimit(task: Task, resource: int, rlim: int) -> int:
    res = s32(resource)
    if not 0 <= res < RLIM_NLIMITS:
        raise FsError(errno.EINVAL)
    _set_limit(task, task.process, res, *struct.unpack("<QQ", task.read(rlim, 16)))
    return 0


# -- scheduler queries ------------------------------------------------------------------------------------------


def _task(task: Task, pid: int) -> Task:
    p = s32(pid)
    if p == 0:
        return task
    t = task.kernel.tasks.get(p)
    if t is None:
        raise FsError(errno.ESRCH)
    return t


@syscall("sched_getaffinity", "int", "size", "ptr")
def sys_sched_getaffinity(task: Task, pid: int, size: int, mask: int) -> int:
    _task(task, pid)
    if size < 8 or size & 7:
        raise FsError(errno.EINVAL)
    task.write(mask, struct.pack("<Q", 1))  # one CPU: guests run one at a time
    return 8


@syscall("sched_setaffinity", "int", "size", "ptr")
def sys_sched_setaffinity(task: Task, pid: int, size: int, mask: int) -> int:
    _task(task, pid)
    data = task.read(mask, min(size, 128))
    if not data or not data[0] & 1:
        raise FsError(errno.EINVAL)
    return 0


@syscall("getcpu", "ptr", "ptr", "ptr")
def sys_getcpu(task: Task, cpu: int, node: int, cache: int) -> int:
    if cpu:
        task.write_u32(cpu, 0)
    if node:
        task.write_u32(node, 0)
    return 0


@syscall("sched_getscheduler", "int")
def sys_sched_getscheduler(task: Task, pid: int) -> int:
    _task(task, pid)
    return 0  # SCHED_OTHER


@syscall("sched_getparam", "int", "ptr")
def sys_sched_getparam(task: Task, pid: int, param: int) -> int:
    _task(task, pid)
    task.write_u32(param, 0)
    return 0


@syscall("sched_get_priority_max", "int")
def sys_sched_get_priority_max(task: Task, policy: int) -> int:
    p = s32(policy)
    if p in (1, 2):
        return 99
    if p in (0, 3, 5):
        return 0
    raise FsError(errno.EINVAL)


@syscall("sched_get_priority_min", "int")
def sys_sched_get_priority_min(task: Task, policy: int) -> int:
    p = s32(policy)
    if p in (1, 2):
        return 1
    if p in (0, 3, 5):
        return 0
    raise FsError(errno.EINVAL)


@syscall("getpriority", "int", "int")
def sys_getpriority(task: Task, which: int, who: int) -> int:
    if s32(which) not in (0, 1, 2):
        raise FsError(errno.EINVAL)
    return 20 - getattr(task.process, "nice", 0)  # the syscall returns 20 - nice


@syscall("setpriority", "int", "int", "int")
def sys_setpriority(task: Task, which: int, who: int, prio: int) -> int:
    if s32(which) not in (0, 1, 2):
        raise FsError(errno.EINVAL)
    nice = max(-20, min(19, s32(prio)))
    cur = getattr(task.process, "nice", 0)
    if nice < cur and task.process.creds.euid != 0:
        raise FsError(errno.EACCES)
    task.process.nice = nice  # type: ignore[attr-defined]
    return 0


@syscall("prctl", "int", "hex", "hex", "hex", "hex")
def sys_prctl(task: Task, option: int, a2: int, a3: int, a4: int, a5: int) -> int:
    op = s32(option)
    if op == PR_SET_NAME:
        name = task.read_cstring(a2, 4096)[:15]
        task.comm = name
        if task.tid == task.process.pid:
            task.process.comm = name
        return 0
    if op == PR_GET_NAME:
        task.write(a2, task.comm[:15].ljust(16, b"\0"))
        return 0
    if op in (PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER):
        return 0
    if op == PR_GET_DUMPABLE:
        return 1
    if op in (PR_GET_PDEATHSIG, PR_GET_CHILD_SUBREAPER):
        task.write_u32(a2, 0)
        return 0
    if op == PR_GET_NO_NEW_PRIVS:
        return 0
    raise FsError(errno.EINVAL)
