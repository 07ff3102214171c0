"""``lxfs run --mount``: the running system's own namespace on the host. From the host, /proc lists the
guest's processes, their maps and cmdline are what the guest sees for itself, files cross in both
directions while the guest runs, and the mount is gone when the run ends."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lxfs.fuse import mounted_source
from tests.fuse.conftest import fuse_usable
from tests.integration.conftest import run_lxfs

_why = fuse_usable()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")

# The guest shell prints its own /proc/self/maps (read by the shell itself, so "self" is pid 1), says
# which file the host should write, waits for it, echoes it and leaves a file behind.
GUEST = r"""
while IFS= read -r line; do echo "$line"; done < /proc/self/maps
echo "== $$"
echo from-guest > /tmp/guest-wrote
sleep 2
while [ ! -e /tmp/host-wrote ]; do sleep 0.2; done
cat /tmp/host-wrote
"""


def _wait_for(cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _mounted(path: Path) -> bool:
    return mounted_source(str(path)) is not None


def _kill(proc: subprocess.Popen[bytes], mnt: Path) -> None:
    """After a failure: no lxfs left running and no stale mount left behind."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if _mounted(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)


def test_running_guest_is_visible_through_the_mount(lxfs_home: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen(
        ["lxfs", "run", "--mount", str(mnt), "--", "sh", "-c", GUEST],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # made (O_CREAT|O_TRUNC) before it is written, as on any file system: wait for the whole line, which
        # also shows once the attributes the host saw at creation (size 0) have timed out
        wrote = mnt / "tmp" / "guest-wrote"
        _wait_for(lambda: wrote.exists() and wrote.read_bytes() == b"from-guest\n", "the guest's file on the host")
        assert _mounted(mnt)
        # pid 1 is the shell, sleeping in wait4 for its `sleep 2` child
        _wait_for(lambda: len([n for n in os.listdir(mnt / "proc") if n.isdigit()]) >= 2, "the sleep child")
        pids = sorted(int(n) for n in os.listdir(mnt / "proc") if n.isdigit())
        assert pids[0] == 1
        assert (mnt / "proc" / "1" / "cmdline").read_bytes() == b"sh\0-c\0" + GUEST.encode() + b"\0"
        child = pids[1]
        assert (mnt / "proc" / str(child) / "cmdline").read_bytes() == b"sleep\0" + b"2\0"

        def child_stat() -> list[bytes]:
            return (mnt / "proc" / str(child) / "stat").read_bytes().rsplit(b") ", 1)[1].split()

        # once it reaches nanosleep (it may still be starting up, R, right after its exec)
        _wait_for(lambda: child_stat()[0] == b"S", "the child asleep")
        assert int(child_stat()[1]) == 1  # parent is the shell
        host_maps = (mnt / "proc" / "1" / "maps").read_bytes()
        assert (mnt / "proc" / "1" / "exe").is_symlink()
        # /proc/self from a host process names no guest process
        assert not (mnt / "proc" / "self" / "maps").exists()
        (mnt / "tmp" / "host-wrote").write_bytes(b"from-host\n")
        out, err = proc.communicate(timeout=60)
    finally:
        _kill(proc, mnt)
    assert proc.returncode == 0, err
    guest_maps, _, tail = out.partition(b"== ")
    assert tail == b"1\nfrom-host\n"
    # the same lines (read -r keeps the padding between the fields and the path)
    assert guest_maps == host_maps
    assert b"[stack]" in host_maps
    assert not _mounted(mnt)
    assert os.listdir(mnt) == []


def test_cpu_bound_guest_still_answers_the_host(lxfs_home: Path, tmp_path: Path) -> None:
    """The scheduler lets FUSE requests in between slices, not only when every guest sleeps."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    spin = "echo go > /tmp/started; i=0; while [ ! -e /tmp/stop ]; do i=$((i+1)); done; echo $i > /tmp/count"
    proc = subprocess.Popen(
        ["lxfs", "run", "--mount", str(mnt), "--", "sh", "-c", spin],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: (mnt / "tmp" / "started").exists(), "the spinning guest")
        t0 = time.monotonic()
        for _ in range(20):
            assert (mnt / "proc" / "1" / "stat").read_bytes().startswith(b"1 (sh) ")
            assert b"MemTotal:" in (mnt / "proc" / "meminfo").read_bytes()
        elapsed = time.monotonic() - t0
        (mnt / "tmp" / "stop").write_bytes(b"")
        _out, err = proc.communicate(timeout=60)
    finally:
        _kill(proc, mnt)
    assert proc.returncode == 0, err
    assert elapsed < 20, f"40 reads from the host took {elapsed:.1f} s"


def test_unusable_mountpoint_is_a_one_line_error(lxfs_home: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    p = run_lxfs("run", "--mount", str(tmp_path), "--", "true")
    assert p.returncode == 1
    assert p.stderr == f"lxfs run: --mount {tmp_path}: not empty (mounting would hide its files)\n".encode()
    p = run_lxfs("run", "--mount", str(tmp_path / "nosuch"), "--", "true")
    assert p.returncode == 1
    assert b"no such directory" in p.stderr and b"Traceback" not in p.stderr


def test_mount_goes_away_while_a_host_process_still_uses_it(lxfs_home: Path, tmp_path: Path) -> None:
    """The run ends on its guest's exit, not on the host: a host process with its cwd and an open file in
    the mount does not keep lxfs (or the mount) alive."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.Popen(
        ["lxfs", "run", "--mount", str(mnt), "--", "sh", "-c", "echo > /tmp/started; sleep 1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    holder = None
    try:
        _wait_for(lambda: (mnt / "tmp" / "started").exists(), "the guest")
        holder = subprocess.Popen(
            ["sh", "-c", "exec 7<maps; sleep 30"], cwd=mnt / "proc" / "1", stdin=subprocess.DEVNULL
        )
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert not _mounted(mnt)
        assert holder.poll() is None  # still running, its cwd now a detached directory
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
        _kill(proc, mnt)
    assert os.listdir(mnt) == []
