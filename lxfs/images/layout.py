"""The directory layout of a new image (the Filesystem Hierarchy Standard with Linux's modes) and the
default image built from the host's busybox-static."""

from __future__ import annotations

import os
import stat
import subprocess
import time

from lxfs.images.entries import Entry

# (path, mode): what Debian's base-files and debootstrap create.
ROOT_DIRS: tuple[tuple[bytes, int], ...] = (
    (b"bin", 0o755),
    (b"boot", 0o755),
    (b"dev", 0o755),
    (b"etc", 0o755),
    (b"home", 0o755),
    (b"lib", 0o755),
    (b"lib64", 0o755),
    (b"media", 0o755),
    (b"mnt", 0o755),
    (b"opt", 0o755),
    (b"proc", 0o555),
    (b"root", 0o700),
    (b"run", 0o755),
    (b"sbin", 0o755),
    (b"srv", 0o755),
    (b"sys", 0o555),
    (b"tmp", 0o1777),
    (b"usr", 0o755),
    (b"usr/bin", 0o755),
    (b"usr/include", 0o755),
    (b"usr/lib", 0o755),
    (b"usr/libexec", 0o755),
    (b"usr/local", 0o755),
    (b"usr/local/bin", 0o755),
    (b"usr/local/lib", 0o755),
    (b"usr/local/sbin", 0o755),
    (b"usr/local/share", 0o755),
    (b"usr/sbin", 0o755),
    (b"usr/share", 0o755),
    (b"var", 0o755),
    (b"var/cache", 0o755),
    (b"var/lib", 0o755),
    (b"var/local", 0o2775),
    (b"var/lock", 0o1777),
    (b"var/log", 0o755),
    (b"var/mail", 0o2775),
    (b"var/opt", 0o755),
    (b"var/spool", 0o755),
    (b"var/tmp", 0o1777),
)

# Top-level names that Debian 12 (merged /usr) makes symlinks into /usr.
MERGED_USR = (b"bin", b"sbin", b"lib", b"lib32", b"lib64", b"libx32")

BUSYBOX = "/bin/busybox"
BUSYBOX_MISSING = f"{BUSYBOX} (static) is needed for the default image: apt-get install busybox-static"


def layout_entries(merged_usr_like_host: bool = False) -> list[Entry]:
    """The root and standard directories as entries, dated now. With ``merged_usr_like_host``, the
    top-level names that are symlinks on the host (Debian's merged /usr) are the same symlinks."""
    now = time.time_ns()
    out = [Entry(path=b"", mode=stat.S_IFDIR | 0o755, mtime_ns=now, atime_ns=now)]
    for path, mode in ROOT_DIRS:
        if merged_usr_like_host and path in MERGED_USR and os.path.islink(b"/" + path):
            target = os.readlink(b"/" + path)
            out.append(Entry(path=path, mode=stat.S_IFLNK | 0o777, mtime_ns=now, atime_ns=now, symlink_target=target))
            continue
        out.append(Entry(path=path, mode=stat.S_IFDIR | mode, mtime_ns=now, atime_ns=now))
    if merged_usr_like_host:
        for name in MERGED_USR:
            if os.path.islink(b"/" + name) and name not in {p for p, _ in ROOT_DIRS}:
                target = os.readlink(b"/" + name)
                if os.path.exists(b"/" + name):
                    out.append(
                        Entry(path=name, mode=stat.S_IFLNK | 0o777, mtime_ns=now, atime_ns=now, symlink_target=target)
                    )
    return out


class BusyboxMissing(Exception):
    """The host has no usable static busybox."""


def busybox_applets(busybox: str = BUSYBOX) -> list[bytes]:
    """The applet paths (relative to /, e.g. ``bin/ls``) that ``busybox --install -s`` would create."""
    if not os.path.isfile(busybox):
        raise BusyboxMissing(BUSYBOX_MISSING)
    from lxfs.images.elfdeps import read_elf

    elf = read_elf(busybox)
    if elf is None or elf.interp is not None or elf.needed:
        raise BusyboxMissing(f"{busybox} is not statically linked; {BUSYBOX_MISSING}")
    try:
        out = subprocess.run([busybox, "--list-full"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BusyboxMissing(f"{busybox} --list-full failed ({exc}); {BUSYBOX_MISSING}") from None
    return [line.strip().lstrip(b"/") for line in out.stdout.splitlines() if line.strip()]
