"""What /proc and /dev/pts refuse, through the VFS against the host: creating, linking, removing and
renaming names give Linux's errnos; both filesystems take the refusals from one base (SyntheticFs)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator

import pytest

from devfs.devpts import DevptsFs
from devfs.mount import mount_dev
from devfs.registry import Devices
from lxfs.tmpfs import TmpFs
from lxfs.vfs.creds import FsContext
from lxfs.vfs.errors import FsError
from lxfs.vfs.namespace import Namespace
from lxfs.vfs.synthetic import SyntheticFs
from procfs.mount import mount_proc
from procfs.source import ProcessInfo, StaticSource
from procfs.table import ProcFs


def _outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except (OSError, FsError) as exc:
        return errno.errorcode[exc.errno or 0]
    return "ok"


@pytest.fixture
def system() -> Iterator[tuple[Namespace, FsContext]]:
    devices = Devices()
    ns = Namespace(TmpFs(mode=0o755), devices=devices)
    ctx = ns.context()
    for path in (b"/proc", b"/dev", b"/etc"):
        ns.mkdirat(ctx, None, path, 0o755)
    file = ns.openat(ctx, None, b"/etc/hostname", os.O_CREAT | os.O_WRONLY, 0o644)
    file.close()
    source = StaticSource(caller_pid=1)
    source.add(ProcessInfo(pid=1, ppid=0, comm=b"init", exe=b"/sbin/init"))
    mount_proc(ns, ctx, source)
    mount_dev(ns, ctx, devices)
    yield ns, ctx


CASES = [
    "mkdir /proc/newdir",
    "creat /proc/newf",
    "symlink /proc/newl",
    "link /etc/hostname /proc/newh",  # proc's lookup fails (ENOENT) before link's EXDEV check
    "mknod /proc/newn",
    "mkdir /proc/self/newdir",
    "creat /proc/self/newf",
    "creat /dev/pts/newf",
    "mkdir /dev/pts/newdir",
    "symlink /dev/pts/newl",
    "mknod /dev/pts/newn",
    "unlink /proc/version",
    "rmdir /proc/sys",
    "rename /proc/version /proc/v2",  # ... and before rename's EPERM
    "link /proc/version /proc/v3",
    "unlink /dev/pts/ptmx",
    "rename /dev/pts/ptmx /dev/pts/p2",
]


def _host(case: str) -> str:
    op, *paths = case.split()
    fns: dict[str, Callable[[], object]] = {
        "mkdir": lambda: os.mkdir(paths[0]),
        "creat": lambda: os.close(os.open(paths[0], os.O_CREAT | os.O_WRONLY, 0o644)),
        "symlink": lambda: os.symlink("x", paths[0]),
        "link": lambda: os.link(paths[0], paths[1]),
        "mknod": lambda: os.mknod(paths[0]),
        "unlink": lambda: os.unlink(paths[0]),
        "rmdir": lambda: os.rmdir(paths[0]),
        "rename": lambda: os.rename(paths[0], paths[1]),
    }
    return _outcome(fns[op])


def _ours(ns: Namespace, ctx: FsContext, case: str) -> str:
    op, *names = case.split()
    p = [n.encode() for n in names]
    fns: dict[str, Callable[[], object]] = {
        "mkdir": lambda: ns.mkdirat(ctx, None, p[0], 0o755),
        "creat": lambda: ns.openat(ctx, None, p[0], os.O_CREAT | os.O_WRONLY, 0o644).close(),
        "symlink": lambda: ns.symlinkat(ctx, b"x", None, p[0]),
        "link": lambda: ns.linkat(ctx, None, p[0], None, p[1], 0),
        "mknod": lambda: ns.mknodat(ctx, None, p[0], 0o100600, 0),
        "unlink": lambda: ns.unlinkat(ctx, None, p[0], 0),
        "rmdir": lambda: ns.unlinkat(ctx, None, p[0], 0x200),  # AT_REMOVEDIR
        "rename": lambda: ns.renameat2(ctx, None, p[0], None, p[1], 0),
    }
    return _outcome(fns[op])


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/dev/pts"), reason="needs root and /dev/pts")
@pytest.mark.parametrize("case", CASES)
def test_refusal_matches_host(system: tuple[Namespace, FsContext], case: str) -> None:
    ns, ctx = system
    assert _ours(ns, ctx, case) == _host(case)


def test_procfs_and_devpts_share_one_synthetic_base() -> None:
    assert issubclass(ProcFs, SyntheticFs) and issubclass(DevptsFs, SyntheticFs)
    for name in ("create", "rename", "read", "getxattr", "statfs", "open_inode", "transaction"):
        assert name not in vars(ProcFs) and name not in vars(DevptsFs), name


@pytest.mark.parametrize("path", [b"/proc/version", b"/proc/self/stat"])
def test_refused_unlink_changes_nothing_like_host(system: tuple[Namespace, FsContext], path: bytes) -> None:
    """vfs_unlink refuses before touching the inode: its ctime stays (the host's does too)."""
    ns, ctx = system
    before = os.stat(path).st_ctime_ns
    assert _outcome(lambda: os.unlink(path)) == "EPERM" and os.stat(path).st_ctime_ns == before
    ours_before = ns.fstatat(ctx, None, path).st_ctime_ns
    assert _ours(ns, ctx, "unlink " + path.decode()) == "EPERM"
    assert ns.fstatat(ctx, None, path).st_ctime_ns == ours_before
