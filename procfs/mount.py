"""Attaching /proc to a VFS Namespace, and the Namespace's mount table as procfs MountInfo records
(for a ProcessSource's ``mounts``)."""

from __future__ import annotations

import os

from lxfs.linux import MS_NODEV, MS_NOEXEC, MS_NOSUID
from lxfs.vfs.creds import FsContext
from lxfs.vfs.file import FdTable
from lxfs.vfs.namespace import Location, Namespace
from procfs.source import FdInfo, MountInfo, ProcessSource
from procfs.table import ProcFs

# superblock options each filesystem type shows after rw/ro (their ->show_options)
SUPER_OPTIONS = {"devpts": ",gid=5,mode=620,ptmxmode=000", "devtmpfs": ",mode=755"}


def mount_proc(ns: Namespace, ctx: FsContext, source: ProcessSource, path: bytes = b"/proc") -> ProcFs:
    """Mount a ProcFs over ``source`` on ``path`` (nosuid,nodev,noexec as distributions do)."""
    fs = ProcFs(source)
    ns.mount(ctx, path, fs, MS_NOSUID | MS_NODEV | MS_NOEXEC, source=b"proc")
    return fs


def mount_table(ns: Namespace, root: Location | None = None) -> list[MountInfo]:
    """The namespace's mounts as /proc/PID/mounts and mountinfo show them to a process rooted at ``root``."""
    out = []
    for m in ns.mounts(root):
        rw = m.options.split(",", 1)[0]
        out.append(
            MountInfo(
                m.mount_id, m.parent_id, os.major(m.dev), os.minor(m.dev), b"/", m.target, m.options, m.fs_type,
                m.source, rw + SUPER_OPTIONS.get(m.fs_type, ""),
            )
        )  # fmt: skip
    return out


def fd_infos(ns: Namespace, fds: FdTable, root: Location | None = None) -> list[FdInfo]:
    """A process's descriptors as /proc/PID/fd and fdinfo show them (fs/proc/fd.c seq_show: f_flags
    with O_CLOEXEC when the descriptor has it)."""
    out = []
    for fd, file in fds.items():
        flags = file.flags | (os.O_CLOEXEC if fds.get_cloexec(fd) else 0)
        target = ns.file_path(file, root)
        out.append(FdInfo(fd, target, pos=file.pos, flags=flags, mnt_id=file.loc.mount.id, ino=file.loc.ino))
    return sorted(out, key=lambda f: f.fd)
