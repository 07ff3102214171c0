"""DevptsFs: the devpts filesystem (/dev/pts): ``ptmx`` and one character node per live pty slave
(fs/devpts/inode.c: slave N is inode N + 3, mode 0620, group tty)."""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterable

from devfs.pty import PTY_SLAVE_MAJOR, Devpts, PtyPair
from lxfs.linux import DEVPTS_SUPER_MAGIC
from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import Attr, DirEntry, SetAttr
from lxfs.vfs.synthetic import SyntheticFs

ROOT_INO = 1
PTMX_INO = 2
FIRST_SLAVE_INO = 3
SLAVE_MODE = 0o620  # the gid=5,mode=620 mount options of every distribution
TTY_GID = 5


class DevptsFs(SyntheticFs):
    """devpts over a Devpts (the pairs ptmx allocates). Implements lxfs.vfs.interfaces.Filesystem."""

    fs_type = "devpts"
    magic = DEVPTS_SUPER_MAGIC
    root_ino = ROOT_INO
    readonly = False

    def __init__(self, devpts: Devpts) -> None:
        self.devpts = devpts
        self.mounted_ns = time.time_ns()
        self._modes: dict[int, tuple[int, int, int]] = {}  # index -> (mode, uid, gid) after chmod/chown

    def _pair(self, ino: int) -> PtyPair:
        pair = self.devpts.pairs.get(ino - FIRST_SLAVE_INO)
        if pair is None:
            raise FsError(errno.ENOENT)
        return pair

    def getattr(self, ino: int) -> Attr:
        t = self.mounted_ns
        if ino == ROOT_INO:
            return Attr(ino, stat.S_IFDIR | 0o755, 2, 0, 0, 0, 0, t, t, t)
        if ino == PTMX_INO:
            return Attr(ino, stat.S_IFCHR, 1, 0, 0, os.makedev(5, 2), 0, t, t, t)
        pair = self._pair(ino)
        mode, uid, gid = self._modes.get(pair.index, (SLAVE_MODE, pair.uid, pair.gid))
        return Attr(ino, stat.S_IFCHR | mode, 1, uid, gid, os.makedev(PTY_SLAVE_MAJOR, pair.index), 0, t, t, t)

    def setattr(self, ino: int, changes: SetAttr) -> None:
        # grantpt(3) chowns and chmods the slave; the change lives as long as the pair
        if ino in (ROOT_INO, PTMX_INO):
            return
        attr = self.getattr(ino)
        mode = changes.mode if changes.mode is not None else stat.S_IMODE(attr.mode)
        uid = changes.uid if changes.uid is not None else attr.uid
        gid = changes.gid if changes.gid is not None else attr.gid
        self._modes[self._pair(ino).index] = (mode, uid, gid)

    def lookup(self, dir_ino: int, name: bytes) -> int | None:
        if dir_ino != ROOT_INO:
            raise FsError(errno.ENOTDIR)
        if name == b"..":
            return ROOT_INO
        if name == b"ptmx":
            return PTMX_INO
        if name.isdigit() and (name == b"0" or not name.startswith(b"0")):
            index = int(name)
            if index in self.devpts.pairs:
                return index + FIRST_SLAVE_INO
        return None

    def readdir(self, dir_ino: int, offset: int) -> Iterable[DirEntry]:
        entries = [
            DirEntry(b".", ROOT_INO, stat.S_IFDIR >> 12, 1),
            DirEntry(b"..", ROOT_INO, stat.S_IFDIR >> 12, 2),
            DirEntry(b"ptmx", PTMX_INO, stat.S_IFCHR >> 12, 3),
        ]
        for index in sorted(self.devpts.pairs):
            ino = index + FIRST_SLAVE_INO
            entries.append(DirEntry(b"%d" % index, ino, stat.S_IFCHR >> 12, ino + 1))
        return [e for e in entries if e.offset > offset]

    def find_name(self, dir_ino: int, ino: int) -> bytes | None:
        if ino == PTMX_INO:
            return b"ptmx"
        index = ino - FIRST_SLAVE_INO
        return b"%d" % index if index in self.devpts.pairs else None
