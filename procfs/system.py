"""Generators of system-wide /proc files (cpuinfo, meminfo, stat, uptime, loadavg, version, sys/...),
rendered from SystemInfo in Linux's byte formats. The CPU is the emulated one (see CPUID below)."""

from __future__ import annotations

import uuid

from procfs.source import USER_HZ, ProcessSource, SystemInfo

# CPUID of Unicorn 2.1.4's default x86-64 model (QEMU "Haswell" without AVX/AVX2/FMA, see DESIGN.md
# "CPU model"); tests/procfs/test_cpuinfo.py executes `cpuid` in Unicorn and checks these values.
CPUID_1_EAX = 0x000306C4  # family 6, model 60, stepping 4
CPUID_1_EDX = 0x078BFBFD
CPUID_1_ECX = 0xCED82203
CPUID_7_EBX = 0x00000389
CPUID_80000001_EDX = 0x28100800
CPUID_80000001_ECX = 0x00000021
CPUID_D1_EAX = 0x00000001
CPUID_MAX_LEAF = 0xD
CPU_VENDOR = "GenuineIntel"
CPU_MODEL_NAME = "Intel Core Processor (Haswell)"
ADDRESS_SIZES = "40 bits physical, 48 bits virtual"  # CPUID 0x80000008 EAX = 0x3028

# arch/x86/include/asm/cpufeatures.h names, by CPUID word, in /proc/cpuinfo order (word, bit order).
# Bits Linux hides (osxsave, ...) are absent.
_WORD0 = {
    0: "fpu", 1: "vme", 2: "de", 3: "pse", 4: "tsc", 5: "msr", 6: "pae", 7: "mce", 8: "cx8", 9: "apic",
    11: "sep", 12: "mtrr", 13: "pge", 14: "mca", 15: "cmov", 16: "pat", 17: "pse36", 18: "pn", 19: "clflush",
    21: "dts", 22: "acpi", 23: "mmx", 24: "fxsr", 25: "sse", 26: "sse2", 27: "ss", 28: "ht", 29: "tm",
    30: "ia64", 31: "pbe",
}  # fmt: skip
_WORD1 = {11: "syscall", 19: "mp", 20: "nx", 22: "mmxext", 25: "fxsr_opt", 26: "pdpe1gb", 27: "rdtscp", 29: "lm",
          30: "3dnowext", 31: "3dnow"}  # fmt: skip
_WORD3 = ("rep_good", "nopl", "cpuid")  # Linux-synthesised flags a QEMU TCG guest shows
_WORD4 = {
    0: "pni", 1: "pclmulqdq", 2: "dtes64", 3: "monitor", 4: "ds_cpl", 5: "vmx", 6: "smx", 7: "est", 8: "tm2",
    9: "ssse3", 10: "cid", 11: "sdbg", 12: "fma", 13: "cx16", 14: "xtpr", 15: "pdcm", 17: "pcid", 18: "dca",
    19: "sse4_1", 20: "sse4_2", 21: "x2apic", 22: "movbe", 23: "popcnt", 24: "tsc_deadline_timer", 25: "aes",
    26: "xsave", 28: "avx", 29: "f16c", 30: "rdrand", 31: "hypervisor",
}  # fmt: skip
_WORD6 = {0: "lahf_lm", 1: "cmp_legacy", 2: "svm", 3: "extapic", 4: "cr8_legacy", 5: "abm", 6: "sse4a",
          7: "misalignsse", 8: "3dnowprefetch", 9: "osvw", 10: "ibs", 11: "xop", 12: "skinit", 13: "wdt",
          15: "lwp", 16: "fma4", 17: "tce", 19: "nodeid_msr", 21: "tbm", 22: "topoext"}  # fmt: skip
_WORD9 = {0: "fsgsbase", 1: "tsc_adjust", 2: "sgx", 3: "bmi1", 4: "hle", 5: "avx2", 7: "smep", 8: "bmi2",
          9: "erms", 10: "invpcid", 11: "rtm", 12: "cqm", 14: "mpx", 15: "rdt_a", 16: "avx512f", 17: "avx512dq",
          18: "rdseed", 19: "adx", 20: "smap", 23: "clflushopt", 24: "clwb", 29: "sha_ni"}  # fmt: skip
