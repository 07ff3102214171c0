"""``lxfs run`` and ``lxfs syscalls``: exit statuses (128+signal), --user/--cwd/--env, --strace lines in
strace's format, clear one-line errors for a missing program, a malformed ELF and a bad image."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lxfs.images import import_into, init_image
from lxfs.images.layout import BUSYBOX
from tests.emulator.fs_harness import lxfs


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    base = tmp_path_factory.mktemp("runcli")
    tree = base / "tree"
    (tree / "bin").mkdir(parents=True)
    shutil.copy2(os.path.realpath(BUSYBOX), tree / "bin" / "busybox")
    os.symlink("busybox", tree / "bin" / "sh")
    (tree / "bin" / "garbage").write_bytes(b"this is not an ELF file\n")
    # a 32-bit ELF header: a foreign binary
    (tree / "bin" / "elf32").write_bytes(b"\x7fELF\x01\x01\x01" + bytes(9) + b"\x02\x00\x03\x00" + bytes(60))
    (tree / "bin" / "script").write_text('#!/bin/sh\necho from script "$@"\nexit 3\n')
    (tree / "data").mkdir()
    (tree / "data" / "readonly").write_text("ro\n")
    for name in ("garbage", "elf32", "script"):
        os.chmod(tree / "bin" / name, 0o755)
    path = base / "run.lxfs"
    init_image(path)
    import_into(path, tree, show_progress=False)
    return path


def test_exit_status_is_the_guests(image: Path) -> None:
    p = lxfs("run", str(image), "--", "/bin/sh", "-c", "echo out; exit 42")
    assert p.returncode == 42
    assert p.stdout == b"out\n"


def test_death_by_signal_is_128_plus_signal(image: Path) -> None:
    assert lxfs("run", str(image), "--", "/bin/sh", "-c", "kill -9 $$").returncode == 137
    assert lxfs("run", str(image), "--", "/bin/sh", "-c", "kill -TERM $$").returncode == 143


def test_missing_program_is_127_with_message(image: Path) -> None:
    p = lxfs("run", str(image), "--", "nosuchprogram", "arg")
    assert p.returncode == 127
    assert p.stderr.strip().endswith(b"lxfs run: nosuchprogram: No such file or directory")
    assert b"Traceback" not in p.stderr


def test_malformed_and_foreign_elf_are_clear_errors(image: Path) -> None:
    for prog in ("/bin/garbage", "/bin/elf32"):
        p = lxfs("run", str(image), "--", prog)
        assert p.returncode == 126, p.stderr
        assert p.stderr.startswith(b"lxfs run: " + prog.encode() + b": "), p.stderr
        assert b"Traceback" not in p.stderr


def test_script_with_shebang_and_arguments(image: Path) -> None:
    p = lxfs("run", str(image), "--", "/bin/script", "a", "b")
    assert (p.stdout, p.returncode) == (b"from script a b\n", 3)


def test_user_cwd_and_env(image: Path) -> None:
    p = lxfs(
        "run", str(image), "--user", "1000:100", "--cwd", "/data", "--env", "FOO=bar", "--env", "HOME=/nowhere",
        "--", "/bin/sh", "-c", "id -u; id -g; pwd; echo $FOO $HOME; echo x > readonly || echo denied",
    )  # fmt: skip
    assert p.stdout.splitlines()[:5] == [b"1000", b"100", b"/data", b"bar /nowhere", b"denied"], p.stderr
    assert p.returncode == 0


def test_bad_options_and_images_are_one_line_errors(image: Path, tmp_path: Path) -> None:
    p = lxfs("run", str(image), "--user", "root", "--", "/bin/sh", "-c", "true")
    assert p.returncode == 2 and b"--user root" in p.stderr and b"Traceback" not in p.stderr
    p = lxfs("run", str(tmp_path / "missing.lxfs"), "--", "/bin/sh")
    assert p.returncode == 1 and b"no such image" in p.stderr and b"Traceback" not in p.stderr
    p = lxfs("run", str(image), "--cwd", "/nonexistent", "--", "/bin/sh", "-c", "true")
    assert p.returncode == 1 and p.stderr.strip().endswith(b"lxfs run: --cwd /nonexistent: No such file or directory")


def test_strace_prints_syscalls_in_strace_format(image: Path) -> None:
    p = lxfs("run", str(image), "--strace", "--", "/bin/sh", "-c", "cat /data/readonly /nonexistent")
    err = p.stderr.decode()
    assert p.stdout == b"ro\n"
    assert 'openat(AT_FDCWD, "/data/readonly", O_RDONLY' in err
    assert 'openat(AT_FDCWD, "/nonexistent", O_RDONLY' in err and "= -1 ENOENT (No such file or directory)" in err
    assert "exit_group(1)" in err


def test_syscalls_lists_the_table() -> None:
    p = lxfs("syscalls")
    assert p.returncode == 0
    lines = p.stdout.decode().splitlines()
    by_name = {line.split()[1]: line.split()[2] for line in lines[:-1]}
    assert by_name["openat"] == "yes" and by_name["getdents64"] == "yes" and by_name["epoll_wait"] == "yes"
    assert by_name["io_uring_setup"] == "ENOSYS"
    assert lines[-1].endswith("implemented")


def test_guest_waits_for_slow_host_stdin(image: Path) -> None:
    """Reads of the host's stdin park the guest until the host pipe has data (the kernel's selector)."""
    import subprocess

    from tests.emulator.fs_harness import LXFS

    p = subprocess.Popen(
        [*LXFS, "run", str(image), "--", "/bin/sh", "-c", "read a; echo got $a; busybox tr a-z A-Z"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdin is not None
    import time

    time.sleep(1.0)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    time.sleep(0.5)
    out, err = p.communicate(b"more text\n", timeout=120)
    assert out == b"got first\nMORE TEXT\n", err
    assert p.returncode == 0
