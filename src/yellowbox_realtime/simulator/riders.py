"""Simulated riders: where each one is at a given time, and what it does (pure).

Time is seconds since the simulation started, passed in. Everything a rider does is
decided by :func:`build_fleet` from the seed, so two runs with the same seed move the same
riders the same way (the GPS jitter too: it is derived from the seed and the time).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .routes import ROUTES, Route, offset_m

KMH = 1000.0 / 3600.0
MIN_SPEED_MPS = 15 * KMH
MAX_SPEED_MPS = 60 * KMH
GPS_JITTER_M = 4.0
BASE_ACCURACY_M = 5.0

# Which riders do something besides riding, as shares of the fleet (at least one each
# when the fleet is big enough to spare one).
SILENT_SHARE = 0.2
CROSSER_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report: what ``publish_location`` sends."""

    latitude: float
    longitude: float
    speed: float  # m/s
    heading: float  # degrees clockwise from north
    accuracy: float  # metres
    leg: int  # the route leg, signed by direction (tests use it to compare headings)


@dataclass(frozen=True, slots=True)
class Rider:
    index: int
    route: Route
    start_m: float  # where on the there-and-back loop (0 .. 2 * length) the rider starts
    base_speed: float  # m/s
    speed_swing: float  # m/s; the speed varies by up to this much around the base
    swing_period_s: float
    swing_phase: float
    silent: tuple[tuple[float, float], ...]  # [start, end) windows without reports
    sos_at: float | None  # when this rider sends an SOS, if it does
    crosses_area: bool
    seed: int

    @property
    def uid(self) -> str:
        return f"rider-{self.index}"

    def speed(self, t: float) -> float:
        return self.base_speed + self.speed_swing * math.sin(
            2 * math.pi * t / self.swing_period_s + self.swing_phase)

    def travelled(self, t: float) -> float:
        """Metres covered by time ``t``: the integral of :meth:`speed`."""
        omega = 2 * math.pi / self.swing_period_s
        return self.base_speed * t + self.speed_swing / omega * (
            math.cos(self.swing_phase) - math.cos(omega * t + self.swing_phase))

    def is_silent(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.silent)

    def true_fix(self, t: float) -> Fix:
        """Where the rider really is, without GPS error."""
        length = self.route.length_m
        along = (self.start_m + self.travelled(t)) % (2 * length)
        if along <= length:
            here = self.route.at(along)
            heading, leg = here.heading, here.leg + 1
        else:  # on the way back
            here = self.route.at(2 * length - along)
            heading, leg = (here.heading + 180.0) % 360.0, -(here.leg + 1)
        return Fix(here.point[0], here.point[1], self.speed(t), heading,
                   BASE_ACCURACY_M, leg)

    def fix(self, t: float) -> Fix:
        """What the rider's phone reports at ``t``: the true fix with a little GPS noise."""
        true = self.true_fix(t)
        noise = random.Random(f"{self.seed}:{self.index}:{round(t * 1000)}")
        north, east = (noise.uniform(-GPS_JITTER_M, GPS_JITTER_M) for _ in range(2))
        lat, lon = offset_m((true.latitude, true.longitude), north, east)
        return Fix(lat, lon, true.speed, true.heading,
                   BASE_ACCURACY_M + noise.uniform(0.0, GPS_JITTER_M), true.leg)


def build_fleet(count: int, seed: int) -> tuple[Rider, ...]:
    """``count`` riders (``rider-1`` ...) with routes and behaviours drawn from ``seed``."""
    if count < 1:
        raise ValueError("a fleet has at least one rider")
    rng = random.Random(seed)
    indices = list(range(1, count + 1))
    shuffled = indices[:]
    rng.shuffle(shuffled)
    # Distinct riders for each behaviour, so each one is visible on its own.
    sos_rider = shuffled[0]
    spare = shuffled[1:]
    silent = set(spare[:_share(count, SILENT_SHARE)])
    crossers = set(spare[len(silent):len(silent) + _share(count, CROSSER_SHARE)])
    crossing_routes = [route for route in ROUTES if route.boundary_crossings()]
    first_route = rng.randrange(len(ROUTES))
    riders = []
    for index in indices:
        base = rng.uniform(22.0, 45.0) * KMH
        swing = rng.uniform(0.0, min(base - MIN_SPEED_MPS, MAX_SPEED_MPS - base))
        period = rng.uniform(40.0, 120.0)
        phase = rng.uniform(0.0, 2 * math.pi)
        if index in crossers:
            route = crossing_routes[index % len(crossing_routes)]
            start = _just_before_a_crossing(route, base, rng)
        else:
            route = ROUTES[(first_route + index) % len(ROUTES)]
            start = rng.uniform(0.0, 2 * route.length_m)
        riders.append(Rider(
            index=index, route=route, start_m=start, base_speed=base, speed_swing=swing,
            swing_period_s=period, swing_phase=phase,
            silent=_silent_windows(rng) if index in silent else (),
            sos_at=rng.uniform(3.0, 15.0) if index == sos_rider else None,
            crosses_area=index in crossers, seed=seed))
    return tuple(riders)


def _share(count: int, share: float) -> int:
    return max(1, round(count * share)) if count >= 3 else 0


def _silent_windows(rng: random.Random) -> tuple[tuple[float, float], ...]:
    """Two gaps in the first few minutes: long enough to notice, short enough to watch."""
    first = rng.uniform(15.0, 45.0)
    first_end = first + rng.uniform(10.0, 30.0)
    second = first_end + rng.uniform(30.0, 90.0)
    return ((first, first_end), (second, second + rng.uniform(10.0, 30.0)))


def _just_before_a_crossing(route: Route, speed: float, rng: random.Random) -> float:
    """A start 10-40 s ahead of an area boundary, going either way along the route."""
    crossing = rng.choice(route.boundary_crossings())
    lead = rng.uniform(10.0, 40.0) * speed
    length = route.length_m
    if rng.random() < 0.5:
        return (crossing - lead) % (2 * length)
    return (2 * length - crossing - lead) % (2 * length)
