"""ProcessSource: what procfs needs to know about the emulated system, and the records it is told in.

The emulator's Kernel implements ProcessSource; procfs never imports the emulator. Every method returns
a snapshot record (plain values, no live objects), so a generator renders one consistent view.

"Self": the VFS calls a filesystem without a task, so procfs asks ``current_pid()``/``current_tid()``
who is calling (the task whose syscall is running, or for FUSE / the CLI whichever pid the caller
chose). ``StaticSource`` below is a complete in-memory implementation for tests and tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

# include/uapi/asm-generic/resource.h, in /proc/PID/limits order
RLIMIT_CPU = 0
RLIMIT_FSIZE = 1
RLIMIT_DATA = 2
RLIMIT_STACK = 3
RLIMIT_CORE = 4
RLIMIT_RSS = 5
RLIMIT_NPROC = 6
RLIMIT_NOFILE = 7
RLIMIT_MEMLOCK = 8
RLIMIT_AS = 9
RLIMIT_LOCKS = 10
RLIMIT_SIGPENDING = 11
RLIMIT_MSGQUEUE = 12
RLIMIT_NICE = 13
RLIMIT_RTPRIO = 14
RLIMIT_RTTIME = 15
RLIM_INFINITY = (1 << 64) - 1

USER_HZ = 100  # clock ticks per second in stat/times (sysconf(_SC_CLK_TCK))
PAGE_SIZE = 4096


def default_limits() -> dict[int, tuple[int, int]]:
    """Linux's defaults for a login shell's child (soft, hard), as a fresh Kernel would give."""
    inf = RLIM_INFINITY
    return {
        RLIMIT_CPU: (inf, inf),
        RLIMIT_FSIZE: (inf, inf),
        RLIMIT_DATA: (inf, inf),
        RLIMIT_STACK: (8 << 20, inf),
        RLIMIT_CORE: (0, inf),
        RLIMIT_RSS: (inf, inf),
        RLIMIT_NPROC: (63_704, 63_704),
        RLIMIT_NOFILE: (1024, 1_048_576),
        RLIMIT_MEMLOCK: (8 << 20, 8 << 20),
        RLIMIT_AS: (inf, inf),
        RLIMIT_LOCKS: (inf, inf),
        RLIMIT_SIGPENDING: (63_704, 63_704),
        RLIMIT_MSGQUEUE: (819_200, 819_200),
        RLIMIT_NICE: (0, 0),
        RLIMIT_RTPRIO: (0, 0),
        RLIMIT_RTTIME: (inf, inf),
    }


@dataclass(slots=True)
class Vma:
    """One mapping as /proc/PID/maps shows it. ``perms`` is e.g. "r-xp" (p private, s shared)."""

    start: int
    end: int
    perms: str
    offset: int = 0
    dev_major: int = 0
    dev_minor: int = 0
    ino: int = 0
    name: bytes = b""  # a path, b"[heap]", b"[stack]", b"[vvar]", ... or empty for anonymous
    rss: int = 0  # bytes resident (smaps_rollup); default: the whole mapping
    anonymous: bool = True  # anonymous memory (private, no file), for RssAnon/Anonymous


@dataclass(slots=True)
class FdInfo:
    """One open descriptor: ``target`` is what readlink(/proc/PID/fd/N) gives: a path, b"pipe:[N]",
    b"socket:[N]", b"anon_inode:[eventfd]", b"/dev/pts/0" ..."""

    fd: int
    target: bytes
    pos: int = 0
    flags: int = 0  # open flags as fdinfo prints them (octal), O_CLOEXEC included if set on the fd
    mnt_id: int = 0
    ino: int = 0


@dataclass(slots=True)
class MountInfo:
    """One mount as the process's namespace sees it (mountinfo's fields)."""

    mount_id: int
    parent_id: int
    dev_major: int
    dev_minor: int
    root: bytes  # path inside the filesystem that is mounted ("/" usually)
    target: bytes  # mount point as seen from the process's root
    options: str  # per-mount options, e.g. "rw,nosuid,nodev,noexec,relatime"
    fs_type: str
    source: bytes
    super_options: str = "rw"
    optional_fields: str = ""  # e.g. "shared:1" (space-separated tags before the " - " separator)


@dataclass(slots=True)
class ThreadInfo:
    """Per-thread values (/proc/PID/task/TID and the leader's own columns)."""

    tid: int
    comm: bytes
    state: str = "S"  # one of R S D T t Z X I
    utime: int = 0  # clock ticks
    stime: int = 0
    start_time: int = 0  # clock ticks since boot
    sig_pending: int = 0  # bit (sig-1) set for each signal
    sig_blocked: int = 0
    processor: int = 0
    voluntary_ctxt_switches: int = 0
    nonvoluntary_ctxt_switches: int = 0
    minflt: int = 0
    majflt: int = 0
    exit_code: int = 0  # the thread's own (the group's is ProcessInfo.exit_code)
    flags: int | None = None  # PF_* of this thread (None: the process's); clone()d threads add PF_FORKNOEXEC


@dataclass(slots=True)
class ProcessInfo:
    """A thread group (process). Memory figures are in bytes; times in clock ticks (USER_HZ).
    utime/stime/minflt/majflt are group totals (every thread, exited ones included), as
    /proc/PID/stat shows them; ThreadInfo has each thread's own."""

    pid: int
    ppid: int
    comm: bytes  # at most 15 bytes, like TASK_COMM_LEN - 1
    pgid: int = 0
    sid: int = 0
    tty_nr: int = 0  # new_encode_dev of the controlling tty, 0 if none
    tpgid: int = -1  # foreground process group of the controlling tty, -1 if none
    state: str = "S"
    cmdline: bytes = b""  # NUL-separated argv with the trailing NUL
    environ: bytes = b""
    exe: bytes | None = None  # None: readlink gives ENOENT (kernel thread / zombie)
    cwd: bytes = b"/"
    root: bytes = b"/"
    uids: tuple[int, int, int, int] = (0, 0, 0, 0)  # real, effective, saved, filesystem
    gids: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: tuple[int, ...] = ()
    umask: int = 0o022
    nice: int = 0
    flags: int = 0x400000  # PF_* (stat field 9); PF_RANDOMIZE-less user task
    start_time: int = 0
    utime: int = 0
    stime: int = 0
    cutime: int = 0
    cstime: int = 0
    minflt: int = 0
    cminflt: int = 0
    majflt: int = 0
    cmajflt: int = 0
    vm_peak: int = 0
    vm_size: int = 0
    vm_lck: int = 0
    vm_hwm: int = 0
    rss_anon: int = 0
    rss_file: int = 0
    rss_shmem: int = 0
    vm_data: int = 0
    vm_stk: int = 0
    vm_exe: int = 0
    vm_lib: int = 0
    vm_pte: int = 0
    start_code: int = 0
    end_code: int = 0
    start_stack: int = 0
    start_data: int = 0
    end_data: int = 0
    start_brk: int = 0
    arg_start: int = 0
    arg_end: int = 0
    env_start: int = 0
    env_end: int = 0
    exit_code: int = 0
    exit_signal: int = 17  # SIGCHLD
    sig_ignored: int = 0
    sig_caught: int = 0
    shd_pending: int = 0
    sig_queued: int = 0  # signals queued for the process's real user (SigQ's first number)
    limits: dict[int, tuple[int, int]] = field(default_factory=default_limits)
    oom_score_adj: int = 0
    auxv: bytes = b""  # the raw auxiliary vector (pairs of u64, ending with AT_NULL)
    io: tuple[int, int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0, 0)
    # rchar, wchar, syscr, syscw, read_bytes, write_bytes, cancelled_write_bytes
    cgroup: bytes = b"/"
    fd_size: int = 64  # FDSize: capacity of the fd table
    dumpable: bool = True  # owner of /proc/PID files is the euid (else root)
    threads: Sequence[ThreadInfo] = ()  # leader first; empty means one thread == the process

    @property
    def rss(self) -> int:
        return self.rss_anon + self.rss_file + self.rss_shmem


@dataclass(slots=True)
class SystemInfo:
    """System-wide values. Memory in bytes; times in seconds (float) unless named otherwise."""

    boot_time: int = 0  # seconds since the epoch (btime)
    uptime: float = 0.0
    idle: float = 0.0  # summed over CPUs; 0: derived from uptime minus the processes' CPU time
    hostname: bytes = b"localhost"
    domainname: bytes = b"(none)"
    ostype: bytes = b"Linux"
    release: bytes = b"6.1.0-lxfs"
    version: bytes = b"#1 SMP PREEMPT_DYNAMIC"
    compiler: bytes = b"gcc version 12.2.0 (Debian 12.2.0-14)"
    cpus: int = 1
    cpu_mhz: float = 2400.0
    mem_total: int = 1 << 30
    mem_free: int = 768 << 20
    mem_available: int = 896 << 20
    buffers: int = 0
    cached: int = 64 << 20
    shmem: int = 0
    swap_total: int = 0
    swap_free: int = 0
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    last_pid: int = 1
    boot_id: bytes = b"00000000-0000-4000-8000-000000000000"
    pid_max: int = 4_194_304
    file_max: int = 9_223_372_036_854_775_807
    nr_open: int = 1_048_576
    overcommit_memory: int = 0
    ctxt: int = 0  # context switches since boot
    processes: int = 0  # forks since boot
    procs_blocked: int = 0
    cpu_ticks: tuple[int, ...] = ()  # user nice system idle iowait irq softirq steal guest guest_nice
    # (empty: derived from the processes' utime/stime and the uptime)
    unix_sockets: Sequence[tuple[int, int, int, int, int, bytes]] = ()
    # (inode, refcount, flags, type, state, path) for /proc/net/unix
    net_devices: Sequence[tuple[bytes, tuple[int, ...]]] = ((b"lo", (0,) * 16),)


class Identity(NamedTuple):
    """Who a process is, without the rest of a ProcessInfo: what procfs's existence and permission checks
    need on every lookup and stat (a full ProcessInfo costs ~0.1 ms; busybox execs every applet through
    /proc/self/exe)."""

    tids: tuple[int, ...]  # as ProcessInfo.threads: leader first; empty means one thread == the process
    uids: tuple[int, int, int, int]
    gids: tuple[int, int, int, int]
    dumpable: bool


class ProcessSource(Protocol):
    """What procfs asks of the running system. Implemented by emulator.kernel.Kernel and StaticSource.

    Unknown pids/tids give None or an empty list (the process may exit between calls); procfs turns
    that into ENOENT/ESRCH as Linux does.
    """

    def current_pid(self) -> int:
        """The thread group id of the caller (what /proc/self points to); 0 if there is none."""
        ...

    def current_tid(self) -> int:
        """The caller's thread id (/proc/thread-self)."""
        ...

    def current_uid(self) -> int:
        """The caller's effective uid (owner-only entries such as environ check it)."""
        ...

    def pids(self) -> list[int]:
        """Live thread-group ids, ascending."""
        ...

    def process(self, pid: int) -> ProcessInfo | None: ...

    def identity(self, pid: int) -> Identity | None:
        """The fields of process(pid) procfs checks on every access (None: no such process)."""
        ...

    def vmas(self, pid: int) -> list[Vma]:
        """The address space in ascending order."""
        ...

    def fds(self, pid: int) -> list[FdInfo]:
        """Open descriptors in ascending fd order."""
        ...

    def mounts(self, pid: int) -> list[MountInfo]:
        """The process's mount table in mount order."""
        ...

    def system(self) -> SystemInfo: ...

    def set_comm(self, pid: int, tid: int, comm: bytes) -> None:
        """Writing /proc/PID[/task/TID]/comm (already truncated to 15 bytes)."""
        ...

    def set_oom_score_adj(self, pid: int, value: int) -> None: ...

    def set_hostname(self, name: bytes) -> None:
        """Writing /proc/sys/kernel/hostname (like sethostname(2))."""
        ...


@dataclass(slots=True)
class StaticSource:
    """A ProcessSource over plain records: tests build the system they want to see."""

    procs: dict[int, ProcessInfo] = field(default_factory=dict)
    maps: dict[int, list[Vma]] = field(default_factory=dict)
    files: dict[int, list[FdInfo]] = field(default_factory=dict)
    mount_table: list[MountInfo] = field(default_factory=list)
    sysinfo: SystemInfo = field(default_factory=SystemInfo)
    caller_pid: int = 0
    caller_tid: int = 0
    caller_uid: int = 0

    def add(self, proc: ProcessInfo, vmas: Sequence[Vma] = (), fds: Sequence[FdInfo] = ()) -> ProcessInfo:
        self.procs[proc.pid] = proc
        self.maps[proc.pid] = list(vmas)
        self.files[proc.pid] = list(fds)
        return proc

    def current_pid(self) -> int:
        return self.caller_pid

    def current_tid(self) -> int:
        return self.caller_tid or self.caller_pid

    def current_uid(self) -> int:
        return self.caller_uid

    def pids(self) -> list[int]:
        return sorted(self.procs)

    def process(self, pid: int) -> ProcessInfo | None:
        return self.procs.get(pid)

    def identity(self, pid: int) -> Identity | None:
        proc = self.procs.get(pid)
        if proc is None:
            return None
        return Identity(tuple(t.tid for t in proc.threads), proc.uids, proc.gids, proc.dumpable)

    def vmas(self, pid: int) -> list[Vma]:
        return list(self.maps.get(pid, ()))

    def fds(self, pid: int) -> list[FdInfo]:
        return list(self.files.get(pid, ()))

    def mounts(self, pid: int) -> list[MountInfo]:
        return list(self.mount_table)

    def system(self) -> SystemInfo:
        return self.sysinfo

    def set_comm(self, pid: int, tid: int, comm: bytes) -> None:
        proc = self.procs[pid]
        if tid == pid:
            proc.comm = comm
        for thread in proc.threads:
            if thread.tid == tid:
                thread.comm = comm

    def set_oom_score_adj(self, pid: int, value: int) -> None:
        self.procs[pid].oom_score_adj = value

    def set_hostname(self, name: bytes) -> None:
        self.sysinfo.hostname = name
