"""Which libunicorn the emulator runs on (setup.py, emulator/__init__.py): the patched build from the
install when there is one, else the wheel's; the preemption mode follows the library actually loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import emulator

PATCHED = Path(emulator.__file__).with_name("_unicorn") / "libunicorn.so.2"
PROBE = (
    "import emulator.cpu as c, unicorn.unicorn_py3.unicorn as u; "
    "print(c.PRECISE_STOP, hasattr(u.uclib, 'lxfs_precise_stop'), u.uclib._name)"
)


def probe(env: dict[str, str], first: str = "") -> tuple[str, str, str]:
    out = subprocess.run([sys.executable, "-c", first + PROBE], env=env, capture_output=True, text=True, check=True)
    precise, marker, path = out.stdout.split()
    return precise, marker, path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LXFS_STOCK_UNICORN", "LIBUNICORN_PATH")}
    env.update(extra)
    return env


@pytest.mark.skipif(not PATCHED.exists(), reason="the install did not build the patched Unicorn (no cmake/network)")
def test_patched_library_is_loaded_and_the_timer_stops_the_cpu_itself() -> None:
    precise, marker, path = probe(clean_env())
    assert (precise, marker) == ("True", "True")
    assert Path(path).resolve() == PATCHED.resolve()


def test_stock_switch_loads_the_wheels_library_and_keeps_the_block_hook() -> None:
    precise, marker, path = probe(clean_env(LXFS_STOCK_UNICORN="1"))
    assert (precise, marker) == ("False", "False")
    assert "site-packages" in path or "dist-packages" in path
    assert Path(path).resolve() != PATCHED.resolve()


def test_unicorn_imported_before_emulator_means_the_wheels_library_and_the_block_hook() -> None:
    """Whoever imports unicorn first picks the library; the emulator then must not trust the timer's stops."""
    precise, marker, _ = probe(clean_env(), first="import unicorn; ")
    assert (precise, marker) == ("False", "False")


def test_the_choice_is_not_inherited_by_child_processes() -> None:
    """LXFS_STOCK_UNICORN=1 in a child (lxfs run from a test or a bench) must still pick the wheel's library:
    the parent's loading of the patched one leaves no LIBUNICORN_PATH behind."""
    out = subprocess.run(
        [sys.executable, "-c", "import os, emulator.cpu; print(os.environ.get('LIBUNICORN_PATH'))"],
        env=clean_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "None"
