"""Generators of /proc/PID and /proc/PID/task/TID files (Linux's fs/proc/array.c, base.c, task_mmu.c,
fd.c): each renders one file from ProcessSource records, byte for byte as Linux prints it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from procfs.source import (
    PAGE_SIZE,
    RLIM_INFINITY,
    RLIMIT_RSS,
    RLIMIT_SIGPENDING,
    FdInfo,
    MountInfo,
    ProcessInfo,
    ProcessSource,
    ThreadInfo,
    Vma,
)

# include/linux/capability.h: CAP_LAST_CAP is 40 (CAP_CHECKPOINT_RESTORE) since Linux 5.9
CAP_FULL = (1 << 41) - 1
# fs/proc/array.c task_state_array
STATE_NAMES = {
    "R": "R (running)",
    "S": "S (sleeping)",
    "D": "D (disk sleep)",
    "T": "T (stopped)",
    "t": "t (tracing stop)",
    "X": "X (dead)",
    "Z": "Z (zombie)",
    "P": "P (parked)",
    "I": "I (idle)",
}
# fs/proc/base.c lnames: (name, unit)
LIMIT_NAMES = (
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
)
# include/linux/proc_ns.h: the initial namespaces' inode numbers (one namespace of each kind here)
NS_INODES = (
    (b"cgroup", 0xEFFFFFFB),
    (b"ipc", 0xEFFFFFFF),
    (b"mnt", 0xEFFFFFF8),
    (b"net", 0xEFFFFFF9),
    (b"pid", 0xEFFFFFFC),
    (b"pid_for_children", 0xEFFFFFFC),
    (b"time", 0xEFFFFFFA),
    (b"time_for_children", 0xEFFFFFFA),
    (b"user", 0xEFFFFFFD),
    (b"uts", 0xEFFFFFFE),
)
MEMS_ALLOWED = ",".join(["00000000"] * 31 + ["00000001"])  # MAX_NUMNODES = 1024 bits


@dataclass(slots=True)
class Task:
    """What a per-process generator renders: the process, the thread (None: the whole group) and
    whether the reader may see address-space details (ptrace_may_access)."""

    source: ProcessSource
    proc: ProcessInfo
    thread: ThreadInfo | None
    permitted: bool

    @property
    def threads(self) -> Sequence[ThreadInfo]:
        proc = self.proc
        if proc.threads:
            return proc.threads
        return (
            ThreadInfo(
                tid=proc.pid, comm=proc.comm, state=proc.state, utime=proc.utime, stime=proc.stime,
                start_time=proc.start_time, minflt=proc.minflt, majflt=proc.majflt,
            ),
        )  # fmt: skip

    @property
    def tid(self) -> int:
        return self.thread.tid if self.thread else self.proc.pid


def _kb(value: int) -> str:
    return f"{value >> 10:8d} kB"


def _escape_comm(comm: bytes) -> str:
    # proc_task_name(escape=true): seq_escape_str(..., ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")
    return comm.decode("latin-1").replace("\\", "\\\\").replace("\n", "\\n")


def _leader(task: Task) -> ThreadInfo:
    return task.threads[0]


def render_stat(task: Task) -> bytes:
    """fs/proc/array.c do_task_stat: whole group for /proc/PID/stat, one thread under task/."""
    p = task.proc
    threads = task.threads
    if task.thread is None:
        t = _leader(task)
        comm, state = p.comm, p.state
        utime, stime, minflt, majflt = p.utime, p.stime, p.minflt, p.majflt  # group totals
        pending = t.sig_pending | p.shd_pending
        cminflt, cmajflt, cutime, cstime = p.cminflt, p.cmajflt, p.cutime, p.cstime
    else:
        t = task.thread
        comm, state = t.comm, t.state
        utime, stime, minflt, majflt = t.utime, t.stime, t.minflt, t.majflt
        pending = t.sig_pending | p.shd_pending
        cminflt = cmajflt = cutime = cstime = 0
    wchan = 1 if state != "R" and (task.thread is not None or len(threads) < 2) else 0
    ok = task.permitted
    low = 0x7FFFFFFF  # fs/proc/array.c prints the obsolete 31-bit signal masks
    rsslim = p.limits.get(RLIMIT_RSS, (RLIM_INFINITY, RLIM_INFINITY))[0]
    flags = p.flags if task.thread is None or t.flags is None else t.flags
    # exit_signal: a thread other than the leader has none (-1)
    exit_signal = p.exit_signal if task.thread is None or t.tid == p.pid else -1
    fields = [
        p.ppid, p.pgid, p.sid, p.tty_nr, p.tpgid, flags, minflt, cminflt, majflt, cmajflt,
        utime, stime, cutime, cstime, 20 + p.nice, p.nice, len(threads), 0, t.start_time if task.thread
        else p.start_time, p.vm_size, p.rss // PAGE_SIZE, rsslim,
        (p.start_code if ok else 1), (p.end_code if ok else 1), (p.start_stack if ok else 0), 0, 0,
        pending & low, t.sig_blocked & low, p.sig_ignored & low, p.sig_caught & low, wchan, 0, 0,
        exit_signal, t.processor, 0, 0, 0, 0, 0,
    ]  # fmt: skip
    # the whole group shows the group exit code (stopped / exiting), a thread its own
    exit_code = p.exit_code if task.thread is None else t.exit_code
    tail = [p.start_data, p.end_data, p.start_brk, p.arg_start, p.arg_end, p.env_start, p.env_end, exit_code]
    if not ok:
        tail = [0] * len(tail)
    numbers = " ".join(str(v) for v in fields + tail)
    tid = task.tid
    return b"%d (%s) %s %s\n" % (tid, comm, state.encode(), numbers.encode())


def render_statm(task: Task) -> bytes:
    p = task.proc
    shared = (p.rss_file + p.rss_shmem) // PAGE_SIZE
    resident = shared + p.rss_anon // PAGE_SIZE
    text = (_page_align(p.end_code) - (p.start_code & ~(PAGE_SIZE - 1))) // PAGE_SIZE
    data = (p.vm_data + p.vm_stk) // PAGE_SIZE
    return b"%d %d %d %d 0 %d 0\n" % (p.vm_size // PAGE_SIZE, resident, shared, text, data)


def _page_align(value: int) -> int:
    return (value + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def render_status(task: Task) -> bytes:
    """fs/proc/array.c proc_pid_status (Linux 6.x field set)."""
    p = task.proc
    threads = task.threads
    t = task.thread or _leader(task)
    name = t.comm if task.thread else p.comm
    state = t.state if task.thread else p.state
    sigq = p.limits.get(RLIMIT_SIGPENDING, (0, 0))[0]
    root = p.uids[1] == 0
    cap = CAP_FULL if root else 0
    # task_context_switch_counts: the task's own counts (the leader's for /proc/PID/status)
    vol, nonvol = t.voluntary_ctxt_switches, t.nonvoluntary_ctxt_switches
    groups = "".join(f"{g} " for g in p.groups) or " "
    lines = [
        f"Name:\t{_escape_comm(name)}",
        f"Umask:\t{p.umask:04o}",
        f"State:\t{STATE_NAMES.get(state, state)}",
        f"Tgid:\t{p.pid}",
        "Ngid:\t0",
        f"Pid:\t{task.tid}",
        f"PPid:\t{p.ppid}",
        "TracerPid:\t0",
        "Uid:\t" + "\t".join(str(u) for u in p.uids),
        "Gid:\t" + "\t".join(str(g) for g in p.gids),
        f"FDSize:\t{p.fd_size}",
        f"Groups:\t{groups}",
        f"NStgid:\t{p.pid}",
        f"NSpid:\t{task.tid}",
        f"NSpgid:\t{p.pgid}",
        f"NSsid:\t{p.sid}",
        "Kthread:\t0",
        f"VmPeak:\t{_kb(p.vm_peak)}",
        f"VmSize:\t{_kb(p.vm_size)}",
        f"VmLck:\t{_kb(p.vm_lck)}",
        f"VmPin:\t{_kb(0)}",
        f"VmHWM:\t{_kb(p.vm_hwm)}",
        f"VmRSS:\t{_kb(p.rss)}",
        f"RssAnon:\t{_kb(p.rss_anon)}",
        f"RssFile:\t{_kb(p.rss_file)}",
        f"RssShmem:\t{_kb(p.rss_shmem)}",
        f"VmData:\t{_kb(p.vm_data)}",
        f"VmStk:\t{_kb(p.vm_stk)}",
        f"VmExe:\t{_kb(p.vm_exe)}",
        f"VmLib:\t{_kb(p.vm_lib)}",
        f"VmPTE:\t{_kb(p.vm_pte)}",
        f"VmSwap:\t{_kb(0)}",
        f"HugetlbPages:\t{_kb(0)}",
        "CoreDumping:\t0",
        "THP_enabled:\t1",
        "untag_mask:\t0xffffffffffffffff",
        f"Threads:\t{len(threads)}",
        f"SigQ:\t{p.sig_queued}/{sigq}",
        f"SigPnd:\t{t.sig_pending:016x}",
        f"ShdPnd:\t{p.shd_pending:016x}",
        f"SigBlk:\t{t.sig_blocked:016x}",
        f"SigIgn:\t{p.sig_ignored:016x}",
        f"SigCgt:\t{p.sig_caught:016x}",
        "CapInh:\t0000000000000000",
        f"CapPrm:\t{cap:016x}",
        f"CapEff:\t{cap:016x}",
        f"CapBnd:\t{CAP_FULL:016x}",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t0",
        "Seccomp:\t0",
        "Seccomp_filters:\t0",
        *_speculation_lines(),
        f"Cpus_allowed:\t{_cpumask(task.source.system().cpus)}",
        f"Cpus_allowed_list:\t{_cpulist(task.source.system().cpus)}",
        f"Mems_allowed:\t{MEMS_ALLOWED}",
        "Mems_allowed_list:\t0",
        f"voluntary_ctxt_switches:\t{vol}",
        f"nonvoluntary_ctxt_switches:\t{nonvol}",
    ]
    return ("\n".join(lines) + "\n").encode("latin-1")


@functools.cache
def _speculation_lines() -> tuple[str, ...]:
    """The kernel's speculation mitigations for a task (arch_seccomp_spec_mitigations): what the host's
    kernel reports for its CPU (e.g. 'thread vulnerable' where SSBD is per thread, 'vulnerable' on a VM
    without it), which guests share; a task's prctl(PR_SET_SPECULATION_CTRL) is not emulated."""
    found = {"Speculation_Store_Bypass": "thread vulnerable", "SpeculationIndirectBranch": "conditional enabled"}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.rstrip("\n").partition(":\t")
                if key in found:
                    found[key] = value
    except OSError:
        pass
    return tuple(f"{key}:\t{value}" for key, value in found.items())


