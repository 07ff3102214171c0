"""Emulator test harness: C programs from tests/emulator/c/ compiled once per session (cached by source hash in
a temp dir) with gcc -static, musl-gcc -static and gcc (dynamic), then run natively and in the emulator;
stdout and the exit status must match byte for byte."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

C_DIR = Path(__file__).parent / "c"
CACHE = Path(tempfile.gettempdir()) / "lxfs-emulator-tests"
COMPILERS = {
    "glibc": ["gcc", "-static", "-O2", "-pthread"],
    "musl": ["musl-gcc", "-static", "-O2"],
    "dynamic": ["gcc", "-O2", "-pthread"],
}


def compile_program(name: str, flavour: str) -> Path:
    src = C_DIR / f"{name}.c"
    cmd = COMPILERS[flavour]
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} not installed")
    digest = hashlib.sha256(src.read_bytes() + " ".join(cmd).encode()).hexdigest()[:16]
    out = CACHE / f"{name}-{flavour}-{digest}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run([*cmd, "-o", str(tmp), str(src), "-lm"], check=True, capture_output=True)
        tmp.rename(out)
    return out


def run_native(path: Path, args: list[str]) -> tuple[bytes, int]:
    p = subprocess.run([str(path), *args], capture_output=True, timeout=60, env={"LXFS_TEST": "1"})
    status = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return p.stdout, status


def run_emulated(path: Path, args: list[str], extra: list[str] | None = None) -> tuple[bytes, int, bytes]:
    """Run ``python -m emulator`` in a subprocess (so a crash of the guest cannot take pytest down)."""
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "emulator", *(extra or []), str(path), *args]
    p = subprocess.run(cmd, capture_output=True, timeout=300, env={**env, "LXFS_TEST": "1"})
    return p.stdout, p.returncode, p.stderr
