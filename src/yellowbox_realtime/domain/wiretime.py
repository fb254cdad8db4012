"""Times on the wire: ISO 8601 UTC with milliseconds and a trailing ``Z`` (pure).

Inside the domain times are float UNIX seconds; they become strings only at the edge.
``parse_iso(iso(t))`` is ``t`` rounded to the millisecond, so a value that went out and
came back (an alert rebuilt from a cluster event) compares equal to one rounded with
:func:`to_millis`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..errors import ValidationError

__all__ = ["day_at_offset", "iso", "parse_iso", "to_millis"]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def to_millis(epoch: float) -> float:
    """``epoch`` as it will read back from the wire."""
    return parse_iso(iso(epoch))


def parse_iso(text: object, name: str = "time") -> float:
    if not isinstance(text, str):
        raise ValidationError(f"{name} must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{name} is not a valid ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise ValidationError(f"{name} needs a time zone (e.g. a trailing Z)")
    return parsed.timestamp()


def day_at_offset(epoch: float, utc_offset_h: float) -> str:
    """The calendar day (``YYYY-MM-DD``) at ``epoch`` in a fixed offset from UTC."""
    local = datetime.fromtimestamp(epoch, UTC) + timedelta(hours=utc_offset_h)
    return local.date().isoformat()
