"""Time syscalls: clock_gettime/getres, gettimeofday, time, nanosleep, clock_nanosleep, alarm,
setitimer/getitimer, times, getrusage."""

from __future__ import annotations

import errno
import signal as hostsignal
import struct
import time
from typing import TYPE_CHECKING

from emulator import signals as sig
from emulator.kernel import WAKE_TIMEOUT, Block, Process
from emulator.syscalls.table import s32, syscall
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from emulator.kernel import Task

# include/uapi/linux/time.h
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI = 8, 9, 11
TIMER_ABSTIME = 1
ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = hostsignal.ITIMER_REAL, hostsignal.ITIMER_VIRTUAL, hostsignal.ITIMER_PROF
TICK_NSEC = 4_000_000  # the kernel's tick at CONFIG_HZ=250 (Debian's), as CPU-time itimers round by it
NSEC = 1_000_000_000
TIMESPEC = struct.Struct("<qq")


def clock_ns(task: Task, clock: int) -> int:
    if clock in (CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_REALTIME_ALARM, CLOCK_TAI):
        return time.time_ns()
    if clock in (CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM):
        return time.monotonic_ns()  # the host's, as a container sees it
    if clock == CLOCK_PROCESS_CPUTIME_ID:
        return task.process.group_utime_ns() + task.process.group_stime_ns()
    if clock == CLOCK_THREAD_CPUTIME_ID:
        return task.utime_ns + task.stime_ns
    raise FsError(errno.EINVAL)


def monotonic_of(task: Task, clock: int, ns: int) -> int:
    """An absolute time on ``clock`` as a time.monotonic_ns() deadline."""
    return ns - clock_ns(task, clock) + time.monotonic_ns()


def read_timespec(task: Task, addr: int) -> int:
    sec, nsec = TIMESPEC.unpack(task.read(addr, 16))
    if sec < 0 or not 0 <= nsec < NSEC:
        raise FsError(errno.EINVAL)
    return sec * NSEC + nsec


