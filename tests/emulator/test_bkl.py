"""The big kernel lock (emulator/bkl.py): a host thread gets in between slices although the scheduler
re-takes the lock at once, never during a slice, and while the scheduler idles."""

from __future__ import annotations

import threading
import time

from emulator.bkl import KernelLock


def test_host_thread_enters_between_slices_only() -> None:
    lock = KernelLock()
    in_slice = False
    overlaps = 0
    done = threading.Event()
    entered: list[float] = []

    def host() -> None:
        nonlocal overlaps
        for _ in range(50):
            with lock:
                overlaps += in_slice
                entered.append(time.monotonic())
        done.set()

    pokes = []
    lock.on_release = lambda: pokes.append(1)
    lock.acquire()
    t = threading.Thread(target=host)
    t.start()
    start = time.monotonic()
    while not done.is_set() and time.monotonic() - start < 10:
        in_slice = True
        time.sleep(0.001)  # a slice of guest code: the lock stays held
        in_slice = False
        lock.yield_to_waiters()
    lock.release()
    t.join(5)
    assert done.is_set(), "the host thread starved: the scheduler kept re-taking the lock"
    assert overlaps == 0
    assert len(entered) == 50 and len(pokes) == 50


def test_host_thread_enters_while_the_scheduler_idles() -> None:
    lock = KernelLock()
    lock.acquire()
    got = threading.Event()

    def host() -> None:
        with lock:
            got.set()

    t = threading.Thread(target=host)
    t.start()
    with lock.released():
        assert got.wait(5)
    t.join(5)
    lock.release()
    assert not lock.waiting


def test_yield_without_waiters_keeps_the_lock() -> None:
    lock = KernelLock()
    lock.acquire()
    lock.yield_to_waiters()
    assert not lock._lock.acquire(blocking=False)
    lock.release()
