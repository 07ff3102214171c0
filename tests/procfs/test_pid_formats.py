"""Per-process /proc files, field by field against the host's /proc for the same (stopped) process."""

from __future__ import annotations

import os
import stat

from procfs.table import ProcFs

# status lines whose values must differ: the host runs in a container without every capability
# (CapPrm/CapEff/CapBnd), while the emulated root has them all.
STATUS_MUST_DIFFER = {"CapPrm", "CapEff", "CapBnd"}
# SigQ's first number counts the signals queued for the whole user (root here), which other processes
# on the host change at any moment: only its limit is compared.


def _status_line_equal(ours: str, host: str) -> bool:
    key = ours.split(":")[0]
    if key in STATUS_MUST_DIFFER:
        return True
    if key == "SigQ":
        return ours.split("/")[1] == host.split("/")[1]
    return ours == host


def _host(pid: int, name: str) -> bytes:
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read()


def _ours(fs: ProcFs, pid: int, name: str) -> bytes:
    return fs.read_path(f"{pid}/{name}".encode())


def _first_difference(ours: bytes, host: bytes) -> str:
    a, b = ours.splitlines(), host.splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"line {i}: ours {x!r} host {y!r}"
    return f"line counts: ours {len(a)} host {len(b)}"


# stat field 24 (rss) on Linux >= 6.2 reads the per-CPU counters approximately (get_mm_counter), while
# status's VmRSS sums them exactly; ours is exact, so it is checked against VmRSS instead.
STAT_RSS_FIELD = 24


def _assert_stat_equal(ours: bytes, host: bytes, pid: int) -> None:
    for i, (x, y) in enumerate(zip(ours.split(b" "), host.split(b" "), strict=True)):
        if i + 1 == STAT_RSS_FIELD:
            vmrss_kb = next(line for line in _host(pid, "status").splitlines() if line.startswith(b"VmRSS"))
            assert int(x) * 4 == int(vmrss_kb.split()[1])
        else:
            assert x == y, f"stat field {i + 1}: ours {x!r} host {y!r}"


def test_stat_matches_host_field_by_field(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    _assert_stat_equal(_ours(fs, pid, "stat"), _host(pid, "stat"), pid)


def test_status_matches_host_except_capabilities(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    ours = _ours(fs, pid, "status").decode().splitlines()
    host = _host(pid, "status").decode().splitlines()
    assert [line.split(":")[0] for line in ours] == [line.split(":")[0] for line in host]
    for x, y in zip(ours, host, strict=True):
        assert _status_line_equal(x, y), (x, y)


def test_statm_limits_cmdline_environ_match_host(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    for name in ("statm", "limits", "cmdline", "environ", "maps", "auxv", "mountinfo", "mounts"):
        ours, host = _ours(fs, pid, name), _host(pid, name)
        assert ours == host, f"{name}: {_first_difference(ours, host)}"


def test_task_files_match_host(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    task_dir = fs.path_ino(f"{pid}/task".encode())
    assert [e.name for e in fs.readdir(task_dir, 0)][2:] == [str(t).encode() for t in tids]
    for tid in tids:
        base = f"task/{tid}"
        _assert_stat_equal(_ours(fs, pid, f"{base}/stat"), _host(pid, f"{base}/stat"), pid)
        for name in ("comm", "statm", "limits", "cmdline"):
            ours, host = _ours(fs, pid, f"{base}/{name}"), _host(pid, f"{base}/{name}")
            assert ours == host, f"{base}/{name}: {_first_difference(ours, host)}"
        ours_status = _ours(fs, pid, f"{base}/status").decode().splitlines()
        host_status = _host(pid, f"{base}/status").decode().splitlines()
        for x, y in zip(ours_status, host_status, strict=True):
            assert _status_line_equal(x, y), (base, x, y)


def test_fd_links_and_fdinfo_match_host(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    fd_dir = fs.path_ino(f"{pid}/fd".encode())
    names = sorted(e.name for e in fs.readdir(fd_dir, 0) if e.name not in (b".", b".."))
    assert names == sorted(n.encode() for n in os.listdir(f"/proc/{pid}/fd"))
    for name in names:
        ino = fs.lookup(fd_dir, name)
        assert ino is not None
        assert fs.readlink(ino) == os.readlink(f"/proc/{pid}/fd/{name.decode()}").encode()
        host_mode = os.lstat(f"/proc/{pid}/fd/{name.decode()}").st_mode
        assert fs.getattr(ino).mode == host_mode
        fdinfo = _host(pid, f"fdinfo/{name.decode()}")
        assert _ours(fs, pid, f"fdinfo/{name.decode()}") == fdinfo


def test_entry_modes_match_host(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    pid_dir = fs.path_ino(str(pid).encode())
    for entry in fs.readdir(pid_dir, 0):
        if entry.name in (b".", b".."):
            continue
        host = os.lstat(f"/proc/{pid}/{entry.name.decode()}")
        ours = fs.getattr(entry.ino)
        assert (ours.mode, ours.uid, ours.gid) == (host.st_mode, host.st_uid, host.st_gid), entry.name
        assert stat.S_IFMT(ours.mode) >> 12 == entry.dtype


def test_symlinks_exe_cwd_root_match_host(host_procfs: tuple[ProcFs, int]) -> None:
    fs, pid = host_procfs
    for name in ("exe", "cwd", "root", "ns/mnt", "ns/pid", "ns/user", "ns/uts", "ns/ipc", "ns/cgroup"):
        ino = fs.path_ino(f"{pid}/{name}".encode())
        ours = fs.readlink(ino)
        host = os.readlink(f"/proc/{pid}/{name}").encode()
        if name.startswith("ns/"):
            # namespace inode numbers are the host's; only the kind prefix must agree
            assert ours.split(b":")[0] == host.split(b":")[0]
        else:
            assert ours == host
