"""/proc and /dev mounted in a VFS Namespace and used through it, as the emulator and FUSE will:
opens of device nodes go through the registry, /proc/self follows the source's caller, /proc/PID/fd
and mounts come from the Namespace itself."""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devfs import termbits as TB
from devfs.mount import mount_dev
from devfs.pty import PtyMaster
from devfs.registry import Devices
from lxfs.tmpfs import TmpFs
from lxfs.vfs.creds import Credentials, FsContext
from lxfs.vfs.errors import FsError
from lxfs.vfs.file import FdTable
from lxfs.vfs.namespace import Namespace
from procfs.mount import fd_infos, mount_proc, mount_table
from procfs.source import FdInfo, MountInfo, ProcessInfo, StaticSource
from tests.devfs.guestmem import Mem


class LiveSource(StaticSource):
    """StaticSource whose mounts and descriptors are the Namespace's and an FdTable's."""

    ns: Namespace
    fdtable: FdTable

    def mounts(self, pid: int) -> list[MountInfo]:
        return mount_table(self.ns)

    def fds(self, pid: int) -> list[FdInfo]:
        return fd_infos(self.ns, self.fdtable) if pid == 1 else []


@dataclass
class System:
    ns: Namespace
    ctx: FsContext
    devices: Devices
    source: LiveSource
    fdtable: FdTable


@pytest.fixture
def system() -> Iterator[System]:
    devices = Devices()
    ns = Namespace(TmpFs(mode=0o755), devices=devices)
    ctx = ns.context()
    for path in (b"/proc", b"/dev", b"/tmp"):
        ns.mkdirat(ctx, None, path, 0o755)
    source = LiveSource(caller_pid=1)
    source.ns = ns
    source.fdtable = FdTable()
    source.add(ProcessInfo(pid=1, ppid=0, comm=b"init", exe=b"/sbin/init"))
    mount_proc(ns, ctx, source)
    mount_dev(ns, ctx, devices)
    yield System(ns, ctx, devices, source, source.fdtable)
    source.fdtable.close_all()


def _read(system: System, path: bytes, size: int = 65536) -> bytes:
    file = system.ns.openat(system.ctx, None, path, os.O_RDONLY)
    try:
        return file.read(size)
    finally:
        file.close()


def test_dev_null_and_zero_through_the_vfs(system: System) -> None:
    null = system.ns.openat(system.ctx, None, b"/dev/null", os.O_RDWR)
    assert null.write(b"gone") == 4 and null.read(10) == b""
    null.close()
    assert _read(system, b"/dev/zero", 5) == bytes(5)
    full = system.ns.openat(system.ctx, None, b"/dev/full", os.O_WRONLY)
    with pytest.raises(FsError) as e:
        full.write(b"x")
    assert e.value.errno == errno.ENOSPC
    full.close()


