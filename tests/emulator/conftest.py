"""Fixtures of the emulator tests (see harness.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.emulator.harness import compile_program


@pytest.fixture(scope="session")
def program() -> Callable[[str, str], Path]:
    return compile_program
