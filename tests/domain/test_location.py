import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yellowbox_realtime.domain.location import (
    MAX_EXTRA_FIELDS,
    SHOWN_NAME_CHARS,
    SHOWN_UNKNOWN_FIELDS,
    ExtraFieldType,
    LocationLimits,
    TokenBucket,
    validate_location,
)
from yellowbox_realtime.errors import RateLimited, ValidationError

NOW = 1_790_000_000.0
LIMITS = LocationLimits(max_accuracy_m=10_000, max_speed_mps=100)
EXTRAS = LocationLimits(10_000, 100, {"battery": "integer", "appVersion": "string",
                                      "temperature": "number", "charging": "boolean"},
                        max_extra_string_chars=8)
HERE = {"latitude": 25.2, "longitude": 55.27}


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
        ({"latitude": 25, "longitude": 55, "riderId": "someone-else"}, "riderId must be"),
        ({"latitude": 25, "longitude": 55, "riderId": ["rider-1"]}, "riderId must be"),
        ({"latitude": 25, "longitude": 55, "battery": 80}, "unknown location field(s): 'battery'"),
        ({"latitude": 10**400, "longitude": 55}, "latitude must be between"),
        ({"latitude": 25, "longitude": 55, "timestamp": (NOW + 3600) * 1000}, "in the future"),
        ({"latitude": 25, "longitude": 55, "timestamp": (NOW - 90000) * 1000}, "a day old"),
        ({"latitude": 25, "longitude": 55, "timestamp": "yesterday"}, "not a valid ISO"),
        ({"latitude": 25, "longitude": 55, "timestamp": "2026-09-21T12:00:00"}, "time zone"),
    ],
)
def test_invalid_locations_are_refused_with_a_reason(payload: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate_location(payload, "rider-1", NOW, LIMITS)


@pytest.mark.parametrize("claimed", ["rider-1", None])
def test_the_riders_own_id_or_none_is_accepted_and_the_tokens_is_used(claimed: Any) -> None:
    update = validate_location({**HERE, "riderId": claimed}, "rider-1", NOW, LIMITS)
    assert update == validate_location(HERE, "rider-1", NOW, LIMITS)
    assert update["riderId"] == "rider-1"


def test_configured_extra_fields_are_passed_on_under_extra() -> None:
    update = validate_location({**HERE, "battery": 80, "appVersion": "2.4.1",
                                "temperature": 31, "charging": False}, "r", NOW, EXTRAS)
    assert update["extra"] == {"battery": 80, "appVersion": "2.4.1", "temperature": 31.0,
                               "charging": False}
    assert update["latitude"] == 25.2


def test_a_fix_without_extra_fields_has_no_extra() -> None:
    assert "extra" not in validate_location(HERE, "r", NOW, EXTRAS)
    assert "extra" not in validate_location({**HERE, "battery": None}, "r", NOW, EXTRAS)
    assert validate_location({**HERE, "battery": None, "charging": True}, "r", NOW,
                             EXTRAS)["extra"] == {"charging": True}


def test_an_integer_written_as_a_float_counts_as_the_integer() -> None:
    extra = validate_location({**HERE, "battery": 80.0}, "r", NOW, EXTRAS)["extra"]
    assert extra == {"battery": 80}
    assert type(extra["battery"]) is int


def test_a_string_extra_may_be_as_long_as_the_limit_and_no_longer() -> None:
    assert validate_location({**HERE, "appVersion": "x" * 8}, "r", NOW,
                             EXTRAS)["extra"] == {"appVersion": "x" * 8}
    with pytest.raises(ValidationError, match="appVersion must be a string of at most 8"):
        validate_location({**HERE, "appVersion": "x" * 9}, "r", NOW, EXTRAS)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"battery": "80"}, "battery must be an integer"),
        ({"temperature": True}, "temperature must be a finite number"),
        ({"battery": 80.5}, "battery must be an integer"),
        ({"battery": True}, "battery must be an integer"),
        ({"battery": 2**53}, "battery must be an integer between"),
        ({"battery": 10**400}, "battery must be an integer between"),
        ({"battery": math.inf}, "battery must be an integer"),
        ({"temperature": math.nan}, "temperature must be a finite number"),
        ({"temperature": 10**400}, "temperature must be a finite number"),
        ({"temperature": [1]}, "temperature must be a finite number"),
        ({"charging": 1}, "charging must be true or false"),
        ({"appVersion": 2}, "appVersion must be a string"),
        ({"appVersion": "2.4\n"}, "appVersion must not contain control characters"),
        ({"appVersion": {"major": 2}}, "appVersion must be a string"),
    ],
)
def test_a_wrong_extra_field_is_refused_with_its_name_and_rule(extra: dict[str, Any],
                                                               message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate_location({**HERE, **extra}, "r", NOW, EXTRAS)


def test_unknown_fields_are_named_in_the_order_sent() -> None:
    with pytest.raises(ValidationError) as info:
        validate_location({**HERE, "battery": 1, "zeta": 2, "alpha": 3}, "r", NOW, LIMITS)
    assert info.value.message == "unknown location field(s): 'battery', 'zeta', 'alpha'"


def test_the_refusal_of_unknown_fields_is_bounded_however_many_are_sent() -> None:
    payload: dict[str, Any] = {**HERE, "battery": 1}
    payload.update((f"{i}" + "x" * 10_000, i) for i in range(10_000))
    payload["a\x1b[2Jb"] = 0
    with pytest.raises(ValidationError) as info:
        validate_location(payload, "r", NOW, EXTRAS)
    message = info.value.message
    assert message.endswith(f" and {10_001 - SHOWN_UNKNOWN_FIELDS} more")
    assert message.count("x") == SHOWN_UNKNOWN_FIELDS * (SHOWN_NAME_CHARS - 1)
    assert len(message) < 300
    with pytest.raises(ValidationError) as info:
        validate_location({**HERE, "a\x1b[2Jb": 0}, "r", NOW, EXTRAS)
    assert info.value.message == "unknown location field(s): 'a\\x1b[2Jb'"


@pytest.mark.parametrize(
    ("extra_fields", "max_chars", "message"),
    [
        ({f"f{i}": "string" for i in range(MAX_EXTRA_FIELDS + 1)}, 64, "at most 16"),
        ({"x" * 33: "string"}, 64, "names are a letter"),
        ({"1st": "string"}, 64, "names are a letter"),
        ({"app-version": "string"}, 64, "names are a letter"),
        ({"speed": "number"}, 64, "'speed' is a location field already"),
        ({"riderId": "string"}, 64, "'riderId' is a location field already"),
        ({"battery": "float"}, 64, "battery: expected one of string, number, integer, boolean"),
        ({}, 0, "max_extra_string_chars"),
        ({}, 1025, "max_extra_string_chars"),
    ],
)
def test_unusable_extra_field_settings_are_refused(extra_fields: dict[str, Any],
                                                   max_chars: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LocationLimits(1, 1, extra_fields, max_chars)


def test_sixteen_extra_fields_of_32_character_names_can_be_configured() -> None:
    names: dict[str, ExtraFieldType] = {f"f{i:02d}" + "x" * 29: "boolean"
                                        for i in range(MAX_EXTRA_FIELDS)}
    limits = LocationLimits(1, 1, names)
    assert set(validate_location({**HERE, **dict.fromkeys(names, True)}, "r", NOW,
                                 limits)["extra"]) == set(names)


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


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
NAMES = st.sampled_from([*sorted(EXTRAS.accepted), "riderId", "batery"]) | st.text(max_size=60)


@given(st.dictionaries(NAMES, SCALARS | st.lists(SCALARS, max_size=3), max_size=30))
def test_any_payload_is_accepted_or_refused_with_a_short_reason(payload: dict[str, Any]) -> None:
    refusal = ""
    try:
        update = validate_location(payload, "rider-1", NOW, EXTRAS)
    except ValidationError as exc:
        refusal = exc.message
    else:
        assert update["riderId"] == "rider-1"
        assert set(update.get("extra", {})) <= set(EXTRAS.extra_fields)
    assert len(refusal) < 400