def test_mknod_in_another_filesystem_opens_the_same_device(system: System) -> None:
    system.ns.mknodat(system.ctx, None, b"/tmp/mynull", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    file = system.ns.openat(system.ctx, None, b"/tmp/mynull", os.O_RDWR)
    assert file.write(b"abc") == 3 and file.read(3) == b""
    file.close()


def test_ptmx_and_pts_through_the_vfs(system: System) -> None:
    ns, ctx = system.ns, system.ctx
    master_file = ns.openat(ctx, None, b"/dev/ptmx", os.O_RDWR)
    master = master_file.ops
    assert isinstance(master, PtyMaster)
    mem = Mem({0x10: bytes(8)})
    mem.write(0x10, struct.pack("<i", 0))
    master.ioctl(master_file, TB.TIOCSPTLCK, 0x10, mem)
    master.ioctl(master_file, TB.TIOCGPTN, 0x10, mem)
    index = struct.unpack("<I", mem.read(0x10, 4))[0]
    st = ns.fstatat(ctx, None, b"/dev/pts/%d" % index)
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 136
    slave = ns.openat(ctx, None, b"/dev/pts/%d" % index, os.O_RDWR | os.O_NOCTTY)
    master_file.write(b"echo hi\r")
    assert slave.read(100) == b"echo hi\n"
    assert master_file.read(100) == b"echo hi\r\n"
    slave.write(b"hi\n")
    assert master_file.read(100) == b"hi\r\n"
    slave.close()
    master_file.close()
    with pytest.raises(FsError) as e:
        ns.fstatat(ctx, None, b"/dev/pts/%d" % index)
    assert e.value.errno == errno.ENOENT


def test_proc_self_and_symlinks_through_the_vfs(system: System) -> None:
    ns, ctx = system.ns, system.ctx
    assert _read(system, b"/proc/self/comm") == b"init\n"
    assert ns.readlinkat(ctx, None, b"/proc/self") == b"1"
    assert ns.readlinkat(ctx, None, b"/dev/stdin") == b"/proc/self/fd/0"
    assert _read(system, b"/proc/1/stat").startswith(b"1 (init) S 0 ")


def test_proc_fd_and_mounts_come_from_the_namespace(system: System) -> None:
    ns, ctx = system.ns, system.ctx
    file = ns.openat(ctx, None, b"/dev/null", os.O_WRONLY)
    system.fdtable.install(file, cloexec=True, minfd=3)
    assert ns.readlinkat(ctx, None, b"/proc/self/fd/3") == b"/dev/null"
    info = _read(system, b"/proc/self/fdinfo/3")
    flags = int(info.split(b"flags:\t")[1].split(b"\n")[0], 8)
    assert flags & os.O_CLOEXEC and flags & os.O_ACCMODE == os.O_WRONLY
    mounts = _read(system, b"/proc/mounts").decode().splitlines()
    assert mounts[1:] == [
        "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
        "devtmpfs /dev devtmpfs rw,nosuid,relatime,mode=755 0 0",
        "devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0",
        "tmpfs /dev/shm tmpfs rw,nosuid,nodev,relatime 0 0",
    ]
    mountinfo = _read(system, b"/proc/self/mountinfo").decode().splitlines()
    assert mountinfo[1].split(" - ")[1] == "proc proc rw"


def test_dev_shm_is_a_writable_tmpfs(system: System) -> None:
    ns, ctx = system.ns, system.ctx
    file = ns.openat(ctx, None, b"/dev/shm/seg", os.O_CREAT | os.O_RDWR, 0o600)
    file.write(b"shared")
    file.close()
    assert _read(system, b"/dev/shm/seg") == b"shared"
    assert stat.S_IMODE(ns.fstatat(ctx, None, b"/dev/shm").st_mode) == 0o1777


def test_ls_of_dev_and_proc_pid_dir(system: System) -> None:
    dev = system.ns.openat(system.ctx, None, b"/dev", os.O_RDONLY | os.O_DIRECTORY)
    names = {e.name for e in dev.getdents(65536)}
    dev.close()
    assert {b"null", b"zero", b"tty", b"ptmx", b"pts", b"shm", b"fd", b"stdin"} <= names
    pid = system.ns.openat(system.ctx, None, b"/proc/1", os.O_RDONLY | os.O_DIRECTORY)
    entries = {e.name for e in pid.getdents(65536)}
    pid.close()
    assert {b"stat", b"status", b"fd", b"task", b"maps", b"cmdline"} <= entries


def test_shell_redirection_into_comm_and_environ_permissions(system: System) -> None:
    ns, ctx = system.ns, system.ctx
    # `echo worker > /proc/self/comm`: O_WRONLY|O_CREAT|O_TRUNC, then write (the newline is kept)
    file = ns.openat(ctx, None, b"/proc/self/comm", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    file.write(b"worker\n")
    file.close()
    assert _read(system, b"/proc/1/comm") == b"worker\n\n"
    user = ns.context(Credentials.user(1000, 1000))
    with pytest.raises(FsError) as e:
        ns.openat(user, None, b"/proc/1/environ", os.O_RDONLY)
    assert e.value.errno == errno.EACCES
    with pytest.raises(FsError) as e:
        ns.openat(user, None, b"/proc/1/stat", os.O_WRONLY)
    assert e.value.errno == errno.EACCES
    with pytest.raises(FsError) as e:
        ns.mkdirat(ctx, None, b"/proc/newdir", 0o755)
    assert e.value.errno == errno.ENOENT


def test_stat_of_an_open_proc_fd_directory_does_not_recurse(system: System) -> None:
    # `ls -l /proc/self/fd`: the directory's size counts descriptors, one of which is the directory
    ns, ctx = system.ns, system.ctx
    file = ns.openat(ctx, None, b"/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    system.fdtable.install(file, minfd=3)
    assert ns.fstatat(ctx, None, b"/proc/self/fd").st_size == 1
    assert ns.readlinkat(ctx, None, b"/proc/self/fd/3") == b"/proc/1/fd"
