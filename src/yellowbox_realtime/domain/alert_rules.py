"""When a rider's movement is worth an alert (pure, per rider).

* Speeding: one alert per episode, not one per fix. A rider at 61 km/h under a 60 km/h
  limit would otherwise raise an alert every second; the episode ends (the watch re-arms)
  only when the speed drops clearly below the limit (``rearm_ratio``), so GPS jitter around
  the limit does not start new episodes either.
* Geofence breaches: see :func:`breach`.
"""

from __future__ import annotations

__all__ = ["SpeedWatch", "breach"]


class SpeedWatch:
    def __init__(self, limit_mps: float, rearm_ratio: float = 0.9) -> None:
        if limit_mps <= 0:
            raise ValueError(f"limit_mps must be positive, got {limit_mps!r}")
        if not 0 < rearm_ratio <= 1:
            raise ValueError(f"rearm_ratio must be in (0, 1], got {rearm_ratio!r}")
        self.limit_mps = limit_mps
        self.rearm_below_mps = limit_mps * rearm_ratio
        # Riders in a speeding episode; only those, so the set stays small.
        self._speeding: set[str] = set()

    def check(self, rider_id: str, speed_mps: float | None, now: float) -> bool:
        """``True`` when ``rider_id`` starts a speeding episode with this fix.

        ``now`` is not needed by the rule today; it is part of the signature so a rule with a
        minimum duration can be put in without changing callers. A fix without a speed says
        nothing and leaves the episode as it is.
        """
        if speed_mps is None:
            return False
        if rider_id in self._speeding:
            if speed_mps < self.rearm_below_mps:
                self._speeding.discard(rider_id)
            return False
        if speed_mps > self.limit_mps:
            self._speeding.add(rider_id)
            return True
        return False

    def forget(self, rider_id: str) -> None:
        self._speeding.discard(rider_id)

    def __len__(self) -> int:
        """How many riders are in a speeding episode."""
        return len(self._speeding)


def breach(kind: str, event: str) -> bool:
    """Whether a geofence event (``"enter"``/``"exit"``) of a fence ``kind`` is a breach.

    Only entering a no-go area is. A zone is an operating area that riders cross all day
    (leaving one for the next is ordinary work; it shows on the map, not in the alert feed).
    A depot is where riders start, end and refill: entering or leaving it is the job itself,
    so it never alerts.
    """
    return kind == "no_go" and event == "enter"
