"""Whole programs, native vs emulated: stdout and exit status must be identical."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.emulator.harness import run_emulated, run_native

STATIC = ["glibc", "musl"]


def check(path: Path, args: list[str]) -> None:
    out, status = run_native(path, args)
    eout, estatus, err = run_emulated(path, args)
    assert eout == out, err.decode(errors="replace")[-2000:]
    assert estatus == status, err.decode(errors="replace")[-2000:]


@pytest.mark.parametrize("flavour", STATIC)
def test_hello_static_prints_and_exits_like_native(program: Callable[[str, str], Path], flavour: str) -> None:
    check(program("hello", flavour), ["a", "bc"])
