"""WaitQueue: how a file that would block tells its waiters that it became ready (like Linux's wait_queue_head)."""

from __future__ import annotations

from collections.abc import Callable

Waiter = Callable[[int], None]


class WaitQueue:
    """Callbacks called with the poll mask (POLLIN, POLLOUT, ...) that became ready."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[Waiter] = []

    def add(self, waiter: Waiter) -> None:
        self._waiters.append(waiter)

    def remove(self, waiter: Waiter) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def notify(self, mask: int) -> None:
        for waiter in list(self._waiters):
            waiter(mask)

    def __len__(self) -> int:
        return len(self._waiters)
