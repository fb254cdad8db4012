import math
from typing import Any

import pytest

from yellowbox_realtime.domain.location import LocationLimits, TokenBucket, validate_location
from yellowbox_realtime.errors import RateLimited, ValidationError

NOW = 1_790_000_000.0
LIMITS = LocationLimits(max_accuracy_m=10_000, max_speed_mps=100)


def test_valid_location_is_enriched_with_the_token_rider_and_server_time() -> None:
    update = validate_location(
        {"latitude": 25.2048, "longitude": 55.2708, "accuracy": 5, "speed": 8.5, "heading": 90,
         "timestamp": (NOW - 2) * 1000},
        "rider-1", NOW, LIMITS)
    assert update["riderId"] == "rider-1"
    assert update["latitude"] == 25.2048
    assert update["longitude"] == 55.2708
    assert update["timestamp"].endswith("Z")
    assert update["recordedAt"].endswith("Z")
    assert update["recordedAt"] < update["timestamp"]


def test_iso_timestamps_are_accepted() -> None:
    update = validate_location({"latitude": 0, "longitude": 0,
                                "timestamp": "2026-09-21T12:00:00Z"}, "r", NOW, LIMITS)
    assert update["recordedAt"] == "2026-09-21T12:00:00.000Z"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, "must be an object"),
        ([25, 55], "must be an object"),
        ({"longitude": 55}, "latitude is required"),
        ({"latitude": 25}, "longitude is required"),
        ({"latitude": 91, "longitude": 55}, "latitude must be between -90 and 90"),
        ({"latitude": 25, "longitude": -181}, "longitude must be between"),
        ({"latitude": "25", "longitude": 55}, "latitude must be a number"),
        ({"latitude": True, "longitude": 55}, "latitude must be a number"),
        ({"latitude": math.nan, "longitude": 55}, "latitude must be between"),
        ({"latitude": 25, "longitude": 55, "accuracy": -1}, "accuracy must be between"),
        ({"latitude": 25, "longitude": 55, "speed": 1000}, "speed must be between"),
        ({"latitude": 25, "longitude": 55, "heading": 400}, "heading must be between"),
        ({"latitude": 25, "longitude": 55, "riderId": "someone-else"}, "unknown location field"),
        ({"latitude": 25, "longitude": 55, "timestamp": (NOW + 3600) * 1000}, "in the future"),
        ({"latitude": 25, "longitude": 55, "timestamp": (NOW - 90000) * 1000}, "a day old"),
        ({"latitude": 25, "longitude": 55, "timestamp": "yesterday"}, "not a valid ISO"),
        ({"latitude": 25, "longitude": 55, "timestamp": "2026-09-21T12:00:00"}, "time zone"),
    ],
)
def test_invalid_locations_are_refused_with_a_reason(payload: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_location(payload, "rider-1", NOW, LIMITS)


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    with pytest.raises(RateLimited, match="at most 2 per second"):
        bucket.take(0.0)
    bucket.take(0.5)  # one token refilled
    with pytest.raises(RateLimited):
        bucket.take(0.5)
    for _ in range(3):
        bucket.take(100.0)  # refill is capped at the burst
    with pytest.raises(RateLimited):
        bucket.take(100.0)
