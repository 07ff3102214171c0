"""Differential runs for the file side: a program (compiled by harness.compile_program) runs natively
in a fresh host directory and inside an lxfs image (``lxfs run IMAGE --cwd /work -- /prog``) in a
fresh /work; stdout and exit status must be equal. Dynamic programs get the host's loader and libc
in the image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lxfs.images import import_into, init_image

LXFS = [sys.executable, "-c", "import sys; from lxfs.cli import main; sys.argv[0] = 'lxfs'; main()"]
HOST_LIBS = ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6")


def lxfs(*args: str, timeout: float = 300, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*LXFS, *args], capture_output=True, timeout=timeout, input=stdin, stdin=None if stdin else subprocess.DEVNULL
    )


def make_image(tmp: Path, files: dict[str, Path], dynamic: bool = False) -> Path:
    """An image with the standard layout, /work, and ``files`` (image path -> host file)."""
    image = tmp / "image.lxfs"
    init_image(image)
    tree = tmp / "tree"
    (tree / "work").mkdir(parents=True)
    for dest, src in files.items():
        target = tree / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    if dynamic:
        for lib in HOST_LIBS:
            real = os.path.realpath(lib)
            target = tree / lib.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real, target)
    import_into(image, tree, show_progress=False)
    return image


def run_native(prog: Path, workdir: Path, args: list[str] | None = None, timeout: float = 60) -> tuple[bytes, int]:
    workdir.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(
        [str(prog), *(args or [])], cwd=workdir, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return p.stdout, p.returncode if p.returncode >= 0 else 128 - p.returncode


def run_in_image(
    image: Path, prog: str, args: list[str] | None = None, timeout: float = 300
) -> tuple[bytes, int, bytes]:
    p = lxfs("run", str(image), "--cwd", "/work", "--", prog, *(args or []), timeout=timeout)
    return p.stdout, p.returncode, p.stderr


def first_difference(native: bytes, emulated: bytes) -> str:
    a = native.decode(errors="replace").splitlines()
    b = emulated.decode(errors="replace").splitlines()
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"line {i + 1}:\n  native:   {x}\n  emulated: {y}"
    if len(a) != len(b):
        i = min(len(a), len(b))
        extra = ("native", a) if len(a) > len(b) else ("emulated", b)
        return f"line {i + 1}: only {extra[0]} has: {extra[1][i]!r} ({len(a)} vs {len(b)} lines)"
    return "identical"
