"""logs.LogThrottle: lines of a kind at a fixed rate, the rest counted and summed up."""

from __future__ import annotations

import logging

import pytest

from yellowbox_realtime.logs import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_lines_are_counted_and_summed_up_once_an_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = logging.getLogger("throttled")
    clock = Clock()
    throttle = LogThrottle(1.0, 3, summary_every_s=10.0, clock=clock)
    assert [throttle.admit(log, "socket connected") for _ in range(5)] == [
        True, True, True, False, False]
    # Kinds have budgets of their own.
    assert throttle.admit(log, "socket disconnected")
    assert throttle.suppressed("socket connected") == 2
    assert not caplog.records
    # A sustained flood: one line a second passes, and once 10 s are up one summary.
    for _ in range(20):
        clock.now += 0.5
        throttle.admit(log, "socket connected")
    summaries = [r for r in caplog.records if "suppressed" in r.getMessage()]
    assert len(summaries) == 1
    assert summaries[0].getMessage().startswith("12 similar lines suppressed (socket connected)")
    assert summaries[0].suppressed == 12  # type: ignore[attr-defined]
    # The count starts again after the summary (the last line, at 10 s, passed).
    assert throttle.suppressed("socket connected") == 0
    clock.now += 0.1
    assert not throttle.admit(log, "socket connected")
    assert throttle.suppressed("socket connected") == 1


def test_a_rate_of_zero_lets_every_line_through() -> None:
    throttle = LogThrottle(0, 0)
    assert all(throttle.admit(logging.getLogger("t"), "k") for _ in range(1000))
