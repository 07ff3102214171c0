"""Attaching /dev to a VFS Namespace: devtmpfs with the standard nodes, devpts on /dev/pts and a tmpfs
on /dev/shm. Opening the nodes goes through the Namespace's DeviceRegistry (a devfs.Devices)."""

from __future__ import annotations

from dataclasses import dataclass

from devfs.devpts import DevptsFs
from devfs.registry import Devices, make_devtmpfs, shmem_defaults
from lxfs.linux import MS_NODEV, MS_NOEXEC, MS_NOSUID
from lxfs.tmpfs import TmpFs
from lxfs.vfs.creds import FsContext
from lxfs.vfs.namespace import Namespace


@dataclass(slots=True)
class DevMounts:
    dev: TmpFs
    pts: DevptsFs
    shm: TmpFs


def mount_dev(ns: Namespace, ctx: FsContext, devices: Devices, path: bytes = b"/dev") -> DevMounts:
    """Mount /dev, /dev/pts and /dev/shm; ``devices`` must be the Namespace's registry."""
    dev = make_devtmpfs()
    ns.mount(ctx, path, dev, MS_NOSUID, source=b"devtmpfs")
    pts = DevptsFs(devices.devpts)
    ns.mount(ctx, path + b"/pts", pts, MS_NOSUID | MS_NOEXEC, source=b"devpts")
    shm = TmpFs(mode=0o1777)
    shmem_defaults(shm)
    ns.mount(ctx, path + b"/shm", shm, MS_NOSUID | MS_NODEV, source=b"tmpfs")
    return DevMounts(dev, pts, shm)
