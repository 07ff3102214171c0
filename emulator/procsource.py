"""The Kernel as procfs's ProcessSource (procfs/source.py): snapshots of processes, threads, address
spaces, descriptors, mounts and system figures, built on demand from the live kernel objects.

Kernel's ProcessSource methods delegate here so kernel.py stays about scheduling.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from emulator.memory import PROT_EXEC, PROT_WRITE
from procfs.source import FdInfo, Identity, MountInfo, ProcessInfo, SystemInfo, ThreadInfo, Vma

if TYPE_CHECKING:
    from emulator.kernel import Kernel, Process, Task

NS_PER_TICK = 10_000_000  # USER_HZ = 100


def _ticks(ns: int) -> int:
    return ns // NS_PER_TICK


def _state(task: Task) -> str:
    from emulator.kernel import BLOCKED, DEAD, STOPPED

    if task.state == BLOCKED:
        return "S"
    if task.state == STOPPED:
        return "T"
    if task.state == DEAD:
        return "Z"
    return "R"


def _thread(kernel: Kernel, t: Task) -> ThreadInfo:
    return ThreadInfo(
        tid=t.tid,
        comm=t.comm,
        state=_state(t),
        utime=_ticks(t.utime_ns),
        stime=_ticks(t.stime_ns),
        start_time=_ticks(t.start_ns - kernel.boot_ns),
        sig_pending=t.pending.mask,
        sig_blocked=t.sigmask,
        voluntary_ctxt_switches=t.nvcsw,
        nonvoluntary_ctxt_switches=t.nivcsw,
    )


def vma_list(proc: Process) -> list[Vma]:
    out = []
    for v in proc.mm.vmas:
        dev = v.file.dev if v.file is not None else 0
        out.append(
            Vma(
                start=v.start,
                end=v.end,
                perms=v.perms(),
                offset=v.offset if v.file is not None or v.name.startswith(b"/") else 0,
                dev_major=os.major(dev),
                dev_minor=os.minor(dev),
                ino=v.file.ino if v.file is not None else 0,
                name=v.name,
                rss=v.end - v.start,
                anonymous=v.file is None,
            )
        )
    return out


def _shown_threads(proc: Process) -> tuple[Task | None, list[Task]]:
    """The group leader (whose state is the process's) and the threads /proc lists: the live ones, and the
    leader even after it exited."""
    threads = proc.live_threads() or proc.threads
    leader = threads[0] if threads else None
    return leader, [t for t in proc.threads if t.state != "X" or t is leader]


def _ids(proc: Process) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """(real, effective, saved, filesystem) uids and gids, as /proc/PID/status lists them."""
    c = proc.creds
    return (c.uid, c.euid, c.suid, c.fsuid), (c.gid, c.egid, c.sgid, c.fsgid)


def identity(proc: Process) -> Identity:
    """What process_info says of threads and credentials, without the rest (procfs's hot checks)."""
    return Identity(tuple(t.tid for t in _shown_threads(proc)[1]), *_ids(proc), True)


def process_info(kernel: Kernel, proc: Process) -> ProcessInfo:
    leader, shown = _shown_threads(proc)
    uids, gids = _ids(proc)
    mm = proc.mm
    zombie = proc.zombie
    vmas = [] if zombie else mm.vmas
    size = sum(v.end - v.start for v in vmas)
    stack = sum(v.end - v.start for v in vmas if v.kind == "stack")
    exe_size = sum(v.end - v.start for v in vmas if v.prot & PROT_EXEC and v.file is None and v.name == b"")
    data = sum(v.end - v.start for v in vmas if v.prot & PROT_WRITE and not v.shared and v.kind != "stack")
    anon = sum(v.end - v.start for v in vmas if v.file is None and not v.shared)
    shmem = sum(v.end - v.start for v in vmas if v.shared)
    c = proc.creds
    # fs/proc/array.c: the group leader's state; R is TASK_RUNNING, on the CPU or waiting for it
    state = "Z" if zombie else (_state(leader) if leader is not None else "R")
    cwd = root = b"/"
    fs = proc.fs
    side = getattr(kernel, "files", None)
    ns = getattr(side, "ns", None)
    devices = getattr(side, "devices", None)
    tty = devices.controlling_tty(proc.sid) if devices is not None else None
    if fs is not None and ns is not None and not zombie:
        try:
            cwd = ns.d_path(fs.cwd, fs.root)
            root = ns.d_path(fs.root)
        except OSError:
            pass
    return ProcessInfo(
        pid=proc.pid,
        ppid=proc.parent.pid if proc.parent is not None else 0,
        comm=proc.comm,
        pgid=proc.pgid,
        sid=proc.sid,
        tty_nr=tty.tty_nr if tty is not None else 0,
        tpgid=tty.pgrp if tty is not None and tty.pgrp else -1,
        state=state,
        cmdline=b"".join(a + b"\0" for a in proc.argv) if not zombie else b"",
        environ=b"".join(e + b"\0" for e in proc.envp) if not zombie else b"",
        exe=None if zombie else proc.exe,
        cwd=cwd,
        root=root,
        uids=uids,
        gids=gids,
        groups=c.groups,
        umask=proc.umask,
        start_time=_ticks(proc.start_ns - kernel.boot_ns),
        utime=_ticks(proc.group_utime_ns()),
        stime=_ticks(proc.group_stime_ns()),
        cutime=_ticks(proc.cutime_ns),
        cstime=_ticks(proc.cstime_ns),
        vm_peak=size,
        vm_size=size,
        vm_hwm=anon,
        rss_anon=anon,
        rss_shmem=shmem,
        vm_data=data,
        vm_stk=stack,
        vm_exe=exe_size,
        start_code=mm.start_code,
        end_code=mm.end_code,
        start_stack=mm.start_stack,
        start_data=mm.start_data,
        end_data=mm.end_data,
        start_brk=mm.brk_start,
        arg_start=mm.arg_start,
        arg_end=mm.arg_end,
        env_start=mm.env_start,
        env_end=mm.env_end,
        exit_code=proc.exit_status or 0,
        exit_signal=proc.exit_signal,
        sig_ignored=sum(1 << (i - 1) for i, a in enumerate(proc.sighand.actions) if i and a.handler == 1),
        sig_caught=sum(1 << (i - 1) for i, a in enumerate(proc.sighand.actions) if i and a.handler > 1),
        shd_pending=proc.shared_pending.mask,
        limits=dict(proc.rlimits),
        oom_score_adj=getattr(proc, "oom_score_adj", 0),
        auxv=mm.auxv,
        threads=[_thread(kernel, t) for t in shown],
    )


def fd_list(proc: Process) -> list[FdInfo]:
    table = proc.fdtable
    ns = getattr(getattr(proc.kernel, "files", None), "ns", None)
    if table is None or ns is None:
        return []
    from procfs.mount import fd_infos

    root = proc.fs.root if proc.fs is not None else None
    return fd_infos(ns, table, root)


def mount_list(kernel: Kernel, proc: Process | None) -> list[MountInfo]:
    ns = getattr(getattr(kernel, "files", None), "ns", None)
    if ns is None:
        return []
    from procfs.mount import mount_table

    root = proc.fs.root if proc is not None and proc.fs is not None else None
    return mount_table(ns, root)


def system_info(kernel: Kernel) -> SystemInfo:
    uptime = (time.monotonic_ns() - kernel.boot_ns) / 1e9
    blocked = sum(
        1 for t in kernel.tasks.values() if t.state == "S" and t.block is not None and not t.block.interruptible
    )
    return SystemInfo(
        boot_time=int(kernel.boot_time),
        uptime=uptime,
        idle=0.0,
        hostname=kernel.hostname,
        domainname=kernel.domainname,
        release=kernel.release,
        cpus=1,
        last_pid=kernel._next_pid - 1,
        ctxt=kernel.ctxt,
        processes=kernel.forks + 1,
        procs_blocked=blocked,
    )
