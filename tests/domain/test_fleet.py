"""The fleet: last positions, online/stale/offline by time and connections, refused fixes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.domain.fleet import FleetLimits, FleetState, StatusChange
from yellowbox_realtime.errors import ValidationError

T0 = 1_790_000_000.0
LIMITS = FleetLimits(stale_after_s=30, offline_after_s=120, disconnect_grace_s=15)
# About 111 m per 0.001 degree of latitude.
DEG_PER_M = 1 / 111_195.0


def fix(rider: str, latitude: float = 25.2, longitude: float = 55.3,
        **extra: Any) -> dict[str, Any]:
    return {"riderId": rider, "latitude": latitude, "longitude": longitude,
            "timestamp": "2026-09-21T12:00:00.000Z", **extra}


def statuses(changes: list[StatusChange]) -> list[tuple[str, str | None, str]]:
    return [(c.rider_id, c.previous, c.status) for c in changes]


# -- positions and views ----------------------------------------------------------------

def test_a_view_is_the_contract_shape_with_the_status() -> None:
    fleet = FleetState()
    update = fix("r1", speed=4.5, heading=90.0, accuracy=8.0, recordedAt="ignored")
    changes = fleet.update(update, T0, T0)
    view = {"riderId": "r1", "latitude": 25.2, "longitude": 55.3, "speed": 4.5,
            "heading": 90.0, "accuracy": 8.0, "timestamp": "2026-09-21T12:00:00.000Z",
            "status": "online"}
    assert fleet.view("r1") == view
    assert changes == [StatusChange("r1", "online", None, T0, view)]
    assert fleet.view("nobody") is None


def test_a_view_carries_the_extra_fields_of_the_last_fix_only() -> None:
    fleet = FleetState()
    fleet.update(fix("r1", extra={"battery": 80}), T0, T0)
    assert (fleet.view("r1") or {}).get("extra") == {"battery": 80}
    fleet.update(fix("r1"), T0 + 1, T0 + 1)
    assert "extra" not in (fleet.view("r1") or {"extra": "no view"})


def test_the_snapshot_holds_each_riders_last_fix_least_recently_heard_first() -> None:
    fleet = FleetState()
    fleet.update(fix("r1", 25.0), T0, T0)
    fleet.update(fix("r2", 24.0), T0 + 1, T0 + 1)
    assert fleet.update(fix("r1", 25.001), T0 + 2, T0 + 2) == []
    assert [(v["riderId"], v["latitude"]) for v in fleet.snapshot()] == [
        ("r2", 24.0), ("r1", 25.001)]
    assert len(fleet) == 2


def test_the_least_recently_heard_rider_goes_first_beyond_the_cap() -> None:
    fleet = FleetState(FleetLimits(max_riders=2))
    fleet.update(fix("r1"), T0, T0)
    fleet.update(fix("r2"), T0 + 1, T0 + 1)
    fleet.update(fix("r1"), T0 + 2, T0 + 2)
    fleet.update(fix("r3"), T0 + 3, T0 + 3)
    assert [v["riderId"] for v in fleet.snapshot()] == ["r1", "r3"]
    assert fleet.counts() == {"online": 2, "stale": 0, "offline": 0}
    assert "r2" not in [v["riderId"] for v in fleet.drain_moved()]


@pytest.mark.parametrize(
    "limits",
    [{"stale_after_s": 0}, {"stale_after_s": 200, "offline_after_s": 100},
     {"disconnect_grace_s": -1}, {"max_jump_speed_mps": 0}, {"jump_allowance_m": -1},
     {"max_riders": 0}])
def test_inconsistent_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        FleetLimits(**limits)  # type: ignore[arg-type]


# -- refused fixes ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("moved_m", "elapsed_s", "accuracy", "message"),
    [
        (0.0, -12.0, None, r"older than the last one \(12\.0 s before it\)"),
        (5200.0, 3.0, None, r"impossible jump: 5\.2 km in 3\.0 s \(1733 m/s\)"),
        (300.0, 0.0, None, r"impossible jump: 300 m in 0\.0 s$"),
        # 70 m/s over 10 s plus 50 m of noise is the most a rider can go: just past it.
        (760.0, 10.0, None, "impossible jump"),
        # Poor accuracy on both fixes widens the allowance: 760 m is within 700 + 3 * 50.
        (860.0, 10.0, 50.0, "impossible jump"),
    ],
)
def test_fixes_that_go_back_or_jump_are_refused(moved_m: float, elapsed_s: float,
                                                accuracy: float | None, message: str) -> None:
    fleet = FleetState()
    extra = {} if accuracy is None else {"accuracy": accuracy}
    fleet.update(fix("r1", 25.2, **extra), T0, T0)
    before = fleet.snapshot()
    with pytest.raises(ValidationError, match=message):
        fleet.check(fix("r1", 25.2 + moved_m * DEG_PER_M, **extra), T0 + elapsed_s)
    assert fleet.snapshot() == before


@pytest.mark.parametrize(
    ("moved_m", "elapsed_s", "accuracy"),
    [
        (0.0, 0.0, None),        # the same fix again
        (40.0, 0.0, None),       # GPS noise at the same instant
        (740.0, 10.0, None),     # 69 m/s beyond the noise: fast but possible
        (840.0, 10.0, 50.0),     # the accuracies widen the allowance
        (30_000.0, 3600.0, None),  # far, after a long silence
    ],
)
def test_plausible_fixes_pass(moved_m: float, elapsed_s: float, accuracy: float | None) -> None:
    fleet = FleetState()
    extra = {} if accuracy is None else {"accuracy": accuracy}
    fleet.update(fix("r1", 25.2, **extra), T0, T0)
    fleet.check(fix("r1", 25.2 + moved_m * DEG_PER_M, **extra), T0 + elapsed_s)


def test_a_riders_first_fix_is_never_refused() -> None:
    FleetState().check(fix("new", 89.0), 0.0)


# -- status by time -----------------------------------------------------------------------

def test_silence_makes_a_rider_stale_then_offline_and_a_fix_brings_it_back() -> None:
    fleet = FleetState(LIMITS)
    fleet.update(fix("r1"), T0, T0)
    assert fleet.sweep(T0 + 29.9) == []
    assert statuses(fleet.sweep(T0 + 30)) == [("r1", "online", "stale")]
    assert fleet.sweep(T0 + 60) == []
    assert statuses(fleet.sweep(T0 + 120)) == [("r1", "stale", "offline")]
    assert fleet.counts() == {"online": 0, "stale": 0, "offline": 1}
    back = fleet.update(fix("r1"), T0 + 200, T0 + 200)
    assert statuses(back) == [("r1", "offline", "online")]
    assert back[0].view["status"] == "online"
    assert fleet.counts() == {"online": 1, "stale": 0, "offline": 0}


def test_fixes_keep_a_rider_online_and_a_late_sweep_catches_up_in_one_step() -> None:
    fleet = FleetState(LIMITS)
    for second in range(0, 100, 10):
        fleet.update(fix("r1"), T0 + second, T0 + second)
        assert fleet.sweep(T0 + second + 5) == []
    assert statuses(fleet.sweep(T0 + 1000)) == [("r1", "online", "offline")]


def test_liveness_counts_from_when_the_fix_arrived_not_when_it_was_taken() -> None:
    fleet = FleetState(LIMITS)
    fleet.update(fix("r1"), T0 - 60, T0)
    assert fleet.view("r1")["status"] == "online"  # type: ignore[index]
    assert fleet.sweep(T0 + 29) == []


def test_equal_stale_and_offline_limits_go_straight_to_offline() -> None:
    fleet = FleetState(FleetLimits(stale_after_s=60, offline_after_s=60))
    fleet.update(fix("r1"), T0, T0)
    assert statuses(fleet.sweep(T0 + 60)) == [("r1", "online", "offline")]


# -- status by connections ----------------------------------------------------------------

def test_the_last_connection_closing_starts_a_grace_period() -> None:
    fleet = FleetState(LIMITS)
    assert fleet.connected("r1", T0) == []
    assert fleet.connected("r1", T0) == []
    fleet.update(fix("r1"), T0, T0)
    assert fleet.disconnected("r1", T0 + 1) == []
    assert fleet.sweep(T0 + 20) == []  # one connection is still open
    assert fleet.disconnected("r1", T0 + 2) == []
    assert fleet.sweep(T0 + 16.9) == []
    assert statuses(fleet.sweep(T0 + 17)) == [("r1", "online", "offline")]


def test_reconnecting_within_the_grace_period_cancels_it() -> None:
    fleet = FleetState(LIMITS)
    fleet.connected("r1", T0)
    fleet.update(fix("r1"), T0, T0)
    fleet.disconnected("r1", T0 + 1)
    assert fleet.connected("r1", T0 + 5) == []
    assert fleet.sweep(T0 + 25) == []
    assert statuses(fleet.sweep(T0 + 30)) == [("r1", "online", "stale")]


def test_reconnecting_after_going_offline_restores_the_status_its_last_fix_allows() -> None:
    fleet = FleetState(LIMITS)
    fleet.connected("r1", T0)
    fleet.update(fix("r1"), T0, T0)
    fleet.disconnected("r1", T0)
    assert statuses(fleet.sweep(T0 + 15)) == [("r1", "online", "offline")]
    assert statuses(fleet.connected("r1", T0 + 20)) == [("r1", "offline", "online")]
    assert statuses(fleet.sweep(T0 + 30)) == [("r1", "online", "stale")]
    fleet.disconnected("r1", T0 + 40)
    assert statuses(fleet.sweep(T0 + 55)) == [("r1", "stale", "offline")]
    assert statuses(fleet.connected("r1", T0 + 200)) == []  # its last fix is too old


def test_a_fix_after_the_connection_closed_ends_the_grace_period() -> None:
    fleet = FleetState(LIMITS)
    fleet.connected("r1", T0)
    fleet.update(fix("r1"), T0, T0)
    fleet.disconnected("r1", T0 + 1)
    fleet.update(fix("r1"), T0 + 2, T0 + 2)
    assert fleet.sweep(T0 + 31) == []
    assert statuses(fleet.sweep(T0 + 32)) == [("r1", "online", "stale")]


def test_a_rider_without_fixes_has_no_view_but_its_connections_are_counted() -> None:
    fleet = FleetState(LIMITS)
    assert fleet.connected("r1", T0) == []
    assert fleet.view("r1") is None
    assert fleet.snapshot() == []
    fleet.update(fix("r1"), T0 + 1, T0 + 1)
    # Still connected (the count was kept): no grace period runs.
    assert fleet.sweep(T0 + 20) == []
    assert fleet.disconnected("r1", T0 + 21) == []
    assert statuses(fleet.sweep(T0 + 36)) == [("r1", "online", "offline")]
    assert fleet.disconnected("ghost", T0) == []


def test_grace_zero_makes_a_disconnect_immediate() -> None:
    fleet = FleetState(FleetLimits(disconnect_grace_s=0))
    fleet.connected("r1", T0)
    fleet.update(fix("r1"), T0, T0)
    assert statuses(fleet.disconnected("r1", T0 + 1)) == [("r1", "online", "offline")]
    assert fleet.sweep(T0 + 1000) == []


# -- conflation, counts, forgetting -------------------------------------------------------

def test_drain_moved_gives_each_rider_that_moved_or_changed_once() -> None:
    fleet = FleetState(LIMITS)
    fleet.update(fix("r1", 25.0), T0, T0)
    fleet.update(fix("r2", 24.0), T0, T0)
    fleet.update(fix("r1", 25.0001), T0 + 1, T0 + 1)
    assert [(v["riderId"], v["latitude"]) for v in fleet.drain_moved()] == [
        ("r1", 25.0001), ("r2", 24.0)]
    assert fleet.drain_moved() == []
    fleet.update(fix("r3"), T0 + 20, T0 + 20)
    fleet.sweep(T0 + 31)
    drained = [(v["riderId"], v["status"]) for v in fleet.drain_moved()]
    assert drained[0] == ("r3", "online")
    assert sorted(drained[1:]) == [("r1", "stale"), ("r2", "stale")]


def test_forget_removes_the_rider_everywhere() -> None:
    fleet = FleetState(LIMITS)
    fleet.update(fix("r1"), T0, T0)
    fleet.update(fix("r2"), T0, T0)
    fleet.forget("r1")
    fleet.forget("unknown")
    assert fleet.view("r1") is None
    assert fleet.counts() == {"online": 1, "stale": 0, "offline": 0}
    assert [v["riderId"] for v in fleet.drain_moved()] == ["r2"]
    assert statuses(fleet.sweep(T0 + 30)) == [("r2", "online", "stale")]


def test_counts_always_have_the_three_keys() -> None:
    assert FleetState().counts() == {"online": 0, "stale": 0, "offline": 0}


def test_a_sweep_visits_only_the_riders_whose_deadline_came() -> None:
    fleet = FleetState(LIMITS)
    for n in range(1000):
        fleet.update(fix(f"r{n}"), T0, T0)
    for second in range(1, 29):
        for n in range(1000):
            fleet.update(fix(f"r{n}"), T0 + second, T0 + second)
        assert fleet.sweep(T0 + second) == []
    # One entry per rider however many fixes it sent.
    assert len(fleet._deadlines) == 1000


# -- a model of the rules -----------------------------------------------------------------

Op = tuple[str, int, float]
OPS = st.lists(st.tuples(st.sampled_from(["fix", "connect", "disconnect", "sweep"]),
                         st.integers(0, 3), st.floats(0, 40)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_status_after_a_sweep_follows_the_rules_and_changes_chain(ops: list[Op]) -> None:
    fleet = FleetState(LIMITS)
    now = T0
    heard: dict[str, float] = {}
    conns: dict[str, int] = {}
    closed: dict[str, float | None] = {}
    last: dict[str, str] = {}

    def record(changes: list[StatusChange]) -> None:
        for change in changes:
            assert change.previous == last.get(change.rider_id)
            assert change.view["status"] == change.status
            last[change.rider_id] = change.status

    for op, n, step in ops:
        now += step
        rider = f"r{n}"
        if op == "fix":
            heard[rider], closed[rider] = now, None
            record(fleet.update(fix(rider), now, now))
        elif op == "connect":
            conns[rider] = conns.get(rider, 0) + 1
            closed[rider] = None
            record(fleet.connected(rider, now))
        elif op == "disconnect":
            conns[rider] = conns.get(rider, 0) - 1
            if conns[rider] <= 0:
                conns[rider], closed[rider] = 0, now
            record(fleet.disconnected(rider, now))
        record(fleet.sweep(now))
        for rider_id, when in heard.items():
            gone = closed.get(rider_id)
            if now >= when + 120 or (conns.get(rider_id, 0) == 0 and gone is not None
                                     and now >= gone + 15):
                expected = "offline"
            elif now >= when + 30:
                expected = "stale"
            else:
                expected = "online"
            assert last[rider_id] == expected
            assert fleet.view(rider_id)["status"] == expected  # type: ignore[index]
        tally = {"online": 0, "stale": 0, "offline": 0}
        for status in last.values():
            tally[status] += 1
        assert fleet.counts() == tally
