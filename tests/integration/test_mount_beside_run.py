"""`lxfs mount` of an image while `lxfs run` works in the same image, two processes: each sees the other's
files (close-to-open), both write at once, and the image is fsck-clean afterwards."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from lxfs.images import ensure_default_image
from lxfs.volfs.fsck import check
from tests.fuse.conftest import fuse_usable
from tests.integration.conftest import run_lxfs

_why = fuse_usable()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

N = 200
# The guest writes its files, then waits for the host's and prints what it reads in them.
GUEST = f"""
mkdir -p /tmp/g
i=0
while [ $i -lt {N} ]; do echo "guest $i" > /tmp/g/f$i; i=$((i+1)); done
echo written > /tmp/g/done
n=0
while [ ! -e /tmp/h/done ]; do sleep 0.1; n=$((n+1)); [ $n -gt 900 ] && exit 3; done
cat /tmp/h/f7 /tmp/h/f{N - 1}
ls /tmp/h | wc -l
"""


def test_guest_and_host_write_one_image_at_once(lxfs_home: Path, tmp_path: Path) -> None:
    image = ensure_default_image(notify=lambda _m: None)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = run_lxfs("mount", image, str(mnt))
    assert res.returncode == 0, res.stderr
    guest = subprocess.Popen(
        ["lxfs", "run", "--", "sh", "-c", GUEST],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        host, theirs = mnt / "tmp" / "h", mnt / "tmp" / "g"
        host.mkdir()
        written = 0
        deadline = time.monotonic() + 90
        while written < N or not (theirs / "done").exists():  # all the while the guest writes its own
            (host / f"f{written}").write_text(f"host {written}\n")
            written += 1
            assert time.monotonic() < deadline, "the guest never wrote /tmp/g/done"
        for i in range(N):
            assert (theirs / f"f{i}").read_text() == f"guest {i}\n"
        # the two wrote at once: the host wrote files between the guest's first and last
        first, last = ((theirs / f"f{i}").stat().st_mtime_ns for i in (0, N - 1))
        assert any(first < (host / f"f{i}").stat().st_mtime_ns < last for i in range(written))
        (host / "done").write_text("")
        out, err = guest.communicate(timeout=120)
        assert guest.returncode == 0, err
        assert out.decode().split("\n") == ["host 7", f"host {N - 1}", str(written + 1), ""]
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
        res = run_lxfs("umount", str(mnt))
        assert res.returncode == 0, res.stderr
    assert [str(p) for p in check(image)] == []
    assert sorted(os.listdir(mnt)) == []
