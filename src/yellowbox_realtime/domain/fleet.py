"""The fleet: each rider's last position and whether it is online, stale or offline.

Pure: times are float UNIX seconds passed in, nothing here does I/O or keeps a clock.

Two times per fix, on purpose:

* ``fix_time``, when the position was taken (the phone's ``recordedAt`` if it sent one, else
  when the server got it), orders fixes: one older than the last accepted fix is refused,
  and the implied speed between two fixes uses it.
* ``now``, when the server got the fix, drives liveness: a rider whose phone uploads a fix
  taken a minute ago is still reporting now. ``stale_after_s`` and ``offline_after_s`` count
  from it.

Status is a function of the rider's record and the time (:meth:`_Rider.status_at`):
offline once ``offline_after_s`` passed without a fix or ``disconnect_grace_s`` after its
last connection closed; stale once ``stale_after_s`` passed without a fix; online otherwise.
So a reconnect (or a fix) recomputes it, and the sweep only has to visit riders whose next
deadline has come. Those deadlines sit in a heap with at most one live entry per rider:
a fix only pushes a rider's deadline later, which needs no new entry (the early entry is
found, re-evaluated and re-pushed when it comes up), so the heap stays about as big as the
fleet however often riders report, and a sweep costs O(riders due * log fleet).

Bounded by ``max_riders``: past it the rider not heard from for longest is dropped, without
a status change (it is forgotten, not offline); :meth:`FleetState.drain_forgotten` names the
dropped riders, so what else is kept per rider can be dropped with them.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ValidationError
from .geo import LatLon, haversine_m

__all__ = ["RIDER_STATUSES", "FleetLimits", "FleetState", "RiderStatus",
           "StatusChange"]

RiderStatus = Literal["online", "stale", "offline"]
RIDER_STATUSES: tuple[RiderStatus, ...] = ("online", "stale", "offline")
# What a RiderView carries from the accepted update besides riderId and status: the
# configured extra fields (battery ...) too, which dashboards show with the position.
_VIEW_FIELDS = ("latitude", "longitude", "speed", "heading", "accuracy", "timestamp", "extra")

@dataclass(frozen=True, slots=True)
class FleetLimits:
    stale_after_s: float = 30.0
    offline_after_s: float = 120.0
    disconnect_grace_s: float = 15.0
    max_jump_speed_mps: float = 70.0
    jump_allowance_m: float = 50.0
    max_riders: int = 100_000

    def __post_init__(self) -> None:
        if not 0 < self.stale_after_s <= self.offline_after_s:
            raise ValueError("need 0 < stale_after_s <= offline_after_s, got "
                             f"{self.stale_after_s!r} and {self.offline_after_s!r}")
        if self.disconnect_grace_s < 0:
            raise ValueError(f"disconnect_grace_s must be >= 0, got {self.disconnect_grace_s!r}")
        if self.max_jump_speed_mps <= 0 or self.jump_allowance_m < 0:
            raise ValueError("max_jump_speed_mps must be positive and jump_allowance_m >= 0")
        if self.max_riders <= 0:
            raise ValueError(f"max_riders must be positive, got {self.max_riders!r}")


@dataclass(frozen=True, slots=True)
class StatusChange:
    rider_id: str
    status: RiderStatus
    previous: RiderStatus | None
    at: float
    view: dict[str, Any]


@dataclass(slots=True)
class _Rider:
    rider_id: str
    fix: dict[str, Any]
    fix_time: float
    heard: float
    status: RiderStatus = "online"
    # When its last connection closed; None while connected or never counted.
    disconnected_at: float | None = None
    # The time of this rider's live heap entry, if any.
    scheduled: float | None = field(default=None)

    def status_at(self, now: float, limits: FleetLimits, connections: int) -> RiderStatus:
        # The same sums as next_deadline, so a rider evaluated at its deadline moves on.
        if now >= self.heard + limits.offline_after_s or (
                connections == 0 and self.disconnected_at is not None
                and now >= self.disconnected_at + limits.disconnect_grace_s):
            return "offline"
        if now >= self.heard + limits.stale_after_s:
            return "stale"
        return "online"

    def next_deadline(self, limits: FleetLimits, connections: int) -> float | None:
        """When the status would next change with no fix or connection in between."""
        if self.status == "offline":
            return None
        deadline = self.heard + limits.offline_after_s
        if self.status == "online":
            deadline = min(deadline, self.heard + limits.stale_after_s)
        if connections == 0 and self.disconnected_at is not None:
            deadline = min(deadline, self.disconnected_at + limits.disconnect_grace_s)
        return deadline

    def view(self) -> dict[str, Any]:
        return {"riderId": self.rider_id, **self.fix, "status": self.status}


class FleetState:
    def __init__(self, limits: FleetLimits = FleetLimits()) -> None:
        self.limits = limits
        # Least recently heard first: the eviction order and the snapshot order.
        self._riders: OrderedDict[str, _Rider] = OrderedDict()
        # Open connections per rider, fixes or not (a rider may connect before its first
        # fix); an entry goes when its count drops to zero.
        self._connections: dict[str, int] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._counts: dict[RiderStatus, int] = dict.fromkeys(RIDER_STATUSES, 0)
        # Insertion-ordered set of riders to put in the next conflated batch.
        self._moved: dict[str, None] = {}
        # Riders dropped past max_riders since the last drain_forgotten.
        self._forgotten: list[str] = []

    # -- fixes ----------------------------------------------------------------------------

    def check(self, update: Mapping[str, Any], fix_time: float) -> None:
        """Refuse a fix that goes back in time or jumps further than a rider can travel."""
        rider = self._riders.get(str(update["riderId"]))
        if rider is None:
            return
        elapsed = fix_time - rider.fix_time
        if elapsed < 0:
            raise ValidationError(
                f"position is older than the last one ({-elapsed:.1f} s before it)")
        distance = haversine_m(
            LatLon(rider.fix["latitude"], rider.fix["longitude"]),
            LatLon(float(update["latitude"]), float(update["longitude"])))
        # Both fixes may be off by their accuracy radius, plus ordinary GPS noise.
        noise = (_accuracy(rider.fix) + _accuracy(update) + self.limits.jump_allowance_m)
        beyond = distance - noise
        if beyond <= 0:
            return
        if elapsed == 0 or beyond / elapsed > self.limits.max_jump_speed_mps:
            shown = f"{distance / 1000:.1f} km" if distance >= 1000 else f"{distance:.0f} m"
            speed = f" ({distance / elapsed:.0f} m/s)" if elapsed > 0 else ""
            raise ValidationError(f"impossible jump: {shown} in {elapsed:.1f} s{speed}")

    def update(self, update: Mapping[str, Any], fix_time: float,
               now: float) -> list[StatusChange]:
        """Record an accepted fix; the change to online if the rider was not online."""
        rider_id = str(update["riderId"])
        fix = {name: update[name] for name in _VIEW_FIELDS if update.get(name) is not None}
        rider = self._riders.get(rider_id)
        self._moved[rider_id] = None
        if rider is None:
            rider = _Rider(rider_id, fix, fix_time, now)
            self._riders[rider_id] = rider
            self._counts["online"] += 1
            self._schedule(rider)
            changes = [StatusChange(rider_id, "online", None, now, rider.view())]
            if len(self._riders) > self.limits.max_riders:
                dropped = next(iter(self._riders))
                self.forget(dropped)
                self._forgotten.append(dropped)
            return changes
        rider.fix, rider.fix_time, rider.heard = fix, fix_time, now
        # A fix shows the rider reporting, by whatever path it came: it ends a pending
        # disconnect grace, and the fix timeouts alone decide from here.
        rider.disconnected_at = None
        self._riders.move_to_end(rider_id)
        return self._settle(rider, now)

    # -- connections ----------------------------------------------------------------------

    def connected(self, rider_id: str, now: float) -> list[StatusChange]:
        self._connections[rider_id] = self._connections.get(rider_id, 0) + 1
        rider = self._riders.get(rider_id)
        if rider is None:
            return []
        rider.disconnected_at = None
        return self._settle(rider, now)

    def disconnected(self, rider_id: str, now: float) -> list[StatusChange]:
        left = self._connections.get(rider_id, 0) - 1
        if left > 0:
            self._connections[rider_id] = left
            return []
        self._connections.pop(rider_id, None)
        rider = self._riders.get(rider_id)
        if rider is None:
            return []
        rider.disconnected_at = now
        return self._settle(rider, now)

    # -- time -----------------------------------------------------------------------------

    def sweep(self, now: float) -> list[StatusChange]:
        """The changes time alone makes (online to stale, to offline) up to ``now``."""
        changes: list[StatusChange] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            when, rider_id = heapq.heappop(heap)
            rider = self._riders.get(rider_id)
            if rider is None or rider.scheduled != when:
                continue  # forgotten, or superseded by an earlier entry
            rider.scheduled = None
            changes.extend(self._settle(rider, now))
        return changes

    # -- views ----------------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Every rider's view, least recently heard from first."""
        return [rider.view() for rider in self._riders.values()]

    def view(self, rider_id: str) -> dict[str, Any] | None:
        rider = self._riders.get(rider_id)
        return rider.view() if rider is not None else None

    def counts(self) -> dict[RiderStatus, int]:
        return dict(self._counts)

    def drain_moved(self) -> list[dict[str, Any]]:
        """Views of the riders that moved or changed status since the last drain."""
        moved, self._moved = self._moved, {}
        return [self._riders[rider_id].view() for rider_id in moved
                if rider_id in self._riders]

    def drain_forgotten(self) -> list[str]:
        """The riders dropped to stay within ``max_riders`` since the last drain."""
        forgotten, self._forgotten = self._forgotten, []
        return forgotten

    def forget(self, rider_id: str) -> None:
        """Drop the rider (its connection count stays: it may still be connected)."""
        rider = self._riders.pop(rider_id, None)
        if rider is not None:
            self._counts[rider.status] -= 1
            self._moved.pop(rider_id, None)
            # Its heap entry is skipped when it comes up: the rider is gone.

    def __len__(self) -> int:
        return len(self._riders)

    # -- internals ------------------------------------------------------------------------

    def _settle(self, rider: _Rider, now: float) -> list[StatusChange]:
        """Bring ``rider``'s status up to ``now`` and make sure the sweep will visit it."""
        connections = self._connections.get(rider.rider_id, 0)
        status = rider.status_at(now, self.limits, connections)
        changes: list[StatusChange] = []
        if status != rider.status:
            previous = rider.status
            self._counts[previous] -= 1
            self._counts[status] += 1
            rider.status = status
            self._moved[rider.rider_id] = None
            changes.append(StatusChange(rider.rider_id, status, previous, now, rider.view()))
        self._schedule(rider)
        return changes

    def _schedule(self, rider: _Rider) -> None:
        deadline = rider.next_deadline(self.limits, self._connections.get(rider.rider_id, 0))
        if deadline is None:
            return
        # An entry at or before the deadline will do: it is re-evaluated when it comes up.
        if rider.scheduled is None or deadline < rider.scheduled:
            rider.scheduled = deadline
            heapq.heappush(self._deadlines, (deadline, rider.rider_id))


def _accuracy(fix: Mapping[str, Any]) -> float:
    value = fix.get("accuracy")
    return float(value) if isinstance(value, int | float) else 0.0
