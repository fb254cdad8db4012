"""Rider location reports: validation and per-rider rate limiting (pure, time passed in)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import RateLimited, ValidationError
from .wiretime import iso, parse_iso

# A phone's clock may run ahead a little; a fix from further in the future is a bug.
MAX_CLOCK_AHEAD_S = 300.0
# Older fixes are history, not a live position.
MAX_AGE_S = 24 * 3600.0
KNOWN_FIELDS = frozenset({"latitude", "longitude", "accuracy", "speed", "heading", "timestamp"})


@dataclass(frozen=True, slots=True)
class LocationLimits:
    max_accuracy_m: float
    max_speed_mps: float


def validate_location(payload: Any, rider_id: str, now: float,
                      limits: LocationLimits) -> dict[str, Any]:
    """Check a ``publish_location`` payload and build the ``rider_location_update`` body.

    The rider id comes from the token, never from the payload; unknown fields are refused
    rather than passed on, so nobody can smuggle ``riderId`` or anything else to viewers.
    """
    if not isinstance(payload, dict):
        raise ValidationError("location must be an object with latitude and longitude")
    unknown = sorted(set(payload) - KNOWN_FIELDS)
    if unknown:
        raise ValidationError(f"unknown location field(s): {', '.join(unknown)}")
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
    return update


def _number(payload: dict[str, Any], name: str, low: float, high: float,
            *, required: bool = False) -> float | None:
    if name not in payload or payload[name] is None:
        if required:
            raise ValidationError(f"{name} is required")
        return None
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(f"{name} must be between {low:g} and {high:g}")
    return float(value)


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
