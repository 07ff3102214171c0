"""procfs generation cost: rendering /proc files for 50 processes, directly (ProcFs.open_file + read)
and through the VFS (openat + read + close on a Namespace with /proc mounted), beside the host
kernel reading its own /proc/PID/stat. Writes its section of bench/RESULTS.md.

    python bench/bench_procfs.py [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from lxfs.tmpfs import TmpFs
from lxfs.vfs.namespace import Namespace
from procfs.source import FdInfo, ProcessInfo, StaticSource, SystemInfo, ThreadInfo, Vma
from procfs.table import ProcFs

PROCESSES = 50
RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- procfs:start -->", "<!-- procfs:end -->"


def build_source() -> StaticSource:
    """50 busybox-sized processes: 2 threads, 24 mappings, 8 descriptors each."""
    source = StaticSource(sysinfo=SystemInfo(cpus=2, uptime=1234.5), caller_pid=1, caller_uid=0)
    for pid in range(1, PROCESSES + 1):
        threads = [ThreadInfo(pid, b"sh", "S", 10, 5, 100), ThreadInfo(pid + 1000, b"worker", "S", 3, 1, 120)]
        proc = ProcessInfo(
            pid=pid, ppid=max(1, pid - 1), comm=b"sh", pgid=pid, sid=1, state="S", cmdline=b"/bin/sh\0-c\0x\0",
            environ=b"PATH=/bin\0HOME=/\0", exe=b"/bin/sh", vm_size=8 << 20, vm_peak=9 << 20, rss_anon=1 << 20,
            rss_file=2 << 20, threads=threads, start_time=100 + pid,
        )  # fmt: skip
        vmas = [Vma(0x400000 + i * 0x10000, 0x400000 + i * 0x10000 + 0x8000, "r-xp", 0, 8, 1, 77, b"/bin/sh")
                for i in range(24)]  # fmt: skip
        fds = [FdInfo(i, b"/dev/pts/0" if i < 3 else b"pipe:[%d]" % (100 + i)) for i in range(8)]
        source.add(proc, vmas, fds)
    return source


def per_file_us(fn: Callable[[], object], count: int, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    source = build_source()
    fs = ProcFs(source)
    pids = source.pids()
    stat_inos = [fs.path_ino(b"%d/stat" % pid) for pid in pids]
    status_inos = [fs.path_ino(b"%d/status" % pid) for pid in pids]
    maps_inos = [fs.path_ino(b"%d/maps" % pid) for pid in pids]

    def read_all(inos: list[int]) -> Callable[[], None]:
        def run() -> None:
            for ino in inos:
                ops = fs.open_file(ino, os.O_RDONLY)
                assert ops is not None
                ops.read(None, 4096, 0)  # type: ignore[arg-type]

        return run

    ns = Namespace(TmpFs(mode=0o755))
    ctx = ns.context()
    ns.mkdirat(ctx, None, b"/proc", 0o555)
    ns.mount(ctx, b"/proc", fs, source=b"proc")
    paths = [b"/proc/%d/stat" % pid for pid in pids]

    def vfs_stat() -> None:
        for path in paths:
            file = ns.openat(ctx, None, path, os.O_RDONLY)
            file.read(4096)
            file.close()

    host_pids = [p for p in os.listdir("/proc") if p.isdigit()][:PROCESSES]

    def host_stat() -> None:
        for pid in host_pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    f.read()
            except OSError:
                pass

    rows = [
        ("stat, ProcFs.open_file + read", per_file_us(read_all(stat_inos), PROCESSES, args.runs)),
        ("status, ProcFs.open_file + read", per_file_us(read_all(status_inos), PROCESSES, args.runs)),
        ("maps (24 VMAs), ProcFs.open_file + read", per_file_us(read_all(maps_inos), PROCESSES, args.runs)),
        ("stat via the VFS: openat + read + close", per_file_us(vfs_stat, PROCESSES, args.runs)),
        ("readdir /proc (50 pids)", per_file_us(lambda: list(fs.readdir(fs.root_ino, 0)), 1, args.runs)),
        ("host kernel: open + read + close /proc/PID/stat", per_file_us(host_stat, len(host_pids), args.runs)),
    ]
    lines = [
        START,
        "## procfs (bench/bench_procfs.py)",
        "",
        f"{PROCESSES} processes (2 threads, 24 VMAs, 8 fds each); median of {args.runs} runs; µs per file.",
        "",
        "| what | µs |",
        "|---|---|",
        *[f"| {name} | {value:.1f} |" for name, value in rows],
        "",
        "Reading /proc/PID/stat for all 50 processes (what `ps` does) costs "
        f"{rows[3][1] * PROCESSES / 1000:.2f} ms through the VFS.",
        END,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if START in old and END in old:
            new = old[: old.index(START)] + text + old[old.index(END) + len(END) :]
        else:
            new = old.rstrip("\n") + "\n\n" + text + "\n"
        RESULTS.write_text(new)


if __name__ == "__main__":
    main()
