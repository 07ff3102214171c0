"""Several VolFs connections and processes on one image: cache coherence through data_version, write
locking, orphans whose holder dies, and SIGKILL at random points (every returned call is there)."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lxfs.vfs.errors import FsError
from lxfs.vfs.interfaces import SetAttr
from lxfs.vfs.namespace import Namespace
from lxfs.volfs import fsck
from lxfs.volfs.volfs import VolFs

from .conftest import NOW, new_file
from .workload import first_difference, host_tree, random_step, run_host, vfs_tree

WORKLOAD = Path(__file__).with_name("workload.py")

# -- two connections, one process ----------------------------------------------------------------------


def test_second_connection_sees_creates_writes_and_unlinks(image: Path) -> None:
    a = VolFs.create(image)
    b = VolFs.open(image)
    try:
        assert b.lookup(1, b"f") is None  # cached negative entry
        ino = new_file(a, b"f", b"one")
        assert b.lookup(1, b"f") == ino
        assert b.read(ino, 0, 10) == b"one"
        assert b.getattr(ino).size == 3  # now cached in b
        a.write(ino, 3, b" two")
        assert b.getattr(ino).size == 7
        assert b.read(ino, 0, 10) == b"one two"
        assert b.read(ino, 0, 3) == b"one" and b.read(ino, 3, 4) == b" two"  # b now caches the chunk
        a.write(ino, 4, b"TWO")
        assert b.read(ino, 0, 3) == b"one" and b.read(ino, 3, 4) == b" TWO"
        b.setattr(ino, SetAttr(mode=0o600, mtime_ns=5))
        assert a.getattr(ino).mode & 0o7777 == 0o600 and a.getattr(ino).mtime_ns == 5
        d = b.mkdir(1, b"d", 0o755, 0, 0, NOW)
        assert a.getattr(1).nlink == 3
        a.rename(1, b"f", d, b"g", 0)
        assert b.lookup(1, b"f") is None and b.lookup(d, b"g") == ino
        b.unlink(d, b"g")
        assert a.lookup(d, b"g") is None
        with pytest.raises(FsError):
            a.getattr(ino)
        assert [e.name for e in a.readdir(d, 0)] == [b".", b".."]
        assert fsck.check(a) == []
    finally:
        b.close()
        a.close()


def test_writer_waits_for_lock_then_fails_clearly(image: Path) -> None:
    a = VolFs.create(image)
    b = VolFs.open(image)
    b._db.execute("PRAGMA busy_timeout = 100")
    try:
        with a.transaction():
            new_file(a, b"held")
            t0 = time.monotonic()
            with pytest.raises(FsError) as e:
                new_file(b, b"blocked")
            assert e.value.errno == errno.EIO and "locked" in str(e.value)
            assert time.monotonic() - t0 >= 0.09
        new_file(b, b"later")  # the lock is free again
        assert a.lookup(1, b"later") is not None
    finally:
        b.close()
        a.close()
    assert fsck.check(image) == []


def test_reader_keeps_reading_during_a_write_transaction(image: Path) -> None:
    a = VolFs.create(image)
    ino = new_file(a, b"f", b"old")
    b = VolFs.open(image)
    try:
        with a.transaction():
            a.write(ino, 0, b"new")
            assert b.read(ino, 0, 3) == b"old"  # WAL: readers see the last commit
        assert b.read(ino, 0, 3) == b"new"
    finally:
        b.close()
        a.close()
    assert fsck.check(image) == []


# -- processes -----------------------------------------------------------------------------------------

HOLDER = """
import sys, os, time
from lxfs.vfs.namespace import Namespace
from lxfs.volfs.volfs import VolFs
fs = VolFs.open(sys.argv[1])
ns = Namespace(fs)
ctx = ns.context()
f = ns.openat(ctx, None, b"/victim", os.O_RDWR)
ns.unlinkat(ctx, None, b"/victim")
f.pwrite(b"written after unlink", 0)
print("ready", flush=True)
time.sleep(60)
"""


def test_orphan_of_killed_process_is_reaped_at_next_open(image: Path) -> None:
    with VolFs.create(image) as fs:
        victim = new_file(fs, b"victim", b"x" * 300_000)
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(image)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert fsck.check(image) == []  # held by a live process: fine
        with VolFs.open(image) as fs:  # the holder is alive: nothing reaped
            assert fs.lookup(1, b"victim") is None
            assert fs.getattr(victim).nlink == 0
            assert fs.read(victim, 0, 20) == b"written after unlink"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert [p.kind for p in fsck.check(image)] == ["dead-orphan"]
    with VolFs.open(image) as fs:
        with pytest.raises(FsError):
            fs.getattr(victim)
        assert fs._db.execute("SELECT count(*) FROM chunk").fetchone() == (0,)
    assert fsck.check(image) == []


READER = """
import sys, os
from lxfs.vfs.namespace import Namespace
from lxfs.volfs.volfs import VolFs
fs = VolFs.open(sys.argv[1])
ns = Namespace(fs)
ctx = ns.context()
f = ns.openat(ctx, None, b"/shared", os.O_RDONLY)
print("open", flush=True)
sys.stdin.readline()  # the other process unlinks the file meanwhile
print(f.pread(100, 0).decode(), flush=True)
f.close()
print("closed", flush=True)
sys.stdin.readline()
"""


def test_file_unlinked_by_another_process_lives_until_its_holder_closes(image: Path) -> None:
    with VolFs.create(image) as fs:
        shared = new_file(fs, b"shared", b"contents")
    child = subprocess.Popen([sys.executable, "-c", READER, str(image)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == b"open\n"
        with VolFs.open(image) as fs:
            fs.unlink(1, b"shared")
            assert fs.getattr(shared).nlink == 0  # kept: the child holds it
            assert fsck.check(fs) == []
            child.stdin.write(b"go\n")
            child.stdin.flush()
            assert child.stdout.readline() == b"contents\n"
            assert child.stdout.readline() == b"closed\n"
            with pytest.raises(FsError):  # the child's close freed it
                fs.getattr(shared)
            assert fs._db.execute("SELECT count(*) FROM orphan").fetchone() == (0,)
    finally:
        child.kill()
        child.wait()
    assert fsck.check(image) == []


def test_orphan_whose_other_holder_was_killed_is_reaped(image: Path) -> None:
    with VolFs.create(image) as fs:
        shared = new_file(fs, b"shared", b"contents")
    child = subprocess.Popen([sys.executable, "-c", READER, str(image)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline() == b"open\n"
    with VolFs.open(image) as fs:
        fs.unlink(1, b"shared")
    assert fsck.check(image) == []
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert [p.kind for p in fsck.check(image)] == ["dead-orphan"]
    with VolFs.open(image) as fs, pytest.raises(FsError):
        fs.getattr(shared)
    assert fsck.check(image) == []


def _crash_trial(workdir: Path, seed: int) -> int:
    """Run the workload in a child, SIGKILL it at a random point, and check the image against the
    host replay of every step the child reported; returns how many steps had returned."""
    image = workdir / f"crash-{seed}.lxfs"
    VolFs.create(image).close()
    steps = 5000
    child = subprocess.Popen([sys.executable, str(WORKLOAD), str(image), str(seed), str(steps)], stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    time.sleep(random.Random(seed).uniform(0.02, 0.6))
    child.send_signal(signal.SIGKILL)
    out = child.stdout.read()
    child.wait()
    results = [int(line.split()[1]) for line in out.decode().splitlines() if line.count(" ") == 1]
    assert fsck.check(image) == [], f"seed {seed}: fsck after kill after {len(results)} steps"

    rng = random.Random(seed)
    plan = [random_step(rng) for _ in range(min(len(results) + 1, steps))]
    host = os.fsencode(tempfile.mkdtemp(dir=workdir))
    for i, want in enumerate(results):
        assert run_host(host, plan[i]) == want, f"seed {seed} step {i} {plan[i]!r}"
    fs = VolFs.open(image, readonly=True)
    try:
        actual = vfs_tree(Namespace(fs))
    finally:
        fs.close()
    diff = first_difference(host_tree(host), actual)
    if diff is not None and len(plan) > len(results):
        run_host(host, plan[len(results)])  # the step in flight when killed may have committed
        diff = first_difference(host_tree(host), actual)
    assert diff is None, f"seed {seed}, killed after {len(results)} steps: {diff}"
    return len(results)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_returned_call(tmp_path: Path) -> None:
    done = [_crash_trial(tmp_path, seed) for seed in range(6)]
    assert sum(done) > 0, done
