"""Long imports and exports show a rich progress bar on a terminal and nothing in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import tarfile
from pathlib import Path

from lxfs.images import init_image
from lxfs.volfs import fsck

CLI = [sys.executable, "-c", "from lxfs.cli import main; main()"]


def run_on_terminal(*args: str | Path) -> tuple[int, bytes]:
    """Run the CLI with stderr on a pseudo-terminal; returns its status and what it drew there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, *map(str, args)], stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    drawn = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(master)
    return proc.wait(timeout=120), drawn


def big_tar(tmp_path: Path) -> Path:
    data = tmp_path / "big"
    data.write_bytes(os.urandom(24 << 20))
    out = tmp_path / "big.tar"
    with tarfile.open(out, "w") as tar:
        tar.add(data, "big")
    return out


def test_import_and_export_draw_a_bar_on_a_terminal(tmp_path: Path) -> None:
    image = tmp_path / "a.lxfs"
    init_image(image)
    status, drawn = run_on_terminal("import", image, big_tar(tmp_path))
    assert status == 0
    assert b"importing big.tar" in drawn and b"MB" in drawn
    status, drawn = run_on_terminal("export", image, tmp_path / "out.tar")
    assert status == 0 and b"exporting a.lxfs" in drawn
    assert fsck.check(image) == []


def test_import_and_export_are_silent_in_a_pipe(tmp_path: Path) -> None:
    image = tmp_path / "a.lxfs"
    init_image(image)
    for args in (["import", image, big_tar(tmp_path)], ["export", image, tmp_path / "out.tar"]):
        out = subprocess.run([*CLI, *map(str, args)], capture_output=True, timeout=120)
        assert (out.returncode, out.stdout, out.stderr) == (0, b"", b"")
    assert fsck.check(image) == []
