"""Differential tests of mounts (the host side mounts a real tmpfs inside its test directory): crossing
in both directions, the mount root's '..' in getdents, EXDEV, EBUSY, read-only mounts, umount."""

from __future__ import annotations

import os
from collections.abc import Callable

from lxfs.linux import AT_REMOVEDIR
from lxfs.vfs.interfaces import RENAME_EXCHANGE

Diff = Callable[[Callable[..., None]], None]


def test_mount_crossing_and_errors(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("m")
        s.mkdir("m/under")
        s.close(s.open("f", os.O_CREAT | os.O_WRONLY, 0o644))
        s.mount_tmpfs("m")
        s.stat("m")
        s.stat("m/under")
        s.mkdir("m/d")
        s.close(s.open("m/g", os.O_CREAT | os.O_WRONLY, 0o644))
        s.stat("m/d/..")
        s.stat("m/d/../..")
        s.stat("m/..")
        d = s.open("m", os.O_RDONLY | os.O_DIRECTORY)
        s.dots_same(d)
        s.close(d)
        d = s.open("m/d", os.O_RDONLY | os.O_DIRECTORY)
        s.dots_same(d)
        s.close(d)
        s.rename("f", "m/f")
        s.rename("m/g", "g")
        s.link("f", "m/f")
        s.rename("m", "m2")
        s.rename("m/d", "m2")
        s.rename("f", "m", RENAME_EXCHANGE)
        s.rmdir("m")
        s.unlinkat("m", AT_REMOVEDIR)
        s.unlink("m")
        s.chdir("m/d")
        s.getcwd()
        s.stat("../../f")
        busy = s.open("../g", os.O_CREAT | os.O_WRONLY, 0o644)
        s.chdir("../..")
        s.umount("m")  # busy: an open file inside
        s.close(busy)
        s.umount("m/d")
        s.umount("m")
        s.stat("m/under")
        s.listdir("m")

    differential(scenario)


def test_readonly_mount(differential: Diff) -> None:
    def scenario(s):
        s.mkdir("ro")
        s.mount_tmpfs("ro", True)
        s.mkdir("ro/x")
        s.open("ro/f", os.O_CREAT | os.O_WRONLY, 0o644)
        s.open("ro", os.O_RDONLY | os.O_DIRECTORY)
        s.open("ro", os.O_RDWR)
        s.chmod("ro", 0o700)
        s.utimens("ro", None)
        s.access("ro", os.W_OK)
        s.access("ro", os.R_OK)
        s.setxattr("ro", "user.a", b"1")
        s.rmdir("ro/missing")
        s.unlink("ro/missing")
        s.rename("ro/a", "ro/b")
        s.symlink("t", "ro/l")
        s.mknod("ro/p", 0o10644)
        s.umount("ro")

    differential(scenario)
