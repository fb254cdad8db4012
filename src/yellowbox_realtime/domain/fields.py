"""Field checks shared by the back office's records (expenses, orders); pure.

Messages name the field and the rule, since they go back to whoever sent the record (the
publish API's 422, a webhook's log).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ValidationError

__all__ = ["CONTROL_CHARACTERS", "DEFAULT_CURRENCY", "MAX_AMOUNT", "MAX_ID_CHARS", "amount",
           "currency", "known_fields", "optional_text", "record_id", "status"]

MAX_ID_CHARS = 128
MAX_AMOUNT = 1e9
# The fleet works in Dubai: amounts without a currency are dirhams.
DEFAULT_CURRENCY = "AED"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CURRENCY = re.compile(r"[A-Z]{3}")


def known_fields(data: Any, what: str, required: Iterable[str],
                 optional: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValidationError(f"{what} must be an object")
    required = tuple(required)
    unknown = sorted(str(key) for key in set(data) - set(required) - set(optional))
    if unknown:
        raise ValidationError(f"unknown {what} field(s): {', '.join(unknown)}")
    missing = [name for name in required if data.get(name) is None]
    if missing:
        raise ValidationError(f"{what} needs {', '.join(missing)}")
    return data


def record_id(value: Any, name: str) -> str:
    """An id: 1 to 128 characters, none of them control characters (ids reach logs)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_CHARS:
        raise ValidationError(f"{name} must be a string of 1 to {MAX_ID_CHARS} characters")
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError(f"{name} must not contain control characters")
    return value


def status(value: Any, allowed: tuple[str, ...], name: str = "status") -> str:
    if value not in allowed:
        raise ValidationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def amount(value: Any, name: str = "amount") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number")
    if not math.isfinite(value) or not 0 <= value <= MAX_AMOUNT:
        raise ValidationError(f"{name} must be between 0 and {MAX_AMOUNT:.0f}")
    return float(value)


def currency(value: Any) -> str:
    if value is None:
        return DEFAULT_CURRENCY
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValidationError("currency must be an ISO 4217 code: three capital letters")
    return value


def optional_text(value: Any, name: str, max_chars: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars:
        raise ValidationError(f"{name} must be a string of at most {max_chars} characters")
    return value