def _cpumask(cpus: int) -> str:
    # %*pb: hex in 32-bit groups separated by commas, nr_cpu_ids bits wide
    mask = (1 << cpus) - 1
    groups = []
    for shift in range(0, max(cpus, 1), 32):
        width = min(32, cpus - shift)
        groups.append(f"{(mask >> shift) & 0xFFFFFFFF:0{(width + 3) // 4}x}")
    return ",".join(reversed(groups))


def _cpulist(cpus: int) -> str:
    return "0" if cpus == 1 else f"0-{cpus - 1}"


def render_limits(task: Task) -> bytes:
    """fs/proc/base.c proc_pid_limits."""
    out = [f"{'Limit':<25} {'Soft Limit':<20} {'Hard Limit':<20} {'Units':<10}\n"]
    for index, (name, unit) in enumerate(LIMIT_NAMES):
        soft, hard = task.proc.limits.get(index, (RLIM_INFINITY, RLIM_INFINITY))
        row = f"{name:<25} "
        for value in (soft, hard):
            row += f"{'unlimited' if value == RLIM_INFINITY else value:<20} "
        if unit:
            row += f"{unit:<10}"
        out.append(row + "\n")
    return "".join(out).encode()


def render_cmdline(task: Task) -> bytes:
    return task.proc.cmdline


