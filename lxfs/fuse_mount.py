"""Serving an image from the command line (`lxfs mount`/`lxfs umount`): the checks that turn the usual
failures into one clear sentence, the server's lifecycle (pid file, signals) and unmounting."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from lxfs.fuse import (
    FuseAdapter,
    FuseSession,
    MountError,
    MountOptions,
    check_mountpoint,
    mounted_source,
    mountinfo,
)
from lxfs.vfs.errors import FsError

if TYPE_CHECKING:
    from lxfs.vfs.interfaces import Filesystem
    from lxfs.vfs.namespace import Namespace

log = logging.getLogger(__name__)


def unmount(mountpoint: str, lazy: bool = False) -> subprocess.CompletedProcess[str]:
    """fusermount3 -u (with -z: detach now, finish when no longer busy)."""
    cmd = ["fusermount3", "-u", *(["-z"] if lazy else []), "--", mountpoint]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def check_fuse_device(device: str = "/dev/fuse") -> None:
    if not os.path.exists(device):
        raise MountError(f"{device} is missing: load the fuse module (modprobe fuse) or give the container the device")
    try:
        fd = os.open(device, os.O_RDWR)
    except OSError as exc:
        raise MountError(f"{device} cannot be opened ({exc.strerror}): FUSE is not usable here") from None
    os.close(fd)


def image_mounted_at(image: str) -> str | None:
    """Where ``image`` is already served by an lxfs mount, if anywhere (fsname lxfs:<abs image path>)."""
    want = "lxfs:" + os.path.abspath(image)
    for fields in mountinfo():
        sep = fields.index("-") if "-" in fields else -1
        if sep > 0 and len(fields) > sep + 2 and fields[sep + 2] == want and fields[sep + 1].startswith("fuse"):
            return fields[4]
    return None


# -- serving an image (lxfs mount) ------------------------------------------------------------------------


def build_namespace(fs: Filesystem) -> Namespace:
    """VolFs at /, procfs at /proc (no running guest: an empty process list) and devfs at /dev (with
    /dev/pts and /dev/shm), each where the image has that directory; the image is not changed."""
    from devfs.mount import mount_dev
    from devfs.registry import Devices
    from lxfs.vfs.namespace import Namespace
    from procfs.mount import mount_proc
    from procfs.source import StaticSource

    devices = Devices()
    ns = Namespace(fs, devices)
    ctx = ns.context()
    if _is_dir(ns, b"/proc"):
        mount_proc(ns, ctx, StaticSource())
    if _is_dir(ns, b"/dev"):
        mount_dev(ns, ctx, devices)
    ctx.release()
    return ns


def _is_dir(ns: Namespace, path: bytes) -> bool:
    ctx = ns.context()
    try:
        return stat.S_ISDIR(ns.fstatat(ctx, None, path).st_mode)
    except FsError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return False
        raise
    finally:
        ctx.release()


def allow_other_permitted() -> bool:
    """Whether this user may mount with allow_other: root, or user_allow_other in /etc/fuse.conf."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/etc/fuse.conf") as f:
            return any(line.split("#", 1)[0].strip() == "user_allow_other" for line in f)
    except OSError:
        return False


def pidfile_for(mountpoint: str) -> str:
    """Where the server of ``mountpoint`` records its pid (so `lxfs umount` can wait for it)."""
    import hashlib

    digest = hashlib.sha1(os.fsencode(os.path.abspath(mountpoint))).hexdigest()[:16]
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return os.path.join(base, f"lxfs-mount-{os.getuid()}-{digest}.pid")


def serve_image(
    image: str,
    mountpoint: str,
    options: MountOptions,
    ready: Callable[[], None] | None = None,
) -> None:
    """Open ``image``, mount it on ``mountpoint`` and serve until unmounted or SIGINT/SIGTERM/SIGHUP
    (then unmount cleanly). ``ready`` runs once the mount is attached. Raises MountError."""
    import signal

    from lxfs.volfs.layout import ImageError, ImageNotWritable
    from lxfs.volfs.volfs import VolFs

    check_fuse_device()
    check_mountpoint(mountpoint)
    where = image_mounted_at(image)
    if where is not None:
        raise MountError(f"{image}: in use, already mounted at {where}")
    try:
        fs = VolFs.open(image, readonly=options.readonly)
    except ImageNotWritable as exc:
        raise MountError(f"{exc}: mount it read-only (-o ro)") from None
    except ImageError as exc:
        raise MountError(str(exc)) from None
    except FsError as exc:
        raise MountError(f"{image}: cannot open: {exc.strerror}") from None
    pidfile = pidfile_for(mountpoint)
    try:
        session = FuseSession(FuseAdapter(build_namespace(fs), None, options), mountpoint)
        session.mount()
        with open(pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
        log.info(
            "serving %s on %s (%s)",
            os.path.abspath(image),
            session.mountpoint,
            "read-only" if options.readonly else "read-write",
        )
        if ready is not None:
            ready()
        # libfuse installs its handlers (exit the loop, then unmount) only over SIG_DFL
        saved = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            session.loop(handle_signals=True, poll_us=options.poll_us)
        finally:
            for s, h in saved.items():
                signal.signal(s, h)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pidfile)
        fs.close()


def umount_and_wait(mountpoint: str, timeout: float = 10.0) -> None:
    """Unmount (fusermount3 -u) and wait for the server to finish writing the image. Raises MountError."""
    if mounted_source(mountpoint) is None:
        raise MountError(f"{mountpoint}: not mounted")
    pidfile = pidfile_for(mountpoint)
    try:
        with open(pidfile) as f:
            pid: int | None = int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        pid = None
    res = unmount(mountpoint)
    if res.returncode != 0:
        msg = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "fusermount3 failed"
        if "busy" in msg.lower():
            raise MountError(f"{mountpoint}: busy (a process has files open or its cwd there)")
        if "not found in" in msg or "not mounted" in msg.lower():
            raise MountError(f"{mountpoint}: not mounted")
        raise MountError(f"{mountpoint}: {msg}")
    if pid is not None and not wait_for_exit(pid, timeout):
        raise MountError(f"{mountpoint}: unmounted, but its server (pid {pid}) is still running")


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` is gone within ``timeout`` seconds (someone else's counts as gone)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
