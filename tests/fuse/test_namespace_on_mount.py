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


def test_inode_numbers_are_unique_across_the_filesystems_in_the_mount(initialised: Mounted) -> None:
    """The mount is one st_dev; /proc, /dev, /dev/pts and /dev/shm are filesystems of their own whose
    inode numbers start at 1 like the image's. Every file keeps a (st_dev, st_ino) of its own, the image's
    files show the image's inode numbers, and readdir's d_ino agrees with stat's."""
    from lxfs.vfs.namespace import Namespace
    from lxfs.volfs.volfs import VolFs

    mp = initialised.path
    with open(os.path.join(mp, "etc", "f"), "w") as f:
        f.write("x")
    os.link(os.path.join(mp, "etc", "f"), os.path.join(mp, "etc", "f.link"))
    with open(os.path.join(mp, "dev", "shm", "seg"), "w") as f:
        f.write("x")
    owner: dict[tuple[int, int], str] = {}
    for top in ("", "proc", "dev", "dev/pts", "dev/shm", "etc"):
        where = os.path.join(mp, top)
        st = os.stat(where)
        assert owner.setdefault((st.st_dev, st.st_ino), top) == top
        for entry in os.scandir(where):
            path = os.path.join(top, entry.name)
            if path in ("proc", "dev", "dev/pts", "dev/shm", "etc", "etc/f.link"):
                continue  # mount points and etc are walked themselves; a hard link shares its inode
            st = entry.stat(follow_symlinks=False)
            assert owner.setdefault((st.st_dev, st.st_ino), path) == path
            assert entry.inode() == st.st_ino, path
    assert len(owner) > 30
    links = [os.stat(os.path.join(mp, "etc", n)) for n in ("f", "f.link")]
    assert links[0].st_ino == links[1].st_ino and links[0].st_nlink == 2
    for tool in (["find", mp], ["du", "-s", mp]):
        res = subprocess.run(tool, capture_output=True, text=True, check=False)
        assert (res.returncode, res.stderr) == (0, ""), tool
    with VolFs.open(initialised.image, readonly=True) as fs:  # the image's numbers, as the guest sees them
        ns = Namespace(fs)
        ctx = ns.context()
        for name in ("", "etc", "etc/f", "bin", "tmp"):
            assert os.lstat(os.path.join(mp, name)).st_ino == ns.fstatat(ctx, None, b"/" + name.encode()).st_ino
        ctx.release()
