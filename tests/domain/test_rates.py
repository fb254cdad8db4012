"""Event rates: the mean over the last whole seconds, from a ring of buckets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yellowbox_realtime.domain.rates import EventRate

T0 = 1_790_000_000.0


def test_the_rate_is_the_mean_of_the_last_whole_seconds() -> None:
    rate = EventRate(window_s=4)
    assert rate.per_second(T0) == 0.0
    rate.add(T0 + 0.1, 4)
    rate.add(T0 + 0.9)
    rate.add(T0 + 1.5, 3)
    # The second in progress does not count yet.
    assert rate.per_second(T0 + 0.95) == 0.0
    assert rate.per_second(T0 + 1.0) == 5 / 4
    assert rate.per_second(T0 + 2.0) == 8 / 4
    assert rate.per_second(T0 + 4.9) == 8 / 4
    assert rate.per_second(T0 + 5.0) == 3 / 4
    assert rate.per_second(T0 + 6.0) == 0.0


def test_a_bucket_from_a_lap_ago_counts_as_empty() -> None:
    rate = EventRate(window_s=2)
    rate.add(T0, 10)
    rate.add(T0 + 3, 1)  # the same slot, a lap later
    assert rate.per_second(T0 + 4) == 1 / 2
    rate.add(T0, 5)      # older than the slot holds: dropped
    assert rate.per_second(T0 + 4) == 1 / 2


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        EventRate(0)


EVENTS = st.lists(st.tuples(st.floats(0, 30), st.integers(1, 5)), max_size=50)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), EVENTS, st.floats(0, 40))
def test_the_ring_agrees_with_counting_every_event(
        window: int, events: list[tuple[float, int]], later: float) -> None:
    rate = EventRate(window)
    clock = T0
    seen: list[tuple[float, int]] = []
    for step, count in sorted(events):
        clock = T0 + step
        rate.add(clock, count)
        seen.append((clock, count))
    now = clock + later
    current = int(now)
    expected = sum(c for t, c in seen if current - window <= int(t) < current)
    assert rate.per_second(now) == expected / window
