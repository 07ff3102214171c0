"""SQLite's locks on an open image stay with it: POSIX locks belong to a process and a file, so a
descriptor of the image's database or -shm that lxfs opened and closed beside SQLite's would drop them.
The -shm's dead-man-switch lock did get dropped that way; another process connecting then took itself for
the image's only user, reinitialised the WAL-index, and two processes wrote as if each held the write
lock (two directories got one inode number in tests/fuse/test_concurrency's scenario). Checked from
another process with F_GETLK, as the other processes sharing the image see them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lxfs.volfs import fsck
from lxfs.volfs.volfs import VolFs

SHM_DMS = 128  # SQLite's unix VFS: UNIX_SHM_DMS, after the 8 WAL-index lock bytes from 120
DB_SHARED = 0x40000002  # SHARED_FIRST: a reader's lock range on the database file (PENDING_BYTE + 2)

PROBE = """
import fcntl, struct, sys
fl = struct.Struct("hhqqi4x")
with open(sys.argv[1], "rb") as f:
    out = fcntl.fcntl(f.fileno(), fcntl.F_GETLK, fl.pack(fcntl.F_WRLCK, 0, int(sys.argv[2]), 1, 0))
ltype, _, _, _, pid = fl.unpack(out)
print(pid if ltype != fcntl.F_UNLCK else 0)
"""


def lock_holder(path: Path, offset: int) -> int:
    """The pid holding a lock on byte ``offset`` of ``path`` as another process sees it (0: none, or no
    such file: SQLite removes the -shm when its last connection closes)."""
    if not path.exists():
        return 0
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), str(offset)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def test_sqlite_keeps_its_locks_while_an_image_is_open(tmp_path: Path) -> None:
    image = tmp_path / "i.lxfs"
    shm = Path(str(image) + "-shm")
    me = os.getpid()
    fs = VolFs.create(image)
    assert lock_holder(shm, SHM_DMS) == me
    assert lock_holder(image, DB_SHARED) == me
    fs.mkdir(fs.root_ino, b"d", 0o755, 0, 0, 1)
    fs.close()
    assert lock_holder(shm, SHM_DMS) == 0  # closed: nothing left behind

    fs = VolFs.open(image)
    try:
        assert lock_holder(shm, SHM_DMS) == me
        assert lock_holder(image, DB_SHARED) == me
        # a second VolFs on the image in this process, opened and closed: fsck, a read-only one
        assert fsck.check(image) == []
        VolFs.open(image, readonly=True).close()
        assert lock_holder(shm, SHM_DMS) == me
        assert lock_holder(image, DB_SHARED) == me
        fs.mkdir(fs.root_ino, b"e", 0o755, 0, 0, 2)  # and it still works
    finally:
        fs.close()
    assert lock_holder(shm, SHM_DMS) == 0
    assert lock_holder(image, DB_SHARED) == 0


def test_two_processes_never_take_one_inode_number(tmp_path: Path) -> None:
    """Both processes make directories at once; the first wrote before the second opened the image (the
    second then found the -shm unlocked, reinitialised it, and the first's next commit overwrote the
    second's WAL frames: directories lost, or two of them with one inode)."""
    image = tmp_path / "i.lxfs"
    VolFs.create(image).close()
    child = """
import os, sys
from lxfs.volfs.volfs import VolFs
fs = VolFs.open(sys.argv[1])
fs.mkdir(fs.root_ino, b"first-" + sys.argv[2].encode(), 0o755, 0, 0, 0)
print("open", flush=True)
sys.stdin.readline()
made = []
for i in range(100):
    made.append(fs.mkdir(fs.root_ino, b"%s%d" % (sys.argv[2].encode(), i), 0o755, 0, 0, i))
fs.close()
print(" ".join(map(str, made)))
"""
    procs = []
    for tag in ("a", "b"):  # one after the other: b opens the image after a wrote to it
        p = subprocess.Popen(
            [sys.executable, "-c", child, str(image), tag], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert p.stdout is not None and p.stdout.readline() == "open\n"
        procs.append(p)
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    inos = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        inos += out.split()
    assert len(inos) == 200 and len(set(inos)) == 200
    assert fsck.check(image) == []
    with VolFs.open(image, readonly=True) as fs:
        names = {e.name for e in fs.readdir(fs.root_ino, 0)}
    assert {b"%s%d" % (t, i) for t in (b"a", b"b") for i in range(100)} <= names
