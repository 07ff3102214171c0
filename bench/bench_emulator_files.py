"""Emulator benchmarks of the file side: a file-I/O program (sequential write + fsync + read back, then
create/stat/unlink of small files) natively on the host's /tmp, under qemu-x86_64, and inside an lxfs
image; and a busybox shell loop that forks/execs an applet per iteration (native chroot vs lxfs).
The getpid/compute/fork parts are in bench_emulator.py.

    python bench/bench_emulator_files.py [--runs 3] [--write]   # --write updates bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FILEIO = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long mib = atol(argv[1]), files = atol(argv[2]);
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    int fd = open("big", O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (long i = 0; i < mib * 16; i++) if (write(fd, buf, sizeof buf) != sizeof buf) return 1;
    fsync(fd);
    lseek(fd, 0, SEEK_SET);
    long total = 0, n;
    while ((n = read(fd, buf, sizeof buf)) > 0) total += n;
    close(fd);
    unlink("big");
    char name[64];
    struct stat st;
    for (long i = 0; i < files; i++) {
        snprintf(name, sizeof name, "f%ld", i);
        int f = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        write(f, name, 4);
        close(f);
        stat(name, &st);
        unlink(name);
    }
    printf("%ld\n", total);
    return 0;
}
"""

LOOP = "i=0; while [ $i -lt {n} ]; do echo $i > /tmp/loop; cat /tmp/loop > /dev/null; i=$((i+1)); done; echo $i"
LXFS = [sys.executable, "-c", "import sys; from lxfs.cli import main; sys.argv[0] = 'lxfs'; main()"]


def timed(cmd: list[str], **kw: object) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def write_section(text: str) -> None:
    results = Path(__file__).with_name("RESULTS.md")
    start, end = "<!-- emulator-files:start -->", "<!-- emulator-files:end -->"
    body = results.read_text() if results.exists() else "# Benchmark results\n"
    block = f"{start}\n{text}\n{end}"
    if start in body and end in body:
        body = body[: body.index(start)] + block + body[body.index(end) + len(end) :]
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    results.write_text(body)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--loops", type=int, default=200)
    ap.add_argument("--write", action="store_true", help="update this section of bench/RESULTS.md")
    args = ap.parse_args()

    from lxfs.images import import_into, init_image
    from lxfs.images.layout import BUSYBOX, busybox_applets

    tmp = Path(tempfile.mkdtemp(prefix="bench-emu-files-"))
    try:
        src = tmp / "fileio.c"
        src.write_text(FILEIO)
        prog = tmp / "fileio"
        subprocess.run(["gcc", "-static", "-O2", "-o", str(prog), str(src)], check=True)
        tree = tmp / "tree"
        (tree / "bin").mkdir(parents=True)
        for d in ("work", "tmp", "dev", "proc"):
            (tree / d).mkdir()
        shutil.copy2(prog, tree / "fileio")
        shutil.copy2(os.path.realpath(BUSYBOX), tree / "bin" / "busybox")
        for applet in busybox_applets(BUSYBOX):
            link = tree / os.fsdecode(applet)
            if b"/" in applet and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink("/bin/busybox", link)
        image = tmp / "bench.lxfs"
        init_image(image)
        import_into(image, tree, show_progress=False)
        os.mknod(tree / "dev" / "null", 0o20666, os.makedev(1, 3))
        work = tmp / "native-work"
        work.mkdir()
        fio = [str(args.mib), str(args.files)]
        rows = []
        nat = median([timed([str(prog), *fio], cwd=work) for _ in range(args.runs)])
        qemu = shutil.which("qemu-x86_64")
        qem = median([timed([qemu, str(prog), *fio], cwd=work) for _ in range(args.runs)]) if qemu else float("nan")
        lx = median(
            [timed([*LXFS, "run", str(image), "--cwd", "/work", "--", "/fileio", *fio]) for _ in range(args.runs)]
        )
        rows.append((f"file I/O ({args.mib} MiB write+fsync+read, {args.files} create/stat/unlink)", nat, qem, lx))
        loop = LOOP.format(n=args.loops)
        nat = median([timed(["chroot", str(tree), "/bin/sh", "-c", loop]) for _ in range(args.runs)])
        lx = median([timed([*LXFS, "run", str(image), "--", "/bin/sh", "-c", loop]) for _ in range(args.runs)])
        rows.append((f"busybox sh loop ({args.loops} x echo > file; cat file)", nat, float("nan"), lx))
        startup = median([timed([*LXFS, "run", str(image), "--", "/bin/true"]) for _ in range(args.runs)])
        lines = [
            "## Emulator: files and busybox (bench/bench_emulator_files.py)",
            "",
            f"Medians of {args.runs} runs, wall-clock seconds including `lxfs run` startup; the machine is shared,",
            "so absolute figures are noisy.",
            "",
            "| workload | native s | qemu-x86_64 s | lxfs s | lxfs / native |",
            "|---|---|---|---|---|",
        ]
        for name, n, q, x in rows:
            qs = "n/a" if q != q else f"{q:.2f}"
            lines.append(f"| {name} | {n:.2f} | {qs} | {x:.2f} | {x / n:.0f}x |")
        lines += ["", f"`lxfs run` of /bin/true (startup: Python imports, image open, mounts): {startup:.2f} s"]
        text = "\n".join(lines)
        print(text)
        if args.write:
            write_section(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
