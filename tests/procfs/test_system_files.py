"""System-wide /proc files: formats against the host's, values from the source, and cpuinfo flags
against what the emulated CPU (Unicorn's default model) answers to `cpuid`."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from procfs import system as S
from procfs.source import StaticSource, SystemInfo
from procfs.table import ProcFs


def _fs(**sysinfo: object) -> ProcFs:
    return ProcFs(StaticSource(sysinfo=SystemInfo(**sysinfo)))  # type: ignore[arg-type,unused-ignore]


def _cpuid(leaf: int, sub: int = 0) -> tuple[int, int, int, int]:
    unicorn = pytest.importorskip("unicorn")
    from unicorn import x86_const as X

    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, b"\x0f\xa2")
    uc.reg_write(X.UC_X86_REG_EAX, leaf)
    uc.reg_write(X.UC_X86_REG_ECX, sub)
    uc.emu_start(0x1000, 0x1002)
    regs = (X.UC_X86_REG_EAX, X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX)
    a, b, c, d = (int(uc.reg_read(r)) for r in regs)
    return a, b, c, d


def test_cpuid_constants_are_what_unicorn_executes() -> None:
    eax1, _, ecx1, edx1 = _cpuid(1)
    assert (eax1, ecx1, edx1) == (S.CPUID_1_EAX, S.CPUID_1_ECX, S.CPUID_1_EDX)
    assert _cpuid(7)[1] == S.CPUID_7_EBX
    _, _, ecx, edx = _cpuid(0x80000001)
    assert (ecx, edx) == (S.CPUID_80000001_ECX, S.CPUID_80000001_EDX)
    assert _cpuid(0xD, 1)[0] == S.CPUID_D1_EAX
    assert _cpuid(0)[0] == S.CPUID_MAX_LEAF
    vendor = struct.pack("<3I", _cpuid(0)[1], _cpuid(0)[3], _cpuid(0)[2]).decode()
    assert vendor == S.CPU_VENDOR
    brand = b"".join(struct.pack("<4I", *_cpuid(leaf)) for leaf in (0x80000002, 0x80000003, 0x80000004))
    assert brand.rstrip(b"\0").decode() == S.CPU_MODEL_NAME


def test_cpuinfo_flags_have_sse42_popcnt_bmi_and_no_avx() -> None:
    text = _fs(cpus=2).read_path(b"cpuinfo").decode()
    flags = re.findall(r"^flags\t\t: (.*)$", text, re.M)
    assert len(flags) == 2
    names = flags[0].split()
    for needed in ("sse4_2", "popcnt", "bmi1", "bmi2", "erms", "xsave", "fsgsbase", "lm", "cx16", "movbe"):
        assert needed in names
    for absent in ("avx", "avx2", "fma", "avx512f", "xsavec"):
        assert absent not in names
    assert "model\t\t: 60\n" in text and "cpu family\t: 6\n" in text and "stepping\t: 4\n" in text


def test_cpuinfo_keys_in_host_order() -> None:
    host = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    ours = _fs().read_path(b"cpuinfo").decode().split("\n\n")[0]
    host_keys = [line.split(":")[0] for line in host.splitlines()]
    ours_keys = [line.split(":")[0] for line in ours.splitlines()]
    # The host's CPU may add vendor-specific keys (AMD's "TLB size"); every key we print is in its order.
    assert [k for k in host_keys if k in ours_keys] == ours_keys


def test_meminfo_has_host_keys_and_layout() -> None:
    host_lines = Path("/proc/meminfo").read_text().splitlines()
    ours = _fs(mem_total=2 << 30, mem_free=1 << 30).read_path(b"meminfo").decode().splitlines()
    ours_keys = [line.split(":")[0] for line in ours]
    host_keys = [line.split(":")[0] for line in host_lines]
    assert [k for k in host_keys if k in ours_keys] == ours_keys
    assert "MemTotal:        2097152 kB" in ours
    assert "MemFree:         1048576 kB" in ours
    for line in host_lines:  # same column layout as the host for every key we share
        key = line.split(":")[0]
        if key in ours_keys:
            mine = ours[ours_keys.index(key)]
            assert len(mine) == len(line) or not line.endswith("kB"), (mine, line)


def test_uptime_truncates_and_loadavg_rounds() -> None:
    fs = _fs(uptime=12.349, idle=20.999, loadavg=(0.126, 1.0, 2.554), last_pid=42)
    assert fs.read_path(b"uptime") == b"12.34 20.99\n"
    assert fs.read_path(b"loadavg") == b"0.13 1.00 2.55 1/0 42\n"
    assert re.fullmatch(rb"(\d+\.\d\d ){3}\d+/\d+ \d+\n", Path("/proc/loadavg").read_bytes())
    assert re.fullmatch(rb"\d+\.\d\d \d+\.\d\d\n", Path("/proc/uptime").read_bytes())


def test_stat_lines_like_host() -> None:
    ours = _fs(cpus=2, boot_time=1_700_000_000, ctxt=5, processes=9).read_path(b"stat").decode().splitlines()
    host = Path("/proc/stat").read_text().splitlines()
    assert [line.split()[0] for line in ours] == [line.split()[0] for line in host if line.split()[0] in
                                                   {line.split()[0] for line in ours}]  # fmt: skip
    assert "btime 1700000000" in ours and "ctxt 5" in ours and "processes 9" in ours
    assert len(ours[0].split()) == len(host[0].split())


def test_version_and_sys_kernel_files() -> None:
    fs = _fs(release=b"6.1.0-lxfs", hostname=b"box", version=b"#1 SMP PREEMPT_DYNAMIC")
    assert fs.read_path(b"version").startswith(b"Linux version 6.1.0-lxfs (lxfs@lxfs) (")
    assert fs.read_path(b"sys/kernel/hostname") == b"box\n"
    assert fs.read_path(b"sys/kernel/ostype") == b"Linux\n"
    assert fs.read_path(b"sys/kernel/osrelease") == b"6.1.0-lxfs\n"
    assert fs.read_path(b"sys/kernel/pid_max") == b"4194304\n"
    assert fs.read_path(b"sys/fs/nr_open") == b"1048576\n"
    assert fs.read_path(b"sys/vm/overcommit_memory") == b"0\n"
    uuid1, uuid2 = fs.read_path(b"sys/kernel/random/uuid"), fs.read_path(b"sys/kernel/random/uuid")
    assert uuid1 != uuid2 and re.fullmatch(rb"[0-9a-f-]{36}\n", uuid1)
    assert re.fullmatch(rb"[0-9a-f-]{36}\n", fs.read_path(b"sys/kernel/random/boot_id"))


def test_static_formats_equal_host() -> None:
    fs = _fs()
    assert fs.read_path(b"swaps") == Path("/proc/swaps").read_bytes().splitlines(keepends=True)[0]
    assert fs.read_path(b"partitions") == b"".join(Path("/proc/partitions").read_bytes().splitlines(True)[:2])
    host_devices = Path("/proc/devices").read_text()
    for line in fs.read_path(b"devices").decode().splitlines():
        assert line in host_devices.splitlines()
    header = b"".join(Path("/proc/net/dev").read_bytes().splitlines(True)[:2])
    ours_dev = ProcFs(_source_with_pid()).read_path(b"self/net/dev")
    assert ours_dev.startswith(header)
    host_lo = next(line for line in Path("/proc/net/dev").read_text().splitlines() if line.strip().startswith("lo:"))
    ours_lo = ours_dev.decode().splitlines()[2]
    assert len(ours_lo.split()) == len(host_lo.split())
    assert ours_lo == "    lo:" + " ".join(f"{0:{w}d}" for w in (8, 7, 4, 4, 4, 5, 10, 9, 8, 7, 4, 4, 4, 5, 7, 10))
    unix_header = Path("/proc/net/unix").read_bytes().splitlines(True)[0]
    assert ProcFs(_source_with_pid()).read_path(b"self/net/unix") == unix_header


def _source_with_pid() -> StaticSource:
    from procfs.source import ProcessInfo

    source = StaticSource(caller_pid=1)
    source.add(ProcessInfo(pid=1, ppid=0, comm=b"init"))
    return source


def test_cpu_times_are_derived_when_the_source_has_none() -> None:
    from procfs.source import ProcessInfo

    source = StaticSource(sysinfo=SystemInfo(cpus=2, uptime=10.0))
    source.add(ProcessInfo(pid=1, ppid=0, comm=b"init", utime=150, stime=50))
    fs = ProcFs(source)
    assert fs.read_path(b"stat").splitlines()[0] == b"cpu  150 0 50 1800 0 0 0 0 0 0"
    assert fs.read_path(b"uptime") == b"10.00 18.00\n"
