"""The big kernel lock: the one lock between the scheduler and host threads that enter the kernel
(the FUSE server of ``lxfs run --mount``). DESIGN.md "FUSE": under the GIL finer locks buy nothing.

The scheduler holds it while guest code and syscalls run and lets others in only where no task is in
the middle of anything: between slices (``yield_to_waiters``, a no-op unless someone waits) and while
it sleeps for timers or host fds (``released``). A host thread takes it with ``with lock:``.

Hand-off is explicit because ``threading.Lock`` is not fair: a releasing thread that re-acquires at
once usually wins, so the scheduler, seeing a waiter, waits until that waiter has the lock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

_HANDOFF_S = 1.0  # longest the scheduler waits for a waiter to take the lock (it never should)


class KernelLock:
    """A lock the scheduler holds by default; ``with lock:`` from any other thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()  # guards ``waiting``
        self._taken = threading.Event()
        self.waiting = 0  # host threads blocked in __enter__; read unlocked by the scheduler
        # called after each host-thread section: wakes a scheduler idling in select (lxfs run --mount)
        self.on_release: Callable[[], None] | None = None

    # -- host threads --------------------------------------------------------------------------------------

    def __enter__(self) -> KernelLock:
        with self._count:
            self.waiting += 1
        self._lock.acquire()
        with self._count:
            self.waiting -= 1
        self._taken.set()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()
        if self.on_release is not None:
            self.on_release()

    # -- the scheduler ---------------------------------------------------------------------------------------

    def acquire(self) -> None:
        self._lock.acquire()

    def release(self) -> None:
        self._lock.release()

    def yield_to_waiters(self) -> None:
        """Between slices: if a host thread waits, let it in and take the lock back after it."""
        if self.waiting:
            self._taken.clear()
            self._lock.release()
            self._taken.wait(_HANDOFF_S)
            self._lock.acquire()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Around the scheduler's idle waits: host threads may enter meanwhile."""
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
