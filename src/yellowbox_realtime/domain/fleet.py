"""The fleet's last known positions: what a live map needs before the first change arrives.

One entry per rider (the last accepted location update), so memory is bounded by the number
of riders; ``max_riders`` caps it against a flood of rider identities, dropping the rider
not heard from for longest. Pure: time is passed in (seconds, any clock that does not go
backwards), nothing here does I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

__all__ = ["RECENT_S", "FleetState"]

# "Seen recently" on the dashboard: heard from within this many seconds.
RECENT_S = 300.0


class FleetState:
    def __init__(self, max_riders: int = 100_000) -> None:
        if max_riders <= 0:
            raise ValueError(f"max_riders must be positive, got {max_riders!r}")
        self.max_riders = max_riders
        # Rider id -> (when it was heard from, its last update); least recently heard first.
        self._riders: OrderedDict[str, tuple[float, Mapping[str, Any]]] = OrderedDict()

    def update(self, rider: Mapping[str, Any], now: float) -> None:
        """Record a validated location update (it carries ``riderId``)."""
        rider_id = str(rider["riderId"])
        self._riders[rider_id] = (now, rider)
        self._riders.move_to_end(rider_id)
        if len(self._riders) > self.max_riders:
            self._riders.popitem(last=False)

    def snapshot(self) -> list[Mapping[str, Any]]:
        """Every rider's last update, least recently heard from first."""
        return [rider for _, rider in self._riders.values()]

    def seen_within(self, window_s: float, now: float) -> int:
        """How many riders were heard from in the last ``window_s`` seconds."""
        count = 0
        # Newest first; the first one too old ends the count.
        for heard, _ in reversed(self._riders.values()):
            if now - heard > window_s:
                break
            count += 1
        return count

    def __len__(self) -> int:
        return len(self._riders)
