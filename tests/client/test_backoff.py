"""Reconnection delays: bounds per jitter mode, the cap, reproducibility."""

from __future__ import annotations

import random

import pytest

from yellowbox_realtime.client import Backoff


def test_ceiling_grows_by_the_factor_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=10.0, factor=2.0, jitter="none")
    assert [backoff.delay(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert Backoff(initial=1.0, maximum=30.0, jitter="none").delay(5000) == 30.0


@pytest.mark.parametrize("attempt", range(12))
def test_full_jitter_stays_between_zero_and_the_ceiling(attempt: int) -> None:
    backoff = Backoff(initial=0.25, maximum=8.0, jitter="full", rng=random.Random(attempt))
    ceiling = backoff.ceiling(attempt)
    delays = [backoff.delay(attempt) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter uses the whole range, not just its top half.
    assert min(delays) < ceiling / 4
    assert max(delays) > ceiling * 3 / 4


@pytest.mark.parametrize("attempt", range(12))
def test_equal_jitter_stays_in_the_upper_half(attempt: int) -> None:
    backoff = Backoff(initial=0.25, maximum=8.0, jitter="equal", rng=random.Random(attempt))
    ceiling = backoff.ceiling(attempt)
    delays = [backoff.delay(attempt) for _ in range(500)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert min(delays) < ceiling * 0.6
    assert max(delays) > ceiling * 0.9


def test_a_seeded_rng_gives_the_same_delays() -> None:
    first = Backoff(jitter="full", rng=random.Random(42))
    second = Backoff(jitter="full", rng=random.Random(42))
    assert [first.delay(n) for n in range(10)] == [second.delay(n) for n in range(10)]


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"initial": 0.0}, "initial"),
    ({"initial": 5.0, "maximum": 1.0}, "initial"),
    ({"factor": 0.5}, "factor"),
    ({"jitter": "half"}, "jitter"),
])
def test_invalid_settings_are_refused(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_attempt_numbers_start_at_zero() -> None:
    with pytest.raises(ValueError, match="attempt"):
        Backoff().delay(-1)
