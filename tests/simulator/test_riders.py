"""The rider model: plausible speeds and headings, inside Dubai, repeatable by seed."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from yellowbox_realtime.simulator.riders import (
    MAX_SPEED_MPS,
    MIN_SPEED_MPS,
    build_fleet,
)
from yellowbox_realtime.simulator.routes import DUBAI, area_at, bearing_deg, distance_m

TIMES = [t / 2 for t in range(0, 1200)]  # ten minutes, every half second


def angle_between(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("seed", [1, 2, 99])
def test_speeds_stay_within_scooter_bounds(seed: int) -> None:
    for rider in build_fleet(30, seed):
        for t in TIMES:
            assert MIN_SPEED_MPS - 1e-9 <= rider.speed(t) <= MAX_SPEED_MPS + 1e-9
        # The distance actually covered agrees with the reported speed.
        covered = rider.travelled(60.0) - rider.travelled(0.0)
        assert MIN_SPEED_MPS * 60 - 1e-6 <= covered <= MAX_SPEED_MPS * 60 + 1e-6


def test_positions_reported_stay_inside_the_dubai_bounding_box() -> None:
    for rider in build_fleet(30, 7):
        for t in TIMES[::10]:
            fix = rider.fix(t)
            assert DUBAI.contains((fix.latitude, fix.longitude))
            assert 0.0 <= fix.heading < 360.0


def test_headings_point_the_way_the_rider_moves() -> None:
    compared = 0
    for rider in build_fleet(20, 3):
        for t in TIMES:
            here, then = rider.true_fix(t), rider.true_fix(t + 0.5)
            if here.leg != then.leg:
                continue  # a corner or a turnaround between the two
            moved = bearing_deg((here.latitude, here.longitude),
                                (then.latitude, then.longitude))
            assert angle_between(moved, here.heading) < 1.0, (rider.uid, t)
            compared += 1
    assert compared > 0.9 * 20 * len(TIMES)


def test_the_rider_moves_as_fast_as_it_says() -> None:
    for rider in build_fleet(10, 5):
        for t in TIMES[::20]:
            here, then = rider.true_fix(t), rider.true_fix(t + 1.0)
            if here.leg != then.leg:
                continue
            moved = distance_m((here.latitude, here.longitude), (then.latitude, then.longitude))
            assert moved == pytest.approx(rider.speed(t + 0.5), rel=0.02)


def test_gps_jitter_is_small_and_varies() -> None:
    rider = build_fleet(1, 11)[0]
    offsets = []
    for t in TIMES[:50]:
        true, fix = rider.true_fix(t), rider.fix(t)
        offsets.append(distance_m((true.latitude, true.longitude),
                                  (fix.latitude, fix.longitude)))
    assert max(offsets) < 10.0
    assert len({round(offset, 3) for offset in offsets}) > 40


def test_the_same_seed_gives_the_same_fleet_and_fixes() -> None:
    first, again, other = build_fleet(20, 42), build_fleet(20, 42), build_fleet(20, 43)
    assert first == again
    assert [r.fix(12.5) for r in first] == [r.fix(12.5) for r in again]
    assert [r.fix(12.5) for r in first] != [r.fix(12.5) for r in other]


def test_behaviours_are_spread_over_distinct_riders() -> None:
    fleet = build_fleet(20, 8)
    sos = [rider for rider in fleet if rider.sos_at is not None]
    silent = [rider for rider in fleet if rider.silent]
    crossers = [rider for rider in fleet if rider.crosses_area]
    assert len(sos) == 1
    assert 1 <= len(silent) < 10
    assert 1 <= len(crossers) < 10
    assert not {r.index for r in sos} & {r.index for r in silent} & {r.index for r in crossers}
    assert len({rider.route.name for rider in fleet}) >= 5
    assert [rider.uid for rider in fleet] == [f"rider-{n}" for n in range(1, 21)]


def test_a_single_rider_still_rides_and_sends_the_sos() -> None:
    (rider,) = build_fleet(1, 1)
    assert rider.sos_at is not None
    assert not rider.silent
    with pytest.raises(ValueError, match="at least one rider"):
        build_fleet(0, 1)


def test_silent_riders_stop_reporting_for_a_while_then_resume() -> None:
    for rider in (r for r in build_fleet(20, 8) if r.silent):
        states = [rider.is_silent(t) for t in TIMES]
        assert not states[0]
        # Silent then speaking again, twice: False -> True -> False -> True -> False.
        changes = sum(1 for a, b in itertools.pairwise(states) if a != b)
        assert changes == 4, rider.uid
        for start, end in rider.silent:
            assert 10.0 <= end - start <= 30.0
            assert rider.is_silent(start)
            assert not rider.is_silent(end)


def test_crossers_enter_or_leave_a_named_area_within_a_minute() -> None:
    for rider in (r for r in build_fleet(20, 8) if r.crosses_area):
        areas = {area_at((fix.latitude, fix.longitude))
                 for fix in (rider.true_fix(t) for t in TIMES[:120])}
        assert len(areas) >= 2, rider.uid
        assert areas - {None}, rider.uid


def test_riders_turn_around_at_the_end_of_their_route() -> None:
    rider = build_fleet(1, 1)[0]
    near_end = dataclasses.replace(rider, start_m=rider.route.length_m - 20.0)
    assert near_end.true_fix(0).leg > 0
    later = near_end.true_fix(10.0)  # 40-170 m on: past the end, on the last leg
    assert later.leg < 0  # coming back
    assert angle_between(later.heading, near_end.true_fix(0).heading) == pytest.approx(
        180.0, abs=1.0)

