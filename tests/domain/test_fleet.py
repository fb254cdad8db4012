"""The fleet's last positions: one entry per rider, bounded, with a recent count."""

from __future__ import annotations

import pytest

from yellowbox_realtime.domain.fleet import FleetState


def at(rider: str, latitude: float) -> dict[str, object]:
    return {"riderId": rider, "latitude": latitude, "longitude": 55.0}


def test_the_snapshot_holds_each_riders_last_update() -> None:
    fleet = FleetState()
    fleet.update(at("r1", 25.0), 0)
    fleet.update(at("r2", 24.0), 1)
    fleet.update(at("r1", 25.5), 2)
    assert fleet.snapshot() == [at("r2", 24.0), at("r1", 25.5)]
    assert len(fleet) == 2


def test_riders_seen_within_a_window() -> None:
    fleet = FleetState()
    for n, heard in enumerate([0, 50, 100, 200]):
        fleet.update(at(f"r{n}", 25.0), heard)
    assert fleet.seen_within(100, now=200) == 2
    assert fleet.seen_within(1000, now=200) == 4
    assert fleet.seen_within(10, now=500) == 0


def test_the_least_recently_heard_rider_goes_first_beyond_the_cap() -> None:
    fleet = FleetState(max_riders=2)
    fleet.update(at("r1", 1), 0)
    fleet.update(at("r2", 2), 1)
    fleet.update(at("r1", 3), 2)
    fleet.update(at("r3", 4), 3)
    assert [r["riderId"] for r in fleet.snapshot()] == ["r1", "r3"]
    with pytest.raises(ValueError, match="max_riders"):
        FleetState(max_riders=0)
