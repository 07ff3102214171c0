"""Integration fixtures: a private default image (``$LXFS_HOME``, made from the host's busybox-static as
`lxfs run` makes it on first use) and a helper that runs the ``lxfs`` command with it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lxfs.images import ensure_default_image
from lxfs.images.layout import BUSYBOX
from lxfs.volfs.fsck import check


@pytest.fixture(scope="module")
def lxfs_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$LXFS_HOME holding a fresh default image; fsck finds nothing in it afterwards."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    home = tmp_path_factory.mktemp("lxfs_home")
    old = os.environ.get("LXFS_HOME")
    os.environ["LXFS_HOME"] = str(home)
    try:
        image = ensure_default_image(notify=lambda _m: None)
        yield home
        assert [str(p) for p in check(image)] == []
    finally:
        if old is None:
            del os.environ["LXFS_HOME"]
        else:
            os.environ["LXFS_HOME"] = old


def run_lxfs(*args: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[bytes]:
    """``lxfs ARGS`` with the environment of the test (so $LXFS_HOME), output captured."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(["lxfs", *args], capture_output=True, timeout=timeout, **kw)  # type: ignore[call-overload]
