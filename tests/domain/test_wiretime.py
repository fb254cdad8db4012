"""Wire times: ISO 8601 UTC with milliseconds and Z, read back to the millisecond."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.domain.wiretime import day_at_offset, iso, parse_iso, to_millis
from yellowbox_realtime.errors import ValidationError


def test_the_format_and_its_inverse() -> None:
    assert iso(1_790_000_000.25) == "2026-09-21T14:13:20.250Z"
    assert parse_iso("2026-09-21T14:13:20.250Z") == 1_790_000_000.25
    assert parse_iso("2026-09-21T18:13:20.250+04:00") == 1_790_000_000.25


@pytest.mark.parametrize(("text", "message"), [
    (12, "must be an ISO 8601 string"), ("noon", "not a valid"),
    ("2026-09-21T14:13:20", "time zone")])
def test_bad_times_are_refused(text: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_iso(text)


@given(st.floats(0, 4e9))
def test_a_time_read_back_is_stable_and_within_a_millisecond(epoch: float) -> None:
    millis = to_millis(epoch)
    assert abs(millis - epoch) < 0.001
    assert to_millis(millis) == millis
    assert iso(millis) == iso(epoch)


def test_days_at_an_offset() -> None:
    # 20:00 UTC on 27 November is midnight in Dubai.
    evening = parse_iso("2026-11-27T20:00:00Z")
    assert day_at_offset(evening - 1, 4) == "2026-11-27"
    assert day_at_offset(evening, 4) == "2026-11-28"
    assert day_at_offset(evening, 0) == "2026-11-27"
