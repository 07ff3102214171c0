"""--strace output in strace's format, compared with lines the real strace prints for the same calls."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from emulator.kernel import Kernel

SOURCE = r"""
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    write(1, "hi\n", 3);
    kill(99999, 0);
    void *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p, 8192);
    struct timespec ts = {0, 1000};
    nanosleep(&ts, NULL);
    return 3;
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("strace")
    (d / "p.c").write_text(SOURCE)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "p"), str(d / "p.c")], check=True)
    return d / "p"


def emulated_trace(program: Path) -> list[str]:
    out = io.StringIO()
    kernel = Kernel(strace=out, stdio=(0, 2, 2))  # the guest's stdout goes to stderr: keep pytest's clean
    kernel.spawn([str(program).encode()])
    assert kernel.run() == 3 << 8
    return out.getvalue().splitlines()


def test_strace_lines_match_strace_format(program: Path) -> None:
    lines = emulated_trace(program)
    assert 'write(1, "hi\\n", 3) = 3' in lines
    assert "kill(99999, 0) = -1 ESRCH (No such process)" in lines
    assert any(line.startswith("mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x")
               for line in lines)  # fmt: skip
    assert "clock_nanosleep(CLOCK_REALTIME, 0, {tv_sec=0, tv_nsec=1000}, NULL) = 0" in lines
    assert lines[-2:] == ["exit_group(3) = ?", "+++ exited with 3 +++"]


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_strace_lines_equal_the_real_strace_modulo_alignment(program: Path) -> None:
    real = subprocess.run(["strace", str(program)], capture_output=True, text=True).stderr.splitlines()
    normalized = {" ".join(line.split()) for line in real}
    mine = {" ".join(line.split()) for line in emulated_trace(program)}
    for call in ("write(1,", "kill(", "clock_nanosleep(", "exit_group("):
        want = [line for line in normalized if line.startswith(call)]
        got = [line for line in mine if line.startswith(call)]
        assert want == got, (want, got)
