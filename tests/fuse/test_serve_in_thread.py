"""serve_in_thread: a live Namespace served on a host thread of the kernel process, each request under
the kernel lock; stop() ends it even while the mount is in use."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lxfs.fuse import mounted_source, serve_in_thread
from lxfs.vfs.namespace import Namespace
from lxfs.volfs.fsck import check
from lxfs.volfs.volfs import VolFs


class CountingLock:
    """The kernel's big lock, counting how often the FUSE thread took it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken = 0

    def __enter__(self) -> None:
        self.lock.acquire()
        self.taken += 1

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()


@pytest.fixture
def place() -> Iterator[tuple[str, str]]:
    base = tempfile.mkdtemp(prefix="lxfs-thread-")
    mp = os.path.join(base, "mnt")
    os.mkdir(mp)
    try:
        yield os.path.join(base, "img"), mp
    finally:
        if mounted_source(mp) is not None:
            subprocess.run(["fusermount3", "-uz", mp], check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_requests_run_under_the_kernel_lock(place: tuple[str, str]) -> None:
    image, mp = place
    fs = VolFs.create(image)
    ns = Namespace(fs)
    lock = CountingLock()
    server = serve_in_thread(ns, mp, lock)
    try:
        with open(os.path.join(mp, "f"), "w") as f:
            f.write("through the thread")
        assert lock.taken > 0
        # while the "kernel" holds the lock, a host request waits for it
        done = threading.Event()
        with lock:
            t = threading.Thread(target=lambda: (os.listdir(mp), done.set()))
            t.start()
            time.sleep(0.3)
            assert not done.is_set()
        t.join(5)
        assert done.is_set()
        # what the host wrote is in the live namespace the emulator uses
        ctx = ns.context()
        file = ns.openat(ctx, None, b"/f", os.O_RDONLY)
        assert file.read(100) == b"through the thread"
        file.close()
    finally:
        server.stop()
    assert mounted_source(mp) is None
    assert check(fs) == []
    fs.close()


def test_stop_while_a_process_uses_the_mount(place: tuple[str, str]) -> None:
    image, mp = place
    fs = VolFs.create(image)
    server = serve_in_thread(Namespace(fs), mp, threading.Lock())
    proc = subprocess.Popen(["sh", "-c", "exec 3<.; sleep 30"], cwd=mp)
    try:
        time.sleep(0.3)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert mounted_source(mp) is None
    finally:
        proc.kill()
        proc.wait()
    assert check(fs) == []
    fs.close()
