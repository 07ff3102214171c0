"""In-process tests of the Kernel (host-stdio mode, no VFS): dispatch, the oops path, ELF errors."""

from __future__ import annotations

import errno
import io
import subprocess
from pathlib import Path

import pytest

from emulator.kernel import Kernel
from emulator.loader import ExecError
from emulator.syscalls.table import NUMBERS, make_entry

GETPID = r"""
#include <sys/syscall.h>
#include <unistd.h>
int main(void) { return syscall(SYS_getpid) == 1 ? 0 : 1; }
"""


@pytest.fixture(scope="module")
def getpid_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("k")
    (d / "p.c").write_text(GETPID)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "p"), str(d / "p.c")], check=True)
    return d / "p"


def test_first_process_is_pid_1_and_its_status_is_returned(getpid_program: Path) -> None:
    k = Kernel()
    k.spawn([str(getpid_program).encode()])
    assert k.run() == 0


def test_a_handler_bug_kills_only_the_caller_with_sigsys(getpid_program: Path) -> None:
    def broken(task: object) -> int:
        raise RuntimeError("bug")

    k = Kernel()
    k.messages = io.StringIO()
    k.table[NUMBERS["getpid"]] = make_entry("getpid", broken)
    k.spawn([str(getpid_program).encode()])
    assert k.run() == 31  # killed by SIGSYS
    assert "internal error in getpid()" in k.messages.getvalue()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x7fELF\x01\x01\x01" + b"\0" * 57, "32-bit"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00\xb7\x00" + b"\0" * 44, "machine 183"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 20, "not an ELF"),
        (b"plain text", "not an ELF"),
    ],
)
def test_foreign_or_broken_elf_is_enoexec_with_a_message(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "prog"
    p.write_bytes(content)
    p.chmod(0o755)
    with pytest.raises(ExecError) as info:
        Kernel().spawn([str(p).encode()])
    assert info.value.errno == errno.ENOEXEC
    assert reason in str(info.value.strerror)
