"""What the mount shows besides stored files: /proc of the namespace, and programs run from it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from .conftest import Mounted, fsck_problems, lxfs


@pytest.fixture
def initialised() -> Iterator[Mounted]:
    base = tempfile.mkdtemp(prefix="lxfs-init-")
    os.chmod(base, 0o755)
    image, mp = os.path.join(base, "img"), os.path.join(base, "mnt")
    os.mkdir(mp)
    lxfs("init", image)
    lxfs("mount", image, mp)
    try:
        yield Mounted(image, mp)
    finally:
        lxfs("umount", mp, check=False)
        problems = fsck_problems(image)
        shutil.rmtree(base, ignore_errors=True)
        assert problems == []


def test_proc_files_read_through_the_mount(initialised: Mounted) -> None:
    proc = os.path.join(initialised.path, "proc")
    assert {"meminfo", "cpuinfo"} <= set(os.listdir(proc))  # procfs is mounted there, not a stored dir
    with open(os.path.join(proc, "meminfo")) as f:
        assert f.read().startswith("MemTotal:")  # size 0 in stat, yet read fully (direct I/O)
    with open(os.path.join(proc, "cpuinfo")) as f:
        assert "processor" in f.read()


def test_execute_only_program_runs_for_another_user(mounted: Mounted) -> None:
    prog = os.path.join(mounted.path, "true711")
    shutil.copy("/bin/true", prog)
    os.chmod(prog, 0o711)
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", prog], check=False)
    assert res.returncode == 0
    denied = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat", prog], capture_output=True, check=False
    )
    assert denied.returncode != 0 and b"Permission denied" in denied.stderr


def test_dev_nodes_and_dev_shm_through_the_mount(initialised: Mounted) -> None:
    dev = os.path.join(initialised.path, "dev")
    st = os.lstat(os.path.join(dev, "null"))
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    assert os.readlink(os.path.join(dev, "fd")) == "/proc/self/fd"
    shm = os.path.join(dev, "shm", "segment")
    with open(shm, "w") as f:
        f.write("shared")
    with open(shm) as f:
        assert f.read() == "shared"
    # host device nodes on a FUSE mount are never opened (nodev): the host's kernel refuses
    with pytest.raises(PermissionError):
        os.open(os.path.join(dev, "null"), os.O_RDONLY)