def pack_timespec(ns: int) -> bytes:
    return TIMESPEC.pack(ns // NSEC, ns % NSEC)


@syscall("clock_gettime", "clockid", "ptr")
def sys_clock_gettime(task: Task, clock: int, tp: int) -> int:
    task.write(tp, pack_timespec(clock_ns(task, s32(clock))))
    return 0


@syscall("clock_getres", "clockid", "ptr")
def sys_clock_getres(task: Task, clock: int, tp: int) -> int:
    c = s32(clock)
    clock_ns(task, c)
    if tp:
        coarse = c in (CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE)
        task.write(tp, pack_timespec(4_000_000 if coarse else 1))
    return 0


@syscall("gettimeofday", "ptr", "ptr")
def sys_gettimeofday(task: Task, tv: int, tz: int) -> int:
    ns = time.time_ns()
    if tv:
        task.write(tv, struct.pack("<qq", ns // NSEC, ns % NSEC // 1000))
    if tz:
        task.write(tz, struct.pack("<ii", 0, 0))
    return 0


@syscall("time", "ptr")
def sys_time(task: Task, tloc: int) -> int:
    t = time.time_ns() // NSEC
    if tloc:
        task.write(tloc, struct.pack("<q", t))
    return t


def _sleep(task: Task, deadline: int, rem: int) -> int:
    if task.restarting and task.wake_reason == WAKE_TIMEOUT:
        return 0
    if deadline <= time.monotonic_ns():
        return 0
    raise _SleepBlock(deadline, rem)


class _SleepBlock(Block):
    """A sleep: EINTR after a handler (never restarted), with the time left written to ``rem``."""

    def __init__(self, deadline: int, rem: int) -> None:
        super().__init__(deadline=deadline, restart=False)
        self.rem = rem

    def on_interrupt(self, task: Task) -> None:
        if self.rem and self.deadline is not None:
            left = max(0, self.deadline - time.monotonic_ns())
            try:
                task.write(self.rem, pack_timespec(left))
            except FsError:
                pass


@syscall("nanosleep", "timespec", "ptr")
def sys_nanosleep(task: Task, req: int, rem: int) -> int:
    ns = read_timespec(task, req)
    return _sleep(task, task.deadline(ns), rem)


@syscall("clock_nanosleep", "clockid", "hex", "timespec", "ptr")
def sys_clock_nanosleep(task: Task, clock: int, flags: int, req: int, rem: int) -> int:
    c = s32(clock)
    if c == CLOCK_THREAD_CPUTIME_ID:
        raise FsError(errno.EINVAL)
    clock_ns(task, c)
    ns = read_timespec(task, req)
    if flags & TIMER_ABSTIME:
        return _sleep(task, monotonic_of(task, c, ns), 0)
    return _sleep(task, task.deadline(ns), rem)


# -- interval timers (ITIMER_REAL / alarm; ITIMER_VIRTUAL / ITIMER_PROF) ------------------------------------------


def _arm_real(task: Task, proc: Process, value_ns: int, interval_ns: int) -> tuple[int, int]:
    """Set ITIMER_REAL; returns the old (remaining, interval)."""
    k = task.kernel
    now = time.monotonic_ns()
    old_left = max(0, proc.itimer_value_ns - now) if proc.itimer_value_ns else 0
    if old_left == 0 and proc.itimer_value_ns:
        old_left = 1
    old = (old_left, proc.itimer_interval_ns)
    if proc.itimer_real is not None:
        proc.itimer_real.cancel()
        proc.itimer_real = None
    proc.itimer_interval_ns = interval_ns
    proc.itimer_value_ns = 0
    if value_ns:
        when = now + value_ns

        def fire(proc: Process = proc) -> None:
            if proc.zombie:
                return
            k.send_signal(proc, hostsignal.SIGALRM, sig.SigInfo(hostsignal.SIGALRM, sig.SI_KERNEL))
            if proc.itimer_interval_ns:
                proc.itimer_value_ns += proc.itimer_interval_ns
                proc.itimer_real = k.add_timer(proc.itimer_value_ns, fire)
            else:
                proc.itimer_value_ns = 0
                proc.itimer_real = None

        proc.itimer_value_ns = when
        proc.itimer_real = k.add_timer(when, fire)
    return old


def timevals(*ns: int) -> bytes:
    """struct timeval for each nanosecond count, packed (itimerval, rusage's ru_utime and ru_stime)."""
    fields: list[int] = []
    for n in ns:
        fields += (n // NSEC, n % NSEC // 1000)
    return struct.pack(f"<{len(fields)}q", *fields)


@syscall("setitimer", "int", "ptr", "ptr")
def sys_setitimer(task: Task, which: int, new: int, old: int) -> int:
    w = s32(which)
    if w not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise FsError(errno.EINVAL)
    isec, iusec, vsec, vusec = struct.unpack("<qqqq", task.read(new, 32)) if new else (0, 0, 0, 0)
    if not (0 <= iusec < 1_000_000 and 0 <= vusec < 1_000_000) or isec < 0 or vsec < 0:
        raise FsError(errno.EINVAL)
    value, interval = vsec * NSEC + vusec * 1000, isec * NSEC + iusec * 1000
    if w == ITIMER_REAL:
        left, interval = _arm_real(task, task.process, value, interval)
    else:
        left, interval = _arm_cpu(task.process, w, value, interval)
    if old:
        task.write(old, timevals(interval, left))
    return 0


def _arm_cpu(proc: Process, which: int, value_ns: int, interval_ns: int) -> tuple[int, int]:
    """Set ITIMER_VIRTUAL or ITIMER_PROF (CPU time, charged by the scheduler); returns the old
    (remaining, interval)."""
    old = proc.itimer_cpu.pop(which, None)
    if value_ns:
        # set_cpu_itimer: the first expiry is a tick later than asked, so a full period always passes
        proc.itimer_cpu[which] = [value_ns + TICK_NSEC, interval_ns]
    return (max(old[0], TICK_NSEC), old[1]) if old else (0, 0)


@syscall("getitimer", "int", "ptr")
def sys_getitimer(task: Task, which: int, cur: int) -> int:
    w = s32(which)
    if w not in (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF):
        raise FsError(errno.EINVAL)
    proc = task.process
    if w == ITIMER_REAL and proc.itimer_value_ns:
        left = max(1000, proc.itimer_value_ns - time.monotonic_ns())
        task.write(cur, timevals(proc.itimer_interval_ns, left))
    elif w in proc.itimer_cpu:
        left, interval = proc.itimer_cpu[w]
        task.write(cur, timevals(interval, max(TICK_NSEC, left)))  # get_cpu_itimer: "about to fire"
    else:
        task.write(cur, b"\0" * 32)
    return 0


@syscall("alarm", "int")
def sys_alarm(task: Task, seconds: int) -> int:
    left, _ = _arm_real(task, task.process, (seconds & 0xFFFF_FFFF) * NSEC, 0)
    # alarm(2) rounds the old remaining time to the nearest second, at least 1 if it was pending
    return (left + NSEC // 2) // NSEC if left >= NSEC else (1 if left else 0)


# -- process times ---------------------------------------------------------------------------------------------


def _ticks(ns: int) -> int:
    return ns // 10_000_000  # USER_HZ = 100


@syscall("times", "ptr")
def sys_times(task: Task, buf: int) -> int:
    proc = task.process
    if buf:
        ticks = (proc.group_utime_ns(), proc.group_stime_ns(), proc.cutime_ns, proc.cstime_ns)
        task.write(buf, struct.pack("<qqqq", *map(_ticks, ticks)))
    return _ticks(time.monotonic_ns() - task.kernel.boot_ns) + 100_000


RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1


@syscall("getrusage", "int", "ptr")
def sys_getrusage(task: Task, who: int, usage: int) -> int:
    w = s32(who)
    proc = task.process
    if w == RUSAGE_SELF:
        ut, st = proc.group_utime_ns(), proc.group_stime_ns()
    elif w == RUSAGE_CHILDREN:
        ut, st = proc.cutime_ns, proc.cstime_ns
    elif w == RUSAGE_THREAD:
        ut, st = task.utime_ns, task.stime_ns
    else:
        raise FsError(errno.EINVAL)
    maxrss = proc.mm.total() // 1024 if w != RUSAGE_CHILDREN else 0
    task.write(usage, timevals(ut, st) + struct.pack("<q", maxrss) + b"\0" * (144 - 40))
    return 0
