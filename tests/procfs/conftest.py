"""Host-backed fixtures for procfs tests: a stopped host process described as ProcessSource records
(values taken from independent sources where possible: prlimit, readlink, the stat numbers), so a
ProcFs over it must print what the host's own /proc prints for that process."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from procfs.source import FdInfo, MountInfo, ProcessInfo, StaticSource, SystemInfo, ThreadInfo, Vma
from procfs.table import ProcFs


def _kb(status: dict[str, str], key: str) -> int:
    return int(status[key].split()[0]) * 1024


def _sigmask(status: dict[str, str], key: str) -> int:
    return int(status[key].strip(), 16)


def _quad(text: str) -> tuple[int, int, int, int]:
    a, b, c, d = (int(x) for x in text.split())
    return a, b, c, d


def host_process(pid: int) -> tuple[ProcessInfo, list[Vma], list[FdInfo]]:
    base = f"/proc/{pid}"
    raw = Path(f"{base}/stat").read_bytes()
    comm = raw[raw.index(b"(") + 1 : raw.rindex(b")")]
    f = raw[raw.rindex(b")") + 2 :].split()
    n = [int(x) for x in f[1:]]
    status = {}
    for line in Path(f"{base}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    limits = {res: resource.prlimit(pid, res) for res in range(16)}
    limits = {k: (v[0] % (1 << 64), v[1] % (1 << 64)) for k, v in limits.items()}
    proc = ProcessInfo(
        pid=pid, ppid=n[0], comm=comm, pgid=n[1], sid=n[2], tty_nr=n[3], tpgid=n[4], state=f[0].decode(),
        flags=n[5], minflt=n[6], cminflt=n[7], majflt=n[8], cmajflt=n[9], utime=n[10], stime=n[11],
        cutime=n[12], cstime=n[13], nice=n[15], start_time=n[18], start_code=n[22], end_code=n[23],
        start_stack=n[24], exit_signal=n[34], start_data=n[41], end_data=n[42], start_brk=n[43],
        arg_start=n[44], arg_end=n[45], env_start=n[46], env_end=n[47], exit_code=n[48],
        cmdline=Path(f"{base}/cmdline").read_bytes(), environ=Path(f"{base}/environ").read_bytes(),
        exe=os.readlink(f"{base}/exe").encode(), cwd=os.readlink(f"{base}/cwd").encode(),
        root=os.readlink(f"{base}/root").encode(),
        uids=_quad(status["Uid"]), gids=_quad(status["Gid"]),
        groups=tuple(int(x) for x in status["Groups"].split()), umask=int(status["Umask"], 8),
        vm_peak=_kb(status, "VmPeak"), vm_size=_kb(status, "VmSize"), vm_lck=_kb(status, "VmLck"),
        vm_hwm=_kb(status, "VmHWM"), rss_anon=_kb(status, "RssAnon"), rss_file=_kb(status, "RssFile"),
        rss_shmem=_kb(status, "RssShmem"), vm_data=_kb(status, "VmData"), vm_stk=_kb(status, "VmStk"),
        vm_exe=_kb(status, "VmExe"), vm_lib=_kb(status, "VmLib"), vm_pte=_kb(status, "VmPTE"),
        sig_ignored=_sigmask(status, "SigIgn"), sig_caught=_sigmask(status, "SigCgt"),
        shd_pending=_sigmask(status, "ShdPnd"), sig_queued=int(status["SigQ"].split("/")[0]), limits=limits,
        fd_size=int(status["FDSize"]),
        auxv=Path(f"{base}/auxv").read_bytes(),
    )  # fmt: skip
    proc.threads = [host_thread(pid, tid) for tid in sorted(int(t) for t in os.listdir(f"{base}/task"))]
    vmas = []
    for row in Path(f"{base}/maps").read_bytes().splitlines():
        parts = row.split(None, 5)
        start, end = (int(x, 16) for x in parts[0].split(b"-"))
        major, minor = (int(x, 16) for x in parts[3].split(b":"))
        vma_name = parts[5] if len(parts) > 5 else b""
        vmas.append(Vma(start, end, parts[1].decode(), int(parts[2], 16), major, minor, int(parts[4]), vma_name))
    fds = []
    for name in sorted(os.listdir(f"{base}/fd"), key=int):
        info = dict(
            line.split(":", 1) for line in Path(f"{base}/fdinfo/{name}").read_text().splitlines() if ":" in line
        )
        fds.append(
            FdInfo(
                int(name), os.readlink(f"{base}/fd/{name}").encode(), pos=int(info["pos"]),
                flags=int(info["flags"], 8), mnt_id=int(info["mnt_id"]), ino=int(info["ino"]),
            )
        )  # fmt: skip
    return proc, vmas, fds


def host_thread(pid: int, tid: int) -> ThreadInfo:
    base = f"/proc/{pid}/task/{tid}"
    raw = Path(f"{base}/stat").read_bytes()
    comm = raw[raw.index(b"(") + 1 : raw.rindex(b")")]
    f = raw[raw.rindex(b")") + 2 :].split()
    n = [int(x) for x in f[1:]]
    status = dict(line.split(":", 1) for line in Path(f"{base}/status").read_text().splitlines())
    return ThreadInfo(
        tid=tid, comm=comm, state=f[0].decode(), utime=n[10], stime=n[11], start_time=n[18],
        sig_pending=_sigmask(status, "SigPnd"), sig_blocked=_sigmask(status, "SigBlk"), processor=n[35],
        voluntary_ctxt_switches=int(status["voluntary_ctxt_switches"]),
        nonvoluntary_ctxt_switches=int(status["nonvoluntary_ctxt_switches"]),
        minflt=n[6], majflt=n[8], exit_code=n[48], flags=n[5],
    )  # fmt: skip


def host_mounts(pid: int) -> list[MountInfo]:
    out = []
    for line in Path(f"/proc/{pid}/mountinfo").read_bytes().splitlines():
        left, _, right = line.partition(b" - ")
        a = left.split(b" ")
        b = right.split(b" ")
        major, minor = (int(x) for x in a[2].split(b":"))

        def unmangle(s: bytes) -> bytes:
            return s.decode("unicode_escape").encode("latin-1") if b"\\" in s else s

        out.append(
            MountInfo(
                int(a[0]), int(a[1]), major, minor, unmangle(a[3]), unmangle(a[4]), a[5].decode(), b[0].decode(),
                unmangle(b[1]), b[2].decode(), optional_fields=" ".join(x.decode() for x in a[6:]),
            )
        )  # fmt: skip
    return out


def _wait(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"host child: no {what} after {timeout} s"
        time.sleep(0.01)


def _all_stopped(pid: int) -> bool:
    tasks = os.listdir(f"/proc/{pid}/task")
    return all(Path(f"/proc/{pid}/task/{t}/stat").read_bytes().split(b") ")[1][:1] == b"T" for t in tasks)


THREADED = "import threading, time\nfor _ in range(2): threading.Thread(target=time.sleep, args=(1000,)).start()\n"


@pytest.fixture(params=["sleep", "threads"])
def stopped_child(request: pytest.FixtureRequest) -> Iterator[int]:
    """A host `sleep` (one thread) or a Python with three threads, with a known argv and environment,
    stopped so its /proc values hold still."""
    argv = ["sleep", "1000"] if request.param == "sleep" else ["python3", "-c", THREADED]
    child = subprocess.Popen(argv, env={"LXFS_TEST": "1", "PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
    try:
        if request.param == "threads":
            _wait(lambda: len(os.listdir(f"/proc/{child.pid}/task")) == 3, "3 threads")
        time.sleep(0.05)
        os.kill(child.pid, signal.SIGSTOP)
        _wait(lambda: _all_stopped(child.pid), "the group stop")  # it reaches every thread
        time.sleep(0.02)
        yield child.pid
    finally:
        child.kill()
        child.wait()


@pytest.fixture
def host_procfs(stopped_child: int) -> tuple[ProcFs, int]:
    pid = stopped_child
    proc, vmas, fds = host_process(pid)
    source = StaticSource(sysinfo=SystemInfo(cpus=os.cpu_count() or 1), caller_pid=pid, caller_uid=0)
    source.add(proc, vmas, fds)
    source.mount_table = host_mounts(pid)
    return ProcFs(source), pid
