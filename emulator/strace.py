"""``--strace``: one line per completed syscall in strace's format, from the table's argument decoders.

    openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3
    openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory)

With several processes each line starts with ``[pid N] `` as ``strace -f`` does. Arguments are decoded
after the call (so read buffers show what was read).
"""

from __future__ import annotations

import errno
import os
import signal as hostsignal
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.syscalls.table import NAMES, Entry

if TYPE_CHECKING:
    from emulator.kernel import Kernel, Process, Task

STRING_LIMIT = 32  # strace's default -s


def _s32(x: int) -> int:
    x &= 0xFFFF_FFFF
    return x - (1 << 32) if x & 0x8000_0000 else x


def _s64(x: int) -> int:
    x &= 0xFFFF_FFFF_FFFF_FFFF
    return x - (1 << 64) if x & (1 << 63) else x


_C_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f", "\v": "\\v"}
# Each byte's spelling in strace's output: C escapes, printable ASCII as is, the rest in octal.
_QUOTED = [_C_ESCAPES.get(chr(b), chr(b) if 32 <= b < 127 else f"\\{b:o}") for b in range(256)]


def quote(data: bytes, limit: int = STRING_LIMIT) -> str:
    """strace's string quoting: C escapes, ``...`` after the limit."""
    body = "".join([_QUOTED[b] for b in data[:limit]])
    return '"' + body + '"' + ("..." if len(data) > limit else "")


def _flags(value: int, names: list[tuple[int, str]], zero: str = "0") -> str:
    parts = []
    for bit, name in names:
        if value & bit == bit and bit:
            parts.append(name)
            value &= ~bit
    if value:
        parts.append(hex(value))
    return "|".join(parts) if parts else zero