def render_environ(task: Task) -> bytes:
    return task.proc.environ


def render_comm(task: Task) -> bytes:
    return (task.thread.comm if task.thread else task.proc.comm) + b"\n"


def render_auxv(task: Task) -> bytes:
    return task.proc.auxv


def render_oom_score_adj(task: Task) -> bytes:
    return b"%d\n" % task.proc.oom_score_adj


def render_oom_score(task: Task) -> bytes:
    # mm/oom_kill.c oom_badness is relative to RAM; 0 for an idle emulated system's adj 0 process
    adj = task.proc.oom_score_adj
    return b"%d\n" % max(0, min(2000, 666 + adj * 666 // 1000 if adj > 0 else 0))


def render_io(task: Task) -> bytes:
    names = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes")
    return "".join(f"{n}: {v}\n" for n, v in zip(names, task.proc.io, strict=True)).encode()


def render_cgroup(task: Task) -> bytes:
    return b"0::" + task.proc.cgroup + b"\n"


def render_wchan(task: Task) -> bytes:
    return b"0"


def _maps_line(vma: Vma) -> bytes:
    # fs/proc/task_mmu.c show_vma_header_prefix + seq_pad to 25 + 6 * sizeof(void *) - 1 columns
    head = b"%08x-%08x %s %08x %02x:%02x %d " % (
        vma.start, vma.end, vma.perms.encode(), vma.offset, vma.dev_major, vma.dev_minor, vma.ino,
    )  # fmt: skip
    if not vma.name:
        return head + b"\n"
    return head.ljust(72) + b" " + vma.name.replace(b"\n", b"\\012") + b"\n"


def render_maps(task: Task) -> bytes:
    if not task.permitted:
        return b""
    return b"".join(_maps_line(v) for v in task.source.vmas(task.proc.pid))


SMAPS_KEYS = (
    "Rss", "Pss", "Pss_Dirty", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean", "Shared_Dirty",
    "Private_Clean", "Private_Dirty", "Referenced", "Anonymous", "KSM", "LazyFree", "AnonHugePages",
    "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked",
)  # fmt: skip


def render_smaps_rollup(task: Task) -> bytes:
    """fs/proc/task_mmu.c show_smaps_rollup: one process-private view (Pss == Rss, nothing shared)."""
    vmas = task.source.vmas(task.proc.pid)
    if not vmas:
        return b""
    anon = sum(v.rss for v in vmas if v.anonymous)
    rss = sum(v.rss for v in vmas)
    values = dict.fromkeys(SMAPS_KEYS, 0)
    values.update(
        Rss=rss, Pss=rss, Pss_Dirty=anon, Pss_Anon=anon, Pss_File=rss - anon,
        Private_Clean=rss - anon, Private_Dirty=anon, Referenced=rss, Anonymous=anon,
    )  # fmt: skip
    head = _maps_line(Vma(vmas[0].start, vmas[-1].end, "---p", name=b"[rollup]"))
    body = "".join(f"{key + ':':<16}{value >> 10:8d} kB\n" for key, value in values.items())
    return head + body.encode()


def _mangle(path: bytes) -> bytes:
    # fs/proc_namespace.c mangle(): " \t\n\\" as octal escapes
    return path.replace(b"\\", b"\\134").replace(b" ", b"\\040").replace(b"\t", b"\\011").replace(b"\n", b"\\012")


def render_mounts(task: Task) -> bytes:
    # fs/proc_namespace.c show_vfsmnt: the per-mount options, then the superblock's beyond its rw/ro
    lines = []
    for m in task.source.mounts(task.proc.pid):
        options = m.options
        if "," in m.super_options:
            options += "," + m.super_options.split(",", 1)[1]
        fields = (_mangle(m.source), _mangle(m.target), m.fs_type.encode(), options.encode())
        lines.append(b"%s %s %s %s 0 0\n" % fields)
    return b"".join(lines)


def _mountinfo_line(m: MountInfo) -> bytes:
    optional = (m.optional_fields + " " if m.optional_fields else "").encode()
    return b"%d %d %d:%d %s %s %s %s- %s %s %s\n" % (
        m.mount_id, m.parent_id, m.dev_major, m.dev_minor, _mangle(m.root), _mangle(m.target),
        m.options.encode(), optional, m.fs_type.encode(), _mangle(m.source), m.super_options.encode(),
    )  # fmt: skip


def render_mountinfo(task: Task) -> bytes:
    return b"".join(_mountinfo_line(m) for m in task.source.mounts(task.proc.pid))


def render_fdinfo(fd: FdInfo) -> bytes:
    return b"pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n" % (fd.pos, fd.flags, fd.mnt_id, fd.ino)


def render_net_unix(task: Task) -> bytes:
    out = [b"Num       RefCount Protocol Flags    Type St Inode Path\n"]
    for ino, refs, flags, kind, state, path in task.source.system().unix_sockets:
        line = b"0000000000000000: %08X %08X %08X %04X %02X %5d" % (refs, 0, flags, kind, state, ino)
        out.append(line + (b" " + path if path else b"") + b"\n")
    return b"".join(out)


def render_net_dev(task: Task) -> bytes:
    out = [
        b"Inter-|   Receive                                                |  Transmit\n",
        b" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls"
        b" carrier compressed\n",
    ]
    widths = (8, 7, 4, 4, 4, 5, 10, 9, 8, 7, 4, 4, 4, 5, 7, 10)
    for name, counters in task.source.system().net_devices:
        cells = " ".join(f"{v:{w}d}" for v, w in zip(counters, widths, strict=True))
        out.append(b"%6s:%s\n" % (name, cells.encode()))
    return b"".join(out)
