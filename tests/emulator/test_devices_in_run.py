"""Devices as programs in ``lxfs run`` see them, against the same program run natively: the memory
devices' positions (lseek always 0, reads and writes never move f_pos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulator.fs_harness import first_difference, make_image, run_in_image, run_native
from tests.emulator.harness import compile_program


@pytest.mark.parametrize("flavour", ["glibc", "musl"])
def test_memory_device_positions_match_native(flavour: str, tmp_path: Path) -> None:
    prog = compile_program("dev_pos", flavour)
    native_out, native_status = run_native(prog, tmp_path / "native")
    image = make_image(tmp_path, {"/prog": prog})
    out, status, err = run_in_image(image, "/prog")
    assert out == native_out, f"differs at {first_difference(native_out, out)}\n{err.decode()[-3000:]}"
    assert status == native_status == 0, err.decode()[-3000:]