_O_FLAGS = [
    (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"),
    (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"),
    (0o4010000, "O_SYNC"), (0o10000000, "O_PATH"), (0o20200000, "O_TMPFILE"), (0o100000, "O_LARGEFILE"),
]  # fmt: skip
_PROT = [(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")]
_MAP = [
    (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"),
    (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x20000, "MAP_STACK"), (0x100000, "MAP_FIXED_NOREPLACE"),
]  # fmt: skip
_CLONE = [
    (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
    (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"), (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x1000000, "CLONE_CHILD_SETTID"),
]  # fmt: skip
_WAIT = [(1, "WNOHANG"), (2, "WUNTRACED"), (4, "WEXITED"), (8, "WCONTINUED"), (0x1000000, "WNOWAIT"),
         (0x40000000, "__WALL"), (0x80000000, "__WCLONE")]  # fmt: skip
_FUTEX = {0: "FUTEX_WAIT", 1: "FUTEX_WAKE", 3: "FUTEX_REQUEUE", 4: "FUTEX_CMP_REQUEUE", 5: "FUTEX_WAKE_OP",
          9: "FUTEX_WAIT_BITSET", 10: "FUTEX_WAKE_BITSET"}  # fmt: skip
_CLOCKS = ["CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID",
           "CLOCK_MONOTONIC_RAW", "CLOCK_REALTIME_COARSE", "CLOCK_MONOTONIC_COARSE", "CLOCK_BOOTTIME"]  # fmt: skip
_RLIMITS = ["RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
            "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME"]  # fmt: skip


def signame(n: int) -> str:
    try:
        return hostsignal.Signals(n).name
    except ValueError:
        return f"SIGRT_{n - 32}" if 32 <= n <= 64 else str(n)


def _sigset(task: Task, addr: int) -> str:
    if not addr:
        return "NULL"
    try:
        mask = struct.unpack("<Q", task.read(addr, 8))[0]
    except OSError:
        return hex(addr)
    names = [signame(i + 1)[3:] for i in range(64) if mask >> i & 1]
    return "[" + " ".join(names) + "]"


def _string(task: Task, addr: int) -> str:
    if not addr:
        return "NULL"
    try:
        return quote(task.read_cstring(addr, 4096))
    except OSError:
        return hex(addr)


def _strings(task: Task, addr: int) -> str:
    if not addr:
        return "NULL"
    try:
        ptrs = task.process.mm.read_pointer_array(addr)
    except OSError:
        return hex(addr)
    shown = [_string(task, p) for p in ptrs[:32]]
    more = "..." if len(ptrs) > 32 else ""
    return "[" + ", ".join(shown) + more + "]"


def _atfd(task: Task, v: int) -> str:
    return "AT_FDCWD" if _s32(v) == -100 else str(_s32(v))


def _oflags(task: Task, v: int) -> str:
    acc = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}.get(v & 3, str(v & 3))
    rest = _flags(v & ~3, _O_FLAGS, "")
    return acc + ("|" + rest if rest else "")


def _timespec(task: Task, addr: int) -> str:
    if not addr:
        return "NULL"
    try:
        sec, nsec = struct.unpack("<qq", task.read(addr, 16))
    except OSError:
        return hex(addr)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def _futex_op(task: Task, v: int) -> str:
    name = _FUTEX.get(v & 0x7F, str(v & 0x7F))
    if v & 128:
        name += "_PRIVATE"
    if v & 256:
        name += "|FUTEX_CLOCK_REALTIME"
    return name


Decoder = Callable[["Task", int], str]

DECODERS: dict[str, Decoder] = {
    "int": lambda t, v: str(_s32(v)),
    "long": lambda t, v: str(_s64(v)),
    "size": lambda t, v: str(v),
    "hex": lambda t, v: hex(v) if v else "0",
    "ptr": lambda t, v: "NULL" if v == 0 else hex(v),
    "fd": lambda t, v: str(_s32(v)),
    "atfd": _atfd,
    "str": _string,
    "path": _string,
    "argv": _strings,
    "envp": lambda t, v: "NULL" if v == 0 else f"{hex(v)} /* vars */",
    "oflags": lambda t, v: _oflags(t, v),
    "mode": lambda t, v: f"0{v & 0o7777:o}" if v else "000",
    "mmap_prot": lambda t, v: _flags(v, _PROT, "PROT_NONE"),
    "mmap_flags": lambda t, v: (
        {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}.get(v & 0xF, hex(v & 0xF))
        + ("|" + _flags(v & ~0xF, _MAP, "") if v & ~0xF else "")
    ),
    "clone_flags": lambda t, v: (
        _flags(v & ~0xFF, _CLONE, "")
        + ("|" if v & ~0xFF and v & 0xFF else "")
        + (signame(v & 0xFF) if v & 0xFF else "")
    ),
    "wait_options": lambda t, v: _flags(v, _WAIT, "0"),
    "futex_op": _futex_op,
    "signal": lambda t, v: signame(_s32(v)) if 0 < _s32(v) <= 64 else str(_s32(v)),
    "sigset": _sigset,
    "how": lambda t, v: {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}.get(v, str(v)),
    "clockid": lambda t, v: _CLOCKS[v] if v < len(_CLOCKS) else str(_s32(v)),
    "rlimit": lambda t, v: _RLIMITS[v] if v < len(_RLIMITS) else str(_s32(v)),
    "timespec": _timespec,
}


def _errname(e: int) -> str:
    return f"-1 {errno.errorcode.get(e, str(e))} ({os.strerror(e)})"


def format_call(task: Task, entry: Entry, args: tuple[int, ...], ret: int | None) -> str:
    parts = []
    for i, kind in enumerate(entry.args):
        if kind == "buf2":  # a buffer whose length is the next argument (write, read)
            n = args[i + 1] if i + 1 < len(args) else 0
            if entry.name in ("read", "pread64", "recvfrom") and ret is not None and _s64(ret) >= 0:
                n = _s64(ret)
            try:
                parts.append(quote(task.read(args[i], min(n, STRING_LIMIT + 1))) if n else '""')
            except OSError:
                parts.append(hex(args[i]))
            continue
        dec = DECODERS.get(kind, DECODERS["hex"])
        try:
            parts.append(dec(task, args[i]))
        except Exception:
            parts.append(hex(args[i]))
    if ret is None:
        result = "?"
    else:
        r = _s64(ret)
        if -4096 < r < 0:
            result = _errname(-r)
        elif entry.ret == "ptr":
            result = hex(ret)
        else:
            result = str(r)
    return f"{entry.name}({', '.join(parts)}) = {result}"


def _prefix(kernel: Kernel, task: Task) -> str:
    return f"[pid {task.tid:>5}] " if len(kernel.tasks) > 1 or kernel.forks else ""


def trace(kernel: Kernel, task: Task, entry: Entry, args: tuple[int, ...], ret: int | None) -> None:
    out = kernel.strace
    if out is None:
        return
    if entry.name in ("exit", "exit_group"):
        line = f"{entry.name}({_s32(args[0])}) = ?"
    elif entry.name in ("execve", "rt_sigreturn") and ret is None:
        line = format_call(task, entry, args, 0)
    else:
        line = format_call(task, entry, args, ret)
    out.write(_prefix(kernel, task) + line + "\n")
    out.flush()


def trace_exit(kernel: Kernel, proc: Process, status: int) -> None:
    """strace's closing line for a process: ``+++ exited with N +++`` or ``+++ killed by SIGX +++``."""
    out = kernel.strace
    if out is None:
        return
    prefix = f"[pid {proc.pid:>5}] " if len(kernel.processes) > 1 or kernel.forks else ""
    if status & 0x7F:
        line = f"+++ killed by {signame(status & 0x7F)}{' (core dumped)' if status & 0x80 else ''} +++"
    else:
        line = f"+++ exited with {(status >> 8) & 0xFF} +++"
    out.write(prefix + line + "\n")
    out.flush()


def trace_unknown(kernel: Kernel, task: Task, nr: int, args: tuple[int, ...]) -> None:
    out = kernel.strace
    if out is None:
        return
    name = NAMES.get(nr, f"syscall_{nr:#x}")
    out.write(f"{_prefix(kernel, task)}{name}({', '.join(hex(a) for a in args[:6])}) = {_errname(errno.ENOSYS)}\n")
    out.flush()
