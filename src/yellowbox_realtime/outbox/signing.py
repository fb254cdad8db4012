"""Signing webhook deliveries, and checking such a signature. Pure (time is passed in).

The signature is HMAC-SHA256, keyed with the route's secret, over ``"<timestamp>.<body>"``
where the timestamp is Unix seconds sent in ``X-Yellowbox-Timestamp``. Signing the
timestamp with the body lets a receiver refuse old requests replayed by someone who
captured one: a verifier checks the timestamp is within a tolerance of its own clock.
``X-Yellowbox-Signature`` carries ``v1=<hex>``; the version leaves room for another scheme,
and a receiver accepts any of several comma-separated signatures, so a secret can be
rotated by signing with both for a while.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from ..errors import AuthenticationError

TIMESTAMP_HEADER = "X-Yellowbox-Timestamp"
SIGNATURE_HEADER = "X-Yellowbox-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class SignatureInvalid(AuthenticationError):
    """A request's signature is missing, malformed, wrong or too old."""

    code = "signature_invalid"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


def signed_headers(secret: str, body: bytes, idempotency_key: str, now: float) -> dict[str, str]:
    """Every header of a delivery: the content type, the idempotency key, the signature."""
    timestamp = int(now)
    return {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: idempotency_key,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}",
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> int:
    """Check a request signed by :func:`signed_headers`; returns its timestamp.

    ``headers`` is looked up by the names above in lower case (as Starlette, aiohttp and
    httpx present them) or as written. Raises :class:`SignatureInvalid` saying what is
    wrong. Replays within the tolerance are the caller's to refuse (by idempotency key).
    """
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    raw_signature = _header(headers, SIGNATURE_HEADER)
    if raw_timestamp is None or raw_signature is None:
        raise SignatureInvalid(f"unsigned request: {TIMESTAMP_HEADER} and "
                               f"{SIGNATURE_HEADER} are required")
    try:
        timestamp = int(raw_timestamp.strip())
    except ValueError:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    if abs(now - timestamp) > tolerance_s:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is more than {tolerance_s:g}s away from "
                               "the server's clock (a replay, or a clock out of sync)")
    expected = signature(secret, timestamp, body)
    presented = [part.strip().partition("=") for part in raw_signature.split(",")]
    candidates = [value for scheme, sep, value in presented if sep and scheme == SCHEME]
    if not candidates:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must be '{SCHEME}=<hex>'")
    # Every candidate is compared, so the time taken says nothing about which was close.
    ok = False
    for candidate in candidates:
        ok |= hmac.compare_digest(candidate.encode(), expected.encode())
    if not ok:
        raise SignatureInvalid("the signature does not match the body and timestamp")
    return timestamp


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name.lower())
    return value if value is not None else headers.get(name)
