"""Differential C programs for the file side (tests/emulator/c/fs_*.c): each runs natively in a fresh
host directory and inside an lxfs image in a fresh /work; stdout and exit status must be identical.
Static glibc and musl builds, and one dynamic glibc build (the image gets the host's loader and libc)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulator.fs_harness import first_difference, make_image, run_in_image, run_native
from tests.emulator.harness import compile_program

PROGRAMS = ["fs_open", "fs_dirs", "fs_io", "fs_pipe", "fs_mmap", "fs_unix", "fs_poll", "fs_perm"]
FLAVOURS = [
    "glibc",
    "musl",
    pytest.param("dynamic", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_program_matches_native(name: str, flavour: str, tmp_path: Path) -> None:
    prog = compile_program(name, flavour)
    native_out, native_status = run_native(prog, tmp_path / "native")
    image = make_image(tmp_path, {"/prog": prog}, dynamic=flavour == "dynamic")
    out, status, err = run_in_image(image, "/prog")
    assert out == native_out, (
        f"{name} ({flavour}) differs at {first_difference(native_out, out)}\n{err.decode()[-3000:]}"
    )
    assert status == native_status, err.decode()[-3000:]
