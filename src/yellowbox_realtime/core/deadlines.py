"""Many deadlines, one timer.

Connect timeouts, upgrade timeouts and token expiries are rare events spread over many
connections. Keeping them in one heap driven by a single ``loop.call_at`` for the earliest
costs one small object per deadline instead of a timer handle per connection, and
cancelling is a flag flip (the entry is skipped when it comes up).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any


def _nothing(*_: Any) -> None:
    """What a cancelled deadline calls (never, since it is skipped)."""


class Deadline:
    """A heap entry itself (ordered by ``when``): one object per deadline, no tuple around
    it, because there is one per connected socket (token expiries). Deadlines due at the same
    time fire in no particular order."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        # Arguments rather than a closure: one per socket adds up.
        self.args = args
        self.cancelled = False

    def __lt__(self, other: Deadline) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        # The entry stays in the heap until its time comes: it must not keep what it would
        # have called (a closed socket, for an hour-long token) alive until then.
        self.cancelled = True
        self.callback = _nothing
        self.args = ()


class Deadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[Deadline] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def at(self, when: float, callback: Callable[..., None], *args: Any) -> Deadline:
        """Run ``callback(*args)`` at loop time ``when`` unless cancelled first."""
        deadline = Deadline(when, callback, args)
        heapq.heappush(self._heap, deadline)
        if when < self._timer_at:
            self._arm(when)
        return deadline

    def after(self, delay: float, callback: Callable[..., None], *args: Any) -> Deadline:
        return self.at(self._loop.time() + delay, callback, *args)

    def now(self) -> float:
        return self._loop.time()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._heap.clear()

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = self._loop.time()
        while self._heap and self._heap[0].when <= now:
            deadline = heapq.heappop(self._heap)
            if not deadline.cancelled:
                deadline.callback(*deadline.args)
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        if self._heap:
            self._arm(self._heap[0].when)
