"""The VFS's own cost (path walk, open/close, create+unlink, getdents) on TmpFs, beside the host
kernel on /dev/shm in the same run; VolFs adds its storage cost on top (bench_volfs.py).

    python bench/bench_vfs.py [--runs 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lxfs.tmpfs import TmpFs
from lxfs.vfs.namespace import Namespace

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- vfs:start -->", "<!-- vfs:end -->"
N = 20000


def rate(fn: Callable[[int], None], n: int) -> float:
    t = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t)


def measure() -> dict[str, tuple[float, float]]:
    ns = Namespace(TmpFs())
    ctx = ns.context()
    host = tempfile.mkdtemp(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None).encode()
    deep = b"/a/b/c/d/e/f/g/h"
    for i in range(1, len(deep.split(b"/"))):
        part = b"/".join(deep.split(b"/")[: i + 1])
        ns.mkdirat(ctx, None, part, 0o755)
        os.mkdir(host + part)
    ns.openat(ctx, None, deep + b"/file", os.O_CREAT | os.O_WRONLY, 0o644).close()
    os.close(os.open(host + deep + b"/file", os.O_CREAT | os.O_WRONLY, 0o644))
    for i in range(500):
        ns.openat(ctx, None, b"/a/%d" % i, os.O_CREAT | os.O_WRONLY, 0o644).close()
        os.close(os.open(host + b"/a/%d" % i, os.O_CREAT | os.O_WRONLY, 0o644))
    out: dict[str, tuple[float, float]] = {}

    def pair(name: str, lx: Callable[[int], None], hx: Callable[[int], None], n: int = N) -> None:
        out[name] = (rate(lx, n), rate(hx, n))

    pair(
        "stat, 1 component /s",
        lambda n: [ns.fstatat(ctx, None, b"/a") for _ in range(n)] and None,
        lambda n: [os.stat(host + b"/a") for _ in range(n)] and None,
    )
    pair(
        "stat, 9 components /s",
        lambda n: [ns.fstatat(ctx, None, deep + b"/file") for _ in range(n)] and None,
        lambda n: [os.stat(host + deep + b"/file") for _ in range(n)] and None,
    )
    pair(
        "open+close /s",
        lambda n: [ns.openat(ctx, None, deep + b"/file", os.O_RDONLY).close() for _ in range(n)] and None,
        lambda n: [os.close(os.open(host + deep + b"/file", os.O_RDONLY)) for _ in range(n)] and None,
    )

    def lx_cu(n: int) -> None:
        for i in range(n):
            ns.openat(ctx, None, b"/t%d" % i, os.O_CREAT | os.O_WRONLY, 0o644).close()
            ns.unlinkat(ctx, None, b"/t%d" % i, 0)

    def host_cu(n: int) -> None:
        for i in range(n):
            p = host + b"/t%d" % i
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
            os.unlink(p)

    pair("create+close+unlink /s", lx_cu, host_cu, N // 4)

    def lx_ls(n: int) -> None:
        for _ in range(n):
            d = ns.openat(ctx, None, b"/a", os.O_RDONLY | os.O_DIRECTORY)
            while d.getdents(32768):
                pass
            d.close()

    pair("getdents of 500 entries /s", lx_ls, lambda n: [os.listdir(host + b"/a") for _ in range(n)] and None, 200)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    runs = [measure() for _ in range(args.runs)]
    lines = [
        START,
        "## VFS (bench/bench_vfs.py)",
        "",
        f"TmpFs through the VFS API vs the host kernel on /dev/shm; median of {args.runs} runs.",
        "",
        "| what | lxfs VFS | host | host/lxfs |",
        "|---|---|---|---|",
    ]
    for key in runs[0]:
        lx = statistics.median(r[key][0] for r in runs)
        hx = statistics.median(r[key][1] for r in runs)
        lines.append(f"| {key} | {lx:,.0f} | {hx:,.0f} | {hx / lx:.1f}x |")
    lines.append(END)
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if START in text and END in text:
            text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
