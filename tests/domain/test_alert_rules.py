"""Alert rules: one speeding alert per episode; which geofence events are breaches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.domain.alert_rules import SpeedWatch, breach


def test_one_alert_per_speeding_episode_and_rearming_below_the_margin() -> None:
    watch = SpeedWatch(limit_mps=20.0, rearm_ratio=0.9)
    speeds = [10, 20, 21, 25, 19, 21, None, 17.9, 20.5, 18.0, 21]
    fired = [watch.check("r1", s, float(n)) for n, s in enumerate(speeds)]
    assert fired == [False, False, True, False, False, False, False, False, True, False,
                     False]


def test_riders_are_watched_separately_and_can_be_forgotten() -> None:
    watch = SpeedWatch(limit_mps=20.0)
    assert watch.check("r1", 30, 0) is True
    assert watch.check("r2", 30, 0) is True
    assert watch.check("r1", 30, 1) is False
    watch.forget("r1")
    assert watch.check("r1", 30, 2) is True
    assert watch.check("r2", 30, 2) is False


@pytest.mark.parametrize(("limit", "ratio"), [(0, 0.9), (-1, 0.9), (20, 0), (20, 1.5)])
def test_bad_limits_are_refused(limit: float, ratio: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SpeedWatch(limit, ratio)


@given(st.lists(st.none() | st.floats(0, 60), max_size=50))
def test_episodes_alternate_with_rearming(speeds: list[float | None]) -> None:
    watch = SpeedWatch(limit_mps=20.0, rearm_ratio=0.9)
    in_episode = False
    for n, speed in enumerate(speeds):
        fired = watch.check("r", speed, float(n))
        assert fired == (not in_episode and speed is not None and speed > 20.0)
        if fired:
            in_episode = True
        elif in_episode and speed is not None and speed < 18.0:
            in_episode = False


@pytest.mark.parametrize(("kind", "event", "expected"), [
    ("no_go", "enter", True),
    ("no_go", "exit", False),
    ("zone", "enter", False),
    ("zone", "exit", False),
    ("depot", "enter", False),
    ("depot", "exit", False),
])
def test_only_entering_a_no_go_area_is_a_breach(kind: str, event: str, expected: bool) -> None:
    assert breach(kind, event) is expected
