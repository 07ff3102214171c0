"""Compiling the emulator tests' C programs (tests/emulator/c/) with gcc -static, musl-gcc -static and gcc
(dynamic), cached by source hash in a temp dir so a test session compiles each once."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

C_DIR = Path(__file__).parent / "c"
CACHE = Path(tempfile.gettempdir()) / "lxfs-emulator-tests"
COMPILERS = {
    "glibc": ["gcc", "-static", "-O2", "-pthread"],
    "musl": ["musl-gcc", "-static", "-O2"],
    "dynamic": ["gcc", "-O2", "-pthread"],
    "static-pie": ["gcc", "-static-pie", "-O2", "-pthread"],
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
