"""What happens after an attempt: classification, backoff with jitter, Retry-After, budget."""

from __future__ import annotations

from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.outbox.retry import Outcome, RetryPolicy, classify, parse_retry_after

POLICY = RetryPolicy(max_attempts=5, max_age_s=3600, base_s=1, cap_s=60, retry_after_cap_s=120)


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.DONE), (201, Outcome.DONE), (204, Outcome.DONE), (299, Outcome.DONE),
    (None, Outcome.RETRY), (408, Outcome.RETRY), (429, Outcome.RETRY), (500, Outcome.RETRY),
    (502, Outcome.RETRY), (503, Outcome.RETRY), (504, Outcome.RETRY), (599, Outcome.RETRY),
    (400, Outcome.PERMANENT), (401, Outcome.PERMANENT), (403, Outcome.PERMANENT),
    (404, Outcome.PERMANENT), (409, Outcome.PERMANENT), (422, Outcome.PERMANENT),
    (301, Outcome.PERMANENT), (302, Outcome.PERMANENT), (100, Outcome.PERMANENT),
])
def test_classify(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now) == pytest.approx(90)
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now) == 0.0
    for unreadable in (None, "", "soon", "-5", "1.5", "Tue, 99 Foo 2026 00:00:00 GMT"):
        assert parse_retry_after(unreadable, now) is None


@given(attempts=st.integers(1, 200), r=st.floats(0, 1, exclude_max=True))
def test_full_jitter_stays_within_the_capped_exponential(attempts: int, r: float) -> None:
    delay = POLICY.backoff(attempts, lambda: r)
    assert 0 <= delay <= min(60, 2 ** (attempts - 1))


def test_the_ceiling_doubles_until_the_cap() -> None:
    almost_one = lambda: 0.999999  # noqa: E731
    ceilings = [POLICY.backoff(n, almost_one) for n in range(1, 9)]
    assert ceilings == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60], rel=1e-5)


def test_retry_after_is_a_floor_up_to_its_cap() -> None:
    zero = lambda: 0.0  # noqa: E731
    assert POLICY.decide(429, 1, 0, 30, zero).delay_s == 30
    assert POLICY.decide(503, 1, 0, 1000, zero).delay_s == 120
    # A shorter Retry-After than our own backoff does not hurry us.
    assert POLICY.decide(503, 4, 0, 1, lambda: 0.9).delay_s == pytest.approx(7.2)


def test_the_budget_by_attempts_and_by_age() -> None:
    zero = lambda: 0.0  # noqa: E731
    assert POLICY.decide(500, 4, 0, None, zero).outcome is Outcome.RETRY
    last = POLICY.decide(500, 5, 0, None, zero)
    assert last.outcome is Outcome.PERMANENT
    assert "max_attempts" in last.reason
    # The next attempt would come after max_age_s.
    old = POLICY.decide(None, 1, 3590, 60, zero)
    assert old.outcome is Outcome.PERMANENT
    assert "max_age_s" in old.reason
    assert POLICY.decide(None, 1, 3500, 60, zero).outcome is Outcome.RETRY


def test_permanent_failures_and_successes_ignore_the_budget() -> None:
    assert POLICY.decide(404, 1, 0, None, lambda: 0.5).outcome is Outcome.PERMANENT
    assert POLICY.decide(200, 99, 99_999, None, lambda: 0.5).outcome is Outcome.DONE
