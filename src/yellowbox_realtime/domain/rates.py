"""Events per second over a sliding window of whole seconds (pure, time passed in).

A ring of per-second buckets, one per second of the window plus the current one, each
stamped with the second it counts; a bucket whose stamp is not the second asked about is
from a lap ago and counts as empty. Memory is O(window) whatever the rate, and both
operations are O(1) and O(window).

The rate is the mean over the last ``window_s`` complete seconds: the second in progress is
left out, so the figure does not dip at the start of every second.
"""

from __future__ import annotations

import math

__all__ = ["EventRate"]


class EventRate:
    def __init__(self, window_s: int = 10) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s!r}")
        self.window_s = window_s
        size = window_s + 1
        self._counts = [0] * size
        self._stamps = [-1] * size

    def add(self, now: float, count: int = 1) -> None:
        second = math.floor(now)
        slot = second % len(self._counts)
        stamp = self._stamps[slot]
        if stamp == second:
            self._counts[slot] += count
        elif stamp < second:
            self._stamps[slot], self._counts[slot] = second, count
        # else: older than the bucket now holds, so outside any window still asked about.

    def per_second(self, now: float) -> float:
        current = math.floor(now)
        total = 0
        for second in range(current - self.window_s, current):
            slot = second % len(self._counts)
            if self._stamps[slot] == second:
                total += self._counts[slot]
        return total / self.window_s
