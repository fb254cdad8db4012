"""``python -m bench.geofence``: the cost of geofence checks per rider update, no server.

Riders wander around Dubai in steps of a few hundred metres among a mix of circles and
polygons (some overlapping); prints the mean time per ``GeofenceSet.move`` and the events
seen. Bounded: riders x moves updates, then it stops. Seeded, so runs are comparable.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from yellowbox_realtime.domain.geo import LatLon, LocalFrame
from yellowbox_realtime.domain.geofence import Circle, Fence, GeofenceSet, Polygon

# Roughly Dubai's built-up area.
SOUTH, NORTH, WEST, EAST = 24.95, 25.35, 55.0, 55.45


def make_fences(count: int, rng: random.Random) -> list[Fence]:
    fences = []
    for n in range(count):
        centre = LatLon(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST))
        radius = rng.uniform(200.0, 3000.0)
        if n % 2:
            fences.append(Fence(f"c{n}", f"Circle {n}", "zone", Circle(centre, radius)))
            continue
        # A star-shaped polygon: vertices at increasing angles, varying distances.
        frame = LocalFrame(centre)
        sides = rng.randint(5, 24)
        vertices = tuple(
            frame.to_latlon((r * math.cos(a), r * math.sin(a)))
            for a, r in ((2 * math.pi * i / sides, radius * rng.uniform(0.5, 1.0))
                         for i in range(sides)))
        fences.append(Fence(f"p{n}", f"Polygon {n}", "depot", Polygon(vertices)))
    return fences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--riders", type=int, default=5000)
    parser.add_argument("--fences", type=int, default=50)
    parser.add_argument("--moves", type=int, default=10, help="updates per rider")
    parser.add_argument("--step-m", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    geofences = GeofenceSet(make_fences(args.fences, rng))
    positions = {f"r{n}": LatLon(rng.uniform(SOUTH, NORTH), rng.uniform(WEST, EAST))
                 for n in range(args.riders)}
    events = 0
    for rider, position in positions.items():
        events += len(geofences.move(rider, None, position, 0.0))
    # Precomputed so the timed loop is only the geofence work.
    steps = [(rider, rng.uniform(0, 2 * math.pi)) for _ in range(args.moves)
             for rider in positions]
    started = time.perf_counter()
    for n, (rider, heading) in enumerate(steps):
        here = positions[rider]
        there = LocalFrame(here).to_latlon((args.step_m * math.cos(heading),
                                            args.step_m * math.sin(heading)))
        events += len(geofences.move(rider, here, there, float(n)))
        positions[rider] = there
    elapsed = time.perf_counter() - started
    print(f"{len(steps)} moves, {args.riders} riders, {args.fences} fences: "
          f"{elapsed / len(steps) * 1e6:.1f} us per move (including one projection), "
          f"{events} events, {geofences.riders()} riders inside a fence")


if __name__ == "__main__":
    main()