_WORD10 = {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves"}


def _bits(value: int, names: dict[int, str]) -> list[str]:
    return [name for bit, name in sorted(names.items()) if value >> bit & 1]


def cpu_flags() -> list[str]:
    """The flags line of /proc/cpuinfo for the emulated CPUID."""
    return (
        _bits(CPUID_1_EDX, _WORD0)
        + _bits(CPUID_80000001_EDX, _WORD1)
        + list(_WORD3)
        + _bits(CPUID_1_ECX, _WORD4)
        + _bits(CPUID_80000001_ECX, _WORD6)
        + _bits(CPUID_7_EBX, _WORD9)
        + _bits(CPUID_D1_EAX, _WORD10)
    )


def render_cpuinfo(source: ProcessSource) -> bytes:
    """arch/x86/kernel/cpu/proc.c show_cpuinfo, one block per CPU."""
    s = source.system()
    family = (CPUID_1_EAX >> 8) & 0xF
    model = ((CPUID_1_EAX >> 4) & 0xF) | ((CPUID_1_EAX >> 12) & 0xF0)
    stepping = CPUID_1_EAX & 0xF
    flags = " ".join(cpu_flags())
    blocks = []
    for cpu in range(s.cpus):
        blocks.append(
            f"processor\t: {cpu}\n"
            f"vendor_id\t: {CPU_VENDOR}\n"
            f"cpu family\t: {family}\n"
            f"model\t\t: {model}\n"
            f"model name\t: {CPU_MODEL_NAME}\n"
            f"stepping\t: {stepping}\n"
            f"microcode\t: 0x1\n"
            f"cpu MHz\t\t: {s.cpu_mhz:.3f}\n"
            f"cache size\t: 16384 KB\n"
            f"physical id\t: 0\n"
            f"siblings\t: {s.cpus}\n"
            f"core id\t\t: {cpu}\n"
            f"cpu cores\t: {s.cpus}\n"
            f"apicid\t\t: {cpu}\n"
            f"initial apicid\t: {cpu}\n"
            f"fpu\t\t: yes\n"
            f"fpu_exception\t: yes\n"
            f"cpuid level\t: {CPUID_MAX_LEAF}\n"
            f"wp\t\t: yes\n"
            f"flags\t\t: {flags}\n"
            f"bugs\t\t:\n"
            f"bogomips\t: {s.cpu_mhz * 2:.2f}\n"
            f"clflush size\t: 64\n"
            f"cache_alignment\t: 64\n"
            f"address sizes\t: {ADDRESS_SIZES}\n"
            f"power management:\n\n"
        )
    return "".join(blocks).encode()


# fs/proc/meminfo.c, in order; values not modelled by SystemInfo are 0
MEMINFO_KEYS = (
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
    "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "SwapTotal",
    "SwapFree", "Zswap", "Zswapped", "Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable", "Slab",
    "SReclaimable", "SUnreclaim", "KernelStack", "PageTables", "SecPageTables", "NFS_Unstable", "Bounce",
    "WritebackTmp", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed", "VmallocChunk", "Percpu",
    "AnonHugePages", "ShmemHugePages", "ShmemPmdMapped", "FileHugePages", "FilePmdMapped", "HugePages_Total",
    "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize", "Hugetlb", "DirectMap4k", "DirectMap2M",
    "DirectMap1G",
)  # fmt: skip
_MEMINFO_COUNTS = {"HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"}


def meminfo_values(s: SystemInfo) -> dict[str, int]:
    values = dict.fromkeys(MEMINFO_KEYS, 0)
    values.update(
        MemTotal=s.mem_total, MemFree=s.mem_free, MemAvailable=s.mem_available, Buffers=s.buffers,
        Cached=s.cached, SwapTotal=s.swap_total, SwapFree=s.swap_free, Shmem=s.shmem,
        CommitLimit=s.mem_total // 2 + s.swap_total, VmallocTotal=34359738367 << 10, Hugepagesize=2 << 20,
        DirectMap4k=s.mem_total,
    )  # fmt: skip
    return values


def render_meminfo(source: ProcessSource) -> bytes:
    lines = []
    for key, value in meminfo_values(source.system()).items():
        if key in _MEMINFO_COUNTS:
            lines.append(f"{key + ':':<16}{value:8d}\n")
        else:
            lines.append(f"{key + ':':<16}{value >> 10:8d} kB\n")
    return "".join(lines).encode()


def _busy_ticks(source: ProcessSource) -> tuple[int, int]:
    """(user, system) clock ticks of the live processes (a source without CPU accounting of its own)."""
    user = system = 0
    for pid in source.pids():
        proc = source.process(pid)
        if proc is not None:
            user += proc.utime
            system += proc.stime
    return user, system


def cpu_ticks(source: ProcessSource, s: SystemInfo) -> tuple[int, ...]:
    """The source's counters, or: the processes' user/system time and the rest of the uptime idle."""
    if s.cpu_ticks:
        return tuple(s.cpu_ticks)
    user, system = _busy_ticks(source)
    idle = max(0, int(s.uptime * USER_HZ) * s.cpus - user - system)
    return (user, 0, system, idle, 0, 0, 0, 0, 0, 0)


def render_stat(source: ProcessSource) -> bytes:
    """fs/proc/stat.c show_stat (interrupt counters are all zero: there is no hardware)."""
    s = source.system()
    ticks = cpu_ticks(source, s)
    running = sum(1 for pid in source.pids() if (p := source.process(pid)) is not None and p.state == "R")
    lines = ["cpu  " + " ".join(str(t) for t in ticks)]
    for cpu in range(s.cpus):
        lines.append(f"cpu{cpu} " + " ".join(str(t // s.cpus) for t in ticks))
    lines += [
        "intr 0",
        f"ctxt {s.ctxt}",
        f"btime {s.boot_time}",
        f"processes {s.processes}",
        f"procs_running {max(running, 1)}",
        f"procs_blocked {s.procs_blocked}",
        "softirq 0 0 0 0 0 0 0 0 0 0 0",
    ]
    return ("\n".join(lines) + "\n").encode()


def _centi(value: float, rounded: bool = False) -> str:
    # fs/proc/uptime.c truncates to hundredths; fs/proc/loadavg.c rounds (LOAD_FRAC(x + FIXED_1/200))
    hundredths = round(value * 100) if rounded else int(value * 100)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def render_uptime(source: ProcessSource) -> bytes:
    s = source.system()
    idle = s.idle or cpu_ticks(source, s)[3] / USER_HZ  # fs/proc/uptime.c: idle summed over CPUs
    return f"{_centi(s.uptime)} {_centi(idle)}\n".encode()


def render_loadavg(source: ProcessSource) -> bytes:
    s = source.system()
    pids = source.pids()
    tasks = running = 0
    for pid in pids:
        proc = source.process(pid)
        if proc is None:
            continue
        threads = proc.threads or ()
        tasks += len(threads) or 1
        running += sum(1 for t in threads if t.state == "R") if threads else proc.state == "R"
    load = " ".join(_centi(x, rounded=True) for x in s.loadavg)
    return f"{load} {max(running, 1)}/{tasks} {s.last_pid}\n".encode()


def render_version(source: ProcessSource) -> bytes:
    s = source.system()
    return b"%s version %s (lxfs@lxfs) (%s) %s\n" % (s.ostype, s.release, s.compiler, s.version)


def render_filesystems(source: ProcessSource) -> bytes:
    return b"nodev\tproc\nnodev\ttmpfs\nnodev\tdevtmpfs\nnodev\tdevpts\n\tvolfs\n"


def render_partitions(source: ProcessSource) -> bytes:
    return b"major minor  #blocks  name\n\n"


def render_swaps(source: ProcessSource) -> bytes:
    return b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"


def render_cmdline(source: ProcessSource) -> bytes:
    return b"lxfs\n"


def render_devices(source: ProcessSource) -> bytes:
    """fs/proc/devices.c: the character majors devfs serves; no block devices."""
    chars = ((1, "mem"), (4, "/dev/vc/0"), (4, "tty"), (5, "/dev/tty"), (5, "/dev/console"), (5, "/dev/ptmx"),
             (128, "ptm"), (136, "pts"))  # fmt: skip
    body = "".join(f"{major:3d} {name}\n" for major, name in chars)
    return f"Character devices:\n{body}\nBlock devices:\n".encode()


def render_hostname(source: ProcessSource) -> bytes:
    return source.system().hostname + b"\n"


def render_domainname(source: ProcessSource) -> bytes:
    return source.system().domainname + b"\n"


def render_ostype(source: ProcessSource) -> bytes:
    return source.system().ostype + b"\n"


def render_osrelease(source: ProcessSource) -> bytes:
    return source.system().release + b"\n"


def render_kernel_version(source: ProcessSource) -> bytes:
    return source.system().version + b"\n"


def render_pid_max(source: ProcessSource) -> bytes:
    return b"%d\n" % source.system().pid_max


def render_boot_id(source: ProcessSource) -> bytes:
    return source.system().boot_id + b"\n"


def render_uuid(source: ProcessSource) -> bytes:
    # drivers/char/random.c: a fresh random UUID on every read
    return str(uuid.uuid4()).encode() + b"\n"


def render_file_max(source: ProcessSource) -> bytes:
    return b"%d\n" % source.system().file_max


def render_nr_open(source: ProcessSource) -> bytes:
    return b"%d\n" % source.system().nr_open


def render_overcommit_memory(source: ProcessSource) -> bytes:
    return b"%d\n" % source.system().overcommit_memory
