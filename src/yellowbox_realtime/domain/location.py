"""Rider location reports: validation and per-rider rate limiting (pure, time passed in)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Literal

from ..errors import RateLimited, ValidationError
from .fields import CONTROL_CHARACTERS
from .wiretime import iso, parse_iso

# A phone's clock may run ahead a little; a fix from further in the future is a bug.
MAX_CLOCK_AHEAD_S = 300.0
# Older fixes are history, not a live position.
MAX_AGE_S = 24 * 3600.0
KNOWN_FIELDS = frozenset({"latitude", "longitude", "accuracy", "speed", "heading", "timestamp"})
# Apps send their own id; it is accepted when it is the token's, and never used.
RIDER_ID = "riderId"
PAYLOAD_FIELDS = KNOWN_FIELDS | {RIDER_ID}

# Extra fields the operator configures (battery, app version ...): scalars only, few, with
# short names, so that what a rider adds to every fix, and what the fleet keeps of it per
# rider, stays small.
ExtraFieldType = Literal["string", "number", "integer", "boolean"]
EXTRA_FIELD_TYPES: tuple[ExtraFieldType, ...] = ("string", "number", "integer", "boolean")
MAX_EXTRA_FIELDS = 16
MAX_EXTRA_NAME_CHARS = 32
MAX_EXTRA_STRING_CHARS = 1024
_EXTRA_NAME = re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{MAX_EXTRA_NAME_CHARS - 1}}}")
# Integers JavaScript holds exactly; bigger ones would change on the way to a dashboard.
MAX_SAFE_INTEGER = 2**53 - 1
# A refusal names the sender's unknown fields, but only this many, each cut to this length.
SHOWN_UNKNOWN_FIELDS = 5
SHOWN_NAME_CHARS = 32


def extra_fields_problem(extra_fields: Mapping[str, str]) -> str | None:
    """Why these extra field settings cannot be used, or None."""
    if len(extra_fields) > MAX_EXTRA_FIELDS:
        return f"at most {MAX_EXTRA_FIELDS} extra fields, got {len(extra_fields)}"
    for name, kind in extra_fields.items():
        if not _EXTRA_NAME.fullmatch(name):
            return (f"{name[:SHOWN_NAME_CHARS]!r}: names are a letter then up to "
                    f"{MAX_EXTRA_NAME_CHARS - 1} of A-Z a-z 0-9 _")
        if name in PAYLOAD_FIELDS:
            return f"{name!r} is a location field already"
        if kind not in EXTRA_FIELD_TYPES:
            return f"{name}: expected one of {', '.join(EXTRA_FIELD_TYPES)}, got {kind!r}"
    return None


@dataclass(frozen=True, slots=True)
class LocationLimits:
    max_accuracy_m: float
    max_speed_mps: float
    # Configured extra fields, name -> type; a fix passes them on under "extra".
    extra_fields: Mapping[str, ExtraFieldType] = field(default_factory=dict)
    max_extra_string_chars: int = 64
    # Every field a payload may have: one set test in the common case.
    accepted: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        problem = extra_fields_problem(self.extra_fields)
        if problem is not None:
            raise ValueError(problem)
        if not 1 <= self.max_extra_string_chars <= MAX_EXTRA_STRING_CHARS:
            raise ValueError(f"max_extra_string_chars must be 1 to {MAX_EXTRA_STRING_CHARS}")
        object.__setattr__(self, "accepted", PAYLOAD_FIELDS | frozenset(self.extra_fields))


def validate_location(payload: Any, rider_id: str, now: float,
                      limits: LocationLimits) -> dict[str, Any]:
    """Check a ``publish_location`` payload and build the ``rider_location_update`` body.

    The rider id comes from the token, never from the payload (one that differs is refused);
    configured extra fields are checked and passed on under ``extra``, any other field is
    refused rather than passed on, so nobody can smuggle anything to viewers.
    """
    if not isinstance(payload, dict):
        raise ValidationError("location must be an object with latitude and longitude")
    if not limits.accepted.issuperset(payload):
        raise ValidationError(_unknown_fields(payload, limits.accepted))
    claimed = payload.get(RIDER_ID)
    if claimed is not None and claimed != rider_id:
        raise ValidationError("riderId must be the rider id of the connection's token "
                              "(or left out)")
    update: dict[str, Any] = {"riderId": rider_id}
    update["latitude"] = _number(payload, "latitude", -90.0, 90.0, required=True)
    update["longitude"] = _number(payload, "longitude", -180.0, 180.0, required=True)
    for name, low, high in (("accuracy", 0.0, limits.max_accuracy_m),
                            ("speed", 0.0, limits.max_speed_mps),
                            ("heading", 0.0, 360.0)):
        value = _number(payload, name, low, high)
        if value is not None:
            update[name] = value
    if "timestamp" in payload:
        recorded = _timestamp(payload["timestamp"])
        if recorded > now + MAX_CLOCK_AHEAD_S:
            raise ValidationError("timestamp is in the future")
        if recorded < now - MAX_AGE_S:
            raise ValidationError("timestamp is more than a day old")
        update["recordedAt"] = iso(recorded)
    update["timestamp"] = iso(now)
    if limits.extra_fields:
        extra = _extra(payload, limits)
        if extra:
            update["extra"] = extra
    return update


def _unknown_fields(payload: dict[str, Any], accepted: frozenset[str]) -> str:
    # The names are the sender's: a few, cut short and escaped, never all of them.
    unknown = (name for name in payload if name not in accepted)
    shown = [_shown(name) for name in islice(unknown, SHOWN_UNKNOWN_FIELDS)]
    more = sum(1 for _ in unknown)
    return (f"unknown location field(s): {', '.join(shown)}"
            + (f" and {more} more" if more else ""))


def _shown(name: Any) -> str:
    text = str(name)
    return repr(text[:SHOWN_NAME_CHARS]) + ("..." if len(text) > SHOWN_NAME_CHARS else "")


def _extra(payload: dict[str, Any], limits: LocationLimits) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for name, kind in limits.extra_fields.items():
        value = payload.get(name)
        if value is not None:
            extra[name] = _extra_value(name, kind, value, limits.max_extra_string_chars)
    return extra


def _extra_value(name: str, kind: ExtraFieldType, value: Any, max_chars: int) -> Any:
    if kind == "string":
        if not isinstance(value, str) or len(value) > max_chars:
            raise ValidationError(f"{name} must be a string of at most {max_chars} characters")
        if CONTROL_CHARACTERS.search(value):
            raise ValidationError(f"{name} must not contain control characters")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValidationError(f"{name} must be true or false")
        return value
    numeric = not isinstance(value, bool) and isinstance(value, int | float)
    if kind == "integer":
        # 80.0 is how some encoders write 80.
        if not numeric or (isinstance(value, float) and not value.is_integer()) \
                or abs(value) > MAX_SAFE_INTEGER:
            raise ValidationError(f"{name} must be an integer between -{MAX_SAFE_INTEGER} "
                                  f"and {MAX_SAFE_INTEGER}")
        return int(value)
    number = _finite(value) if numeric else None
    if number is None:
        raise ValidationError(f"{name} must be a finite number")
    return number


def _number(payload: dict[str, Any], name: str, low: float, high: float,
            *, required: bool = False) -> float | None:
    if name not in payload or payload[name] is None:
        if required:
            raise ValidationError(f"{name} is required")
        return None
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too big for a float
        finite = False
    if not finite or not low <= value <= high:
        raise ValidationError(f"{name} must be between {low:g} and {high:g}")
    return float(value)


def _finite(value: int | float) -> float | None:
    """The value as a float, or None if it is not finite (JSON integers have no size limit;
    one too big for a float is not a number a phone measured)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _timestamp(value: Any) -> float:
    """Epoch milliseconds (what ``Date.now()`` and the Geolocation API give) or ISO 8601."""
    if isinstance(value, bool):
        raise ValidationError("timestamp must be epoch milliseconds or an ISO 8601 string")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValidationError("timestamp must be finite")
        return float(value) / 1000.0
    if isinstance(value, str):
        return parse_iso(value, "timestamp")
    raise ValidationError("timestamp must be epoch milliseconds or an ISO 8601 string")


def fix_time(update: Mapping[str, Any]) -> float:
    """When a validated update's fix was taken: the phone's ``recordedAt`` when it sent one,
    else the time the gateway received it."""
    return parse_iso(update.get("recordedAt") or update["timestamp"])


class TokenBucket:
    """``rate`` events per second with bursts of ``burst``; time is passed in."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float, what: str = "events") -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            raise RateLimited(f"too many {what}: at most {self.rate:g} per second")
        self.tokens -= 1.0
